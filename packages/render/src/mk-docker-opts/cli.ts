import { readFile, stat } from "node:fs/promises";
import { resolve } from "node:path";
import { errorLine, isFlannelError, throwIfAborted } from "@flannel-sdk/core";
import { DEFAULT_DOCKER_OPTS_FILE } from "../env/docker-opts.js";
import { DEFAULT_SUBNET_FILE } from "../env/subnet-env.js";
import { writeFileAtomic } from "../fs/atomic.js";
import { mkDockerOpts } from "./mk-docker-opts.js";
import { type CheckRouteConflictOptions, checkRouteConflict } from "./route-check.js";

/** The flags of a mk-docker-opts command line, parsed. */
export interface MkDockerOptsArgs {
  /** `-f`: default `/run/flannel/subnet.env`. */
  readonly flannelEnv: string;
  /** `-d`: default `/run/docker_opts.env`. */
  readonly dockerEnv: string;
  /** `-i` */
  readonly individual: boolean;
  /** `-c` */
  readonly combined: boolean;
  /** `-k`: default `DOCKER_OPTS`. */
  readonly combinedKey: string;
  /** `false` with `-m`. */
  readonly ipMasq: boolean;
  /** `false` with `--no-route-check` (one of this CLI's two additions to the script's flags). */
  readonly routeCheck: boolean;
  /**
   * `true` with `--require-subnet-env`: a missing `-f` file is an error (exit 1, nothing
   * written) instead of the script's warning-free `DOCKER_OPTS=""`.
   */
  readonly requireSubnetEnv: boolean;
}

/** {@link parseMkDockerOptsArgs}' answer: the flags, or the usage text to print. */
export type ParsedMkDockerOptsArgs =
  | { readonly ok: true; readonly args: MkDockerOptsArgs }
  | {
      readonly ok: false;
      /** getopts' complaint (`Illegal option -x`, `No arg for -f option`), or null for `-h`/`-?`/`--help`. */
      readonly diagnostic: string | null;
      /** `--help`: the usage goes to stdout with exit status 0 (the script has no `--help`). */
      readonly help?: true;
    };

const WITH_ARG = new Set(["f", "d", "k"]);
const FLAGS = new Set(["i", "c", "m", "?", "h"]);

/**
 * Parses a mk-docker-opts command line exactly as the script's `getopts "f:d:icmk:?h"` does under
 * dash: clustered flags (`-ic`), attached or separate arguments (`-kKEY`, `-k KEY`), the last of a
 * repeated option wins, options stop at `--` or at the first non-option word (later words are
 * ignored), and an unknown flag, a missing argument, `-h` or `-?` ask for the usage text. Two
 * additions, anywhere among the options: `--no-route-check` turns off the v0.18+ route check, and
 * `--require-subnet-env` makes a missing `-f` file an error, and `--help` asks for the usage as a
 * request (`help: true`); the script rejects every `--word`, so no command line the script
 * accepts changes meaning.
 *
 * @example
 * ```ts
 * parseMkDockerOptsArgs(["-k", "DOCKER_NETWORK_OPTIONS", "-d", "/run/flannel/docker"]);
 * ```
 */
export function parseMkDockerOptsArgs(argv: readonly string[]): ParsedMkDockerOptsArgs {
  const args = {
    flannelEnv: DEFAULT_SUBNET_FILE,
    dockerEnv: DEFAULT_DOCKER_OPTS_FILE,
    individual: false,
    combined: false,
    combinedKey: "DOCKER_OPTS",
    ipMasq: true,
    routeCheck: true,
    requireSubnetEnv: false,
  };
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (arg === "--help") return { ok: false, diagnostic: null, help: true };
    if (arg === "--no-route-check" || arg === "--require-subnet-env") {
      if (arg === "--no-route-check") args.routeCheck = false;
      else args.requireSubnetEnv = true;
      i++;
      continue;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    for (let j = 1; j < arg.length; j++) {
      const c = arg[j]!;
      if (WITH_ARG.has(c)) {
        let value: string | undefined = arg.slice(j + 1);
        if (value === "") {
          i++;
          value = argv[i];
        }
        if (value === undefined) return { ok: false, diagnostic: `No arg for -${c} option` };
        if (c === "f") args.flannelEnv = value;
        else if (c === "d") args.dockerEnv = value;
        else args.combinedKey = value;
        break;
      }
      if (!FLAGS.has(c)) return { ok: false, diagnostic: `Illegal option -${c}` };
      if (c === "?" || c === "h") return { ok: false, diagnostic: null };
      if (c === "i") args.individual = true;
      else if (c === "c") args.combined = true;
      else args.ipMasq = false;
    }
    i++;
  }
  return { ok: true, args };
}

/** Options of {@link mkDockerOptsUsage}. */
export interface MkDockerOptsUsageOptions {
  /**
   * Add this CLI's own options (`--no-route-check`, `--require-subnet-env`, `--help`), as
   * `--help` prints them. Default false: the script's text byte for byte, as a usage error prints
   * it (a drop-in's stderr is the script's).
   */
  readonly additions?: boolean;
}

/**
 * The script's usage text (it ends with a blank line), `argv0` standing for the script's `$0`;
 * with `additions`, plus the options only this CLI has.
 *
 * @example
 * ```ts
 * process.stderr.write(mkDockerOptsUsage("/usr/libexec/flannel/mk-docker-opts.sh"));
 * process.stdout.write(mkDockerOptsUsage("mk-docker-opts", { additions: true })); // --help
 * ```
 */
export function mkDockerOptsUsage(argv0: string, options: MkDockerOptsUsageOptions = {}): string {
  const more = options.additions === true;
  return (
    `${argv0} [-f FLANNEL-ENV-FILE] [-d DOCKER-ENV-FILE] [-i] [-c] [-m] [-k COMBINED-KEY]` +
    (more ? " [--no-route-check] [--require-subnet-env] [--help]\n" : "\n") +
    "\n" +
    "Generate Docker daemon options based on flannel env file\n" +
    "OPTIONS:\n" +
    "\t-f\tPath to flannel env file. Defaults to /run/flannel/subnet.env\n" +
    "\t-d\tPath to Docker env file to write to. Defaults to /run/docker_opts.env\n" +
    "\t-i\tOutput each Docker option as individual var. e.g. DOCKER_OPT_MTU=1500\n" +
    "\t-c\tOutput combined Docker options into DOCKER_OPTS var\n" +
    "\t-k\tSet the combined options key to this value (default DOCKER_OPTS=)\n" +
    "\t-m\tDo not output --ip-masq (useful for older Docker version)\n" +
    (more
      ? "\t--no-route-check\tDo not fail when the routing table already has a route to FLANNEL_SUBNET\n" +
        "\t--require-subnet-env\tExit 1, writing nothing, when the flannel env file is missing (the script writes empty options)\n" +
        "\t--help\tPrint this text to stdout and exit 0 (-h and -? print the script's text to stderr and exit 1, as the script)\n"
      : "") +
    "\n"
  );
}

/** Options of {@link runMkDockerOpts}: the process it runs as. */
export interface RunMkDockerOptsOptions {
  /** The arguments after the program name. */
  argv: readonly string[];
  /** The program name for the usage text (the script's `$0`). Default `mk-docker-opts`. */
  argv0?: string;
  /** The environment (`FLANNEL_*`, `DOCKER_OPT_*`, the combined key, `PATH` for `ip`). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Directory relative `-f` / `-d` paths are resolved against. Default `process.cwd()`. */
  cwd?: string;
  /** Receives everything the command prints (it prints only to stderr, like the script), but `--help`. */
  stderr?: (text: string) => void;
  /** Receives the usage asked for with `--help`. Default `process.stdout`. */
  stdout?: (text: string) => void;
  /** The route check's table source (see {@link CheckRouteConflictOptions}); default `ip route show`. */
  readRoutes?: CheckRouteConflictOptions["readRoutes"];
  signal?: AbortSignal;
}

/**
 * mk-docker-opts as a command: the drop-in replacement of flannel's `mk-docker-opts.sh`, usable as
 * flanneld's `ExecStartPost=`. Returns the exit status: 0 (also for `--help`, whose usage goes to
 * stdout); 1 for the usage text on stderr (`-h`, `-?`, a bad option: as the script), an invalid
 * `FLANNEL_IPMASQ` (`Invalid value of FLANNEL_IPMASQ: …`, before the output file is touched), a
 * value or key the output cannot hold, a failed write, or a route conflict (reported after the
 * file is written, as in the script); 2 when the `-f` file exists but cannot be read or uses
 * shell beyond the env-file subset (where dash's `.` fails with 2), or expands beyond
 * `MAX_SHELL_ENV_EXPANSION`. Every message is one line. Differences from the script
 * are listed in docs/decisions.md: `-f` is a path (never looked up in `$PATH`), the output is
 * written atomically (parent directory created), a write error fails, and the route check matches
 * the destination exactly. A missing `-f` file gives the script's bytes and status plus one
 * warning line on stderr, or with `--require-subnet-env` exit 1 without writing.
 *
 * @throws FlannelError `ABORTED` (every other failure is an exit status and a message)
 * @example
 * ```ts
 * process.exitCode = await runMkDockerOpts({ argv: process.argv.slice(2), env: process.env });
 * ```
 */
export async function runMkDockerOpts(options: RunMkDockerOptsOptions): Promise<number> {
  throwIfAborted(options.signal);
  const argv0 = options.argv0 ?? "mk-docker-opts";
  const env = options.env ?? {};
  const cwd = options.cwd ?? process.cwd();
  const print = options.stderr ?? ((text: string) => void process.stderr.write(text));
  const parsed = parseMkDockerOptsArgs(options.argv);
  if (!parsed.ok && parsed.help === true) {
    (options.stdout ?? ((text: string) => void process.stdout.write(text)))(
      mkDockerOptsUsage(argv0, { additions: true }),
    );
    return 0;
  }
  if (!parsed.ok) {
    print((parsed.diagnostic === null ? "" : `${parsed.diagnostic}\n`) + mkDockerOptsUsage(argv0));
    return 1;
  }
  const { args } = parsed;
  const flannelEnv = resolve(cwd, args.flannelEnv);

  let subnetEnv: string | null = null;
  const found = await stat(flannelEnv).then(
    (s) => (s.isFile() ? "file" : "not a regular file"),
    () => "not found",
  );
  if (found !== "file") {
    // The script goes on without the file (`[ -f ]`), and so does this CLI unless told not to:
    // same bytes, same status, but never silently.
    if (args.requireSubnetEnv) {
      print(
        `${argv0}: ${args.flannelEnv}: ${found}: refusing to write docker options without flannel's subnet (--require-subnet-env)\n`,
      );
      return 1;
    }
    print(
      `${argv0}: warning: ${args.flannelEnv}: ${found}: ` +
        (env.FLANNEL_SUBNET
          ? "the docker options come from FLANNEL_* in the environment\n"
          : "no FLANNEL_SUBNET, so no --bip: docker would start on its own bridge, outside the flannel network (--require-subnet-env makes this an error)\n"),
    );
  } else {
    try {
      subnetEnv = await readFile(flannelEnv, {
        encoding: "utf8",
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } catch (e) {
      print(`${argv0}: cannot open ${args.flannelEnv}: ${(e as Error).message}\n`);
      return 2;
    }
  }

  let result: ReturnType<typeof mkDockerOpts>;
  try {
    result = mkDockerOpts({
      subnetEnv,
      env,
      individual: args.individual,
      combined: args.combined,
      combinedKey: args.combinedKey,
      ipMasq: args.ipMasq,
    });
  } catch (e) {
    if (isFlannelError(e, "IPMASQ_INVALID")) {
      print(`${e.message}\n`);
      return 1;
    }
    if (isFlannelError(e, "ENV_SYNTAX") || isFlannelError(e, "ENV_TOO_LARGE")) {
      print(`${argv0}: ${args.flannelEnv}: ${errorLine(e, { code: false })}\n`);
      return 2;
    }
    print(`${argv0}: ${errorLine(e, { code: false })}\n`);
    return 1;
  }

  try {
    await writeFileAtomic(resolve(cwd, args.dockerEnv), result.content, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  } catch (e) {
    if (isFlannelError(e, "ABORTED")) throw e;
    print(`${argv0}: ${errorLine(e, { code: false })}\n`);
    return 1;
  }

  const subnet = result.variables.FLANNEL_SUBNET ?? "";
  if (args.routeCheck && subnet !== "") {
    const conflicts = await checkRouteConflict(subnet, {
      env,
      ...(options.readRoutes === undefined ? {} : { readRoutes: options.readRoutes }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    if (conflicts.length > 0) {
      print(`Your routing table already contains the subnet: ${conflicts.join("\n")}\n`);
      return 1;
    }
  }
  return 0;
}
