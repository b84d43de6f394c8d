import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { isFlannelError } from "@flannel-sdk/core";
import { missingCommand, tierGate, which } from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  checkRouteConflict,
  findRouteConflicts,
  mkDockerOpts,
  mkDockerOptsUsage,
  parseDockerOptsEnv,
  parseMkDockerOptsArgs,
  renderDockerOptsEnv,
  routeCheckSubnet,
  runMkDockerOpts,
} from "../src/index.js";
import { kernelMissing, TestNetns } from "./helpers/netns.js";
import { tempDir } from "./helpers/tools.js";

const goldenDir = fileURLToPath(new URL("golden/mk-docker-opts/", import.meta.url));
const read = (p: string) => readFileSync(join(goldenDir, p), "utf8");

interface Case {
  name: string;
  input: string;
  args: string[];
  env: Record<string, string>;
  exit: number;
  out: string | null;
  stderr: string;
}
const CASES: Case[] = JSON.parse(read("cases.json")).cases;

const inputPath = (c: Case, dir: string) =>
  c.input === "sample"
    ? join(goldenDir, "../sample_subnet.env")
    : c.input === "missing"
      ? join(dir, "no-such-subnet.env")
      : join(goldenDir, c.input);

describe("mkDockerOpts (library)", () => {
  for (const c of CASES.filter((c) => !c.stderr.includes("@usage"))) {
    it(c.name, () => {
      const path = inputPath(c, "/nonexistent");
      const parsed = parseMkDockerOptsArgs(c.args);
      if (!parsed.ok) throw new Error("unexpected usage");
      const run = () =>
        mkDockerOpts({
          subnetEnv: existsSync(path) ? readFileSync(path, "utf8") : null,
          env: c.env,
          individual: parsed.args.individual,
          combined: parsed.args.combined,
          combinedKey: parsed.args.combinedKey,
          ipMasq: parsed.args.ipMasq,
        });
      if (c.exit !== 0) {
        expect(run).toThrow(
          expect.objectContaining({ code: "IPMASQ_INVALID", message: c.stderr.trimEnd() }),
        );
        return;
      }
      const result = run();
      expect(result.content).toBe(read(c.out!));
      expect(renderDockerOptsEnv(result.opts)).toBe(result.content);
      expect(renderDockerOptsEnv(parseDockerOptsEnv(result.content))).toBe(result.content);
    });
  }

  it("refuses values it cannot write between unescaped double quotes, and bad keys", () => {
    for (const value of ['--label a="b"', "--x=$HOME", "a\\b", "`id`"]) {
      expect(() => mkDockerOpts({ subnetEnv: null, env: { DOCKER_OPT_X: value } })).toThrow(
        expect.objectContaining({ code: "RENDER_INVALID_VALUE" }),
      );
    }
    expect(() => mkDockerOpts({ subnetEnv: "FLANNEL_MTU='1450\r'\n" })).toThrow(/U\+000D/);
    for (const key of ["", "1X", "A-B", "A B", "$(id)"]) {
      expect(() => mkDockerOpts({ subnetEnv: null, combinedKey: key })).toThrow(
        expect.objectContaining({ code: "RENDER_INVALID_VALUE", field: "combinedKey" }),
      );
    }
  });

  it("only variable names decide what is listed, and the combined key may be any variable", () => {
    const r = mkDockerOpts({
      subnetEnv: "FLANNEL_MTU=1450\nX=DOCKER_OPT_y\n",
      env: { N: "n" },
      combinedKey: "FLANNEL_MTU",
      combined: true,
    });
    expect(r.content).toBe('FLANNEL_MTU="1450  --mtu=1450"\n');
  });
});

describe("parseMkDockerOptsArgs (getopts f:d:icmk:?h)", () => {
  it("parses like dash's getopts", () => {
    const ok = (argv: string[]) => {
      const r = parseMkDockerOptsArgs(argv);
      if (!r.ok) throw new Error(`usage for ${argv}`);
      return r.args;
    };
    expect(ok([])).toMatchObject({
      flannelEnv: "/run/flannel/subnet.env",
      dockerEnv: "/run/docker_opts.env",
      combinedKey: "DOCKER_OPTS",
      individual: false,
      combined: false,
      ipMasq: true,
      routeCheck: true,
    });
    expect(ok(["-icm", "-kK", "-f", "-x", "-dD"])).toMatchObject({
      individual: true,
      combined: true,
      ipMasq: false,
      combinedKey: "K",
      flannelEnv: "-x",
      dockerEnv: "D",
    });
    expect(ok(["-fA", "-fB"]).flannelEnv).toBe("B");
    expect(ok(["--", "-x"]).individual).toBe(false);
    expect(ok(["-", "-i"]).individual).toBe(false);
    expect(ok(["--no-route-check", "-i"])).toMatchObject({ routeCheck: false, individual: true });
    expect(ok(["-c", "--require-subnet-env"])).toMatchObject({
      requireSubnetEnv: true,
      combined: true,
    });
    expect(ok([]).requireSubnetEnv).toBe(false);
    expect(parseMkDockerOptsArgs(["-i", "-:"])).toEqual({
      ok: false,
      diagnostic: "Illegal option -:",
    });
    expect(parseMkDockerOptsArgs(["--route-check"])).toEqual({
      ok: false,
      diagnostic: "Illegal option --",
    });
    expect(parseMkDockerOptsArgs(["-d"])).toEqual({
      ok: false,
      diagnostic: "No arg for -d option",
    });
    expect(parseMkDockerOptsArgs(["-ih"])).toEqual({ ok: false, diagnostic: null });
    expect(parseMkDockerOptsArgs(["-i", "--help"])).toEqual({
      ok: false,
      diagnostic: null,
      help: true,
    });
  });
});

describe("route conflict check", () => {
  const table = [
    "default via 192.0.2.254 dev eth0 ",
    "10.1.74.0/24 via 192.0.2.2 dev v0 ",
    "110.1.74.0/24 via 192.0.2.3 dev v0 ",
    "10.1.75.0/24 dev flannel.1 ",
    "10.1.76.0/24 proto static ",
    "\tnexthop via 192.0.2.4 dev v0 weight 1 ",
    "blackhole 10.1.77.0/24 ",
    "",
  ].join("\n");

  it("matches the destination exactly (the script's grep also hits 110.1.74.0/24)", () => {
    expect(routeCheckSubnet("10.1.74.1/24")).toBe("10.1.74.0/24");
    expect(routeCheckSubnet("garbage")).toBeNull();
    expect(findRouteConflicts(table, "10.1.74.0/24")).toEqual([
      "10.1.74.0/24 via 192.0.2.2 dev v0 ",
    ]);
    expect(findRouteConflicts(table, "10.1.75.0/24")).toEqual([]);
    expect(findRouteConflicts(table, "10.1.76.0/24")).toEqual([
      "10.1.76.0/24 proto static ",
      "\tnexthop via 192.0.2.4 dev v0 weight 1 ",
    ]);
    expect(findRouteConflicts(table, "10.1.77.0/24")).toEqual([]);
  });
});

/** The CLI as a process: `node bin/mk-docker-opts.js`, as npm links it. */
const bin = fileURLToPath(new URL("../bin/mk-docker-opts.js", import.meta.url));
const built = existsSync(fileURLToPath(new URL("../dist/cli.mjs", import.meta.url)));
/** `ip` by absolute path: a test may give the process inside the namespace a PATH without it. */
const IP = which("ip") ?? "ip";

/**
 * Runs the CLI. Outside a namespace its PATH is `noIpPath` (an empty directory): the route check
 * then finds no `ip` and passes, as the script's does, so the process never reads this host's
 * routing table. Inside a namespace this test created it gets the real PATH, and the real `ip`
 * reads that namespace's table.
 */
function runCli(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  where: { netns: TestNetns } | { noIpPath: string },
) {
  const argv = [process.execPath, bin, ...args];
  const inNs = "netns" in where;
  const full = inNs ? [IP, "netns", "exec", where.netns.name, ...argv] : argv;
  return spawnSync(full[0]!, full.slice(1), {
    cwd,
    encoding: "utf8",
    env: { PATH: inNs ? (process.env.PATH ?? "/usr/bin:/bin") : where.noIpPath, ...env },
  });
}

/** The one line the CLI adds to the script's stderr when the `-f` file is missing. */
function missingWarning(file: string, env: Record<string, string>): string {
  return env.FLANNEL_SUBNET
    ? `${bin}: warning: ${file}: not found: the docker options come from FLANNEL_* in the environment\n`
    : `${bin}: warning: ${file}: not found: no FLANNEL_SUBNET, so no --bip: docker would start on its own bridge, outside the flannel network (--require-subnet-env makes this an error)\n`;
}

/**
 * Each golden case as a process: same output bytes, stderr and exit status as the script; a
 * missing `-f` file adds one warning line to stderr (docs/decisions.md).
 */
function checkCase(c: Case, i: number, dir: string, where: Parameters<typeof runCli>[3]): void {
  const out = join(dir, `out-${i}`);
  writeFileSync(out, "previous\n");
  const input = inputPath(c, dir);
  const r = runCli(["-f", input, "-d", out, ...c.args], c.env, dir, where);
  expect(r.status).toBe(c.exit);
  expect(r.stdout).toBe("");
  const warning =
    c.input === "missing" && parseMkDockerOptsArgs(c.args).ok ? missingWarning(input, c.env) : "";
  expect(r.stderr).toBe(warning + c.stderr.replace("@usage", mkDockerOptsUsage(bin)));
  expect(readFileSync(out, "utf8")).toBe(c.out === null ? "previous\n" : read(c.out));
}

describe("mk-docker-opts CLI (process)", () => {
  let dir: ReturnType<typeof tempDir>;
  let noIp: { noIpPath: string };
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runCli(args, env, dir.path, noIp);
  beforeAll(() => {
    if (!built)
      throw new Error("dist/cli.mjs is missing: run `npm run build` (turbo runs it before test)");
    dir = tempDir("render-cli-");
    noIp = { noIpPath: join(dir.path, "empty-bin") };
    mkdirSync(noIp.noIpPath);
  });
  afterAll(() => dir?.cleanup());

  CASES.forEach((c, i) => {
    it(`${c.name}: same bytes and exit status as mk-docker-opts.sh`, () => {
      checkCase(c, i, dir.path, noIp);
    });
  });

  it("--help prints the usage, every option in it, to stdout and exits 0", () => {
    const r = cli(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(mkDockerOptsUsage(bin, { additions: true }));
    for (const flag of [
      "-f",
      "-d",
      "-i",
      "-c",
      "-k",
      "-m",
      "--no-route-check",
      "--require-subnet-env",
      "--help",
    ]) {
      expect(r.stdout).toContain(`\t${flag}\t`);
    }
  });

  it("reads a relative -f path from the working directory (the script would search $PATH)", () => {
    writeFileSync(join(dir.path, "subnet.env"), read("../sample_subnet.env"));
    const r = cli(["-f", "subnet.env", "-d", "rel.out"]);
    expect(r.status).toBe(0);
    expect(readFileSync(join(dir.path, "rel.out"), "utf8")).toBe(read("default.out"));
  });

  it("writes atomically: creates the parent directory, keeps an existing file's mode", () => {
    const out = join(dir.path, "run", "flannel", "docker");
    const r = cli([
      "-f",
      join(goldenDir, "../guide/subnet.env"),
      "-k",
      "DOCKER_NETWORK_OPTIONS",
      "-d",
      out,
    ]);
    expect(r.status).toBe(0);
    expect(readFileSync(out, "utf8")).toBe(read("../guide/flannel-docker"));
    expect(statSync(out).mode & 0o777).toBe(0o644);
  });

  it("fails (exit 1) when the output cannot be written, e.g. the guide's /run/flannel/docker directory", () => {
    const out = join(dir.path, "docker-dir");
    mkdirSync(join(out, "sub"), { recursive: true });
    const r = cli(["-d", out, "-f", join(goldenDir, "../sample_subnet.env")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot write/);
  });

  it("exits 2 on an env file it cannot evaluate, before writing", () => {
    writeFileSync(join(dir.path, "bad.env"), "FLANNEL_SUBNET=$(hostname)\n");
    const out = join(dir.path, "bad.out");
    const r = cli(["-f", "bad.env", "-d", out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`${bin}: bad.env: line 1: unsupported command substitution \`$(…)\`\n`);
    expect(existsSync(out)).toBe(false);
  });

  it("exits 2 with one line (no stack trace) on a file whose expansions explode, before writing", () => {
    // 242 bytes: A=x, then 30 lines of A=$A$A would double A to 2^30 characters (~540 MB and a
    // RangeError with a stack trace before the bound).
    const text = `A=x\n${"A=$A$A\n".repeat(30)}FLANNEL_SUBNET=10.1.74.1/24\n`;
    expect(text.length).toBe(242);
    writeFileSync(join(dir.path, "bomb.env"), text);
    const out = join(dir.path, "bomb.out");
    const r = cli(["-f", "bomb.env", "-d", out]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(
      `${bin}: bomb.env: line 21: the file's expansions exceed 1048576 characters (MAX_SHELL_ENV_EXPANSION); no env file needs that much\n`,
    );
    expect(existsSync(out)).toBe(false);
  });

  it("--require-subnet-env: a missing subnet.env is exit 1, one line, nothing written", () => {
    const out = join(dir.path, "required.out");
    writeFileSync(out, "previous\n");
    for (const env of [{}, { FLANNEL_SUBNET: "10.1.74.1/24" }] as Record<string, string>[]) {
      const r = cli(["--require-subnet-env", "-f", "gone.env", "-k", "K", "-d", out], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `${bin}: gone.env: not found: refusing to write docker options without flannel's subnet (--require-subnet-env)\n`,
      );
      expect(readFileSync(out, "utf8")).toBe("previous\n");
    }
    mkdirSync(join(dir.path, "a-dir.env"));
    const r = cli(["-f", "a-dir.env", "-d", out, "--require-subnet-env"]);
    expect([r.status, r.stderr]).toEqual([
      1,
      `${bin}: a-dir.env: not a regular file: refusing to write docker options without flannel's subnet (--require-subnet-env)\n`,
    ]);
    // With the file there the flag changes nothing.
    const ok = cli([
      "--require-subnet-env",
      "-f",
      join(goldenDir, "../sample_subnet.env"),
      "-d",
      out,
    ]);
    expect([ok.status, ok.stderr]).toEqual([0, ""]);
    expect(readFileSync(out, "utf8")).toBe(read("default.out"));
  });

  it("runMkDockerOpts runs in-process with an injected environment", async () => {
    let printed = "";
    const code = await runMkDockerOpts({
      argv: ["-c", "-d", "inproc.out", "-f", "none"],
      env: { FLANNEL_SUBNET: "10.9.0.1/24", PATH: "/nonexistent" },
      cwd: dir.path,
      stderr: (t) => {
        printed += t;
      },
    });
    expect([code, printed]).toEqual([
      0,
      "mk-docker-opts: warning: none: not found: the docker options come from FLANNEL_* in the environment\n",
    ]);
    expect(readFileSync(join(dir.path, "inproc.out"), "utf8")).toBe(
      'DOCKER_OPTS=" --bip=10.9.0.1/24"\n',
    );
  });

  it("route check on an injected table: exit 1 after writing, the script's message", async () => {
    const table = "10.1.74.0/24 via 192.0.2.2 dev v0 \n110.1.75.0/24 via 192.0.2.3 dev v0 \n";
    const run = async (argv: string[], subnet: string) => {
      let printed = "";
      const asked: (AbortSignal | undefined)[] = [];
      const code = await runMkDockerOpts({
        argv: [...argv, "-c", "-f", "none", "-d", "route.out"],
        env: { FLANNEL_SUBNET: subnet },
        cwd: dir.path,
        stderr: (t) => {
          printed += t;
        },
        readRoutes: async (signal) => {
          asked.push(signal);
          return table;
        },
      });
      // FLANNEL_SUBNET comes from the environment (`-f none`): drop that one warning line.
      const warning =
        "mk-docker-opts: warning: none: not found: the docker options come from FLANNEL_* in the environment\n";
      return {
        code,
        printed: printed.replace(subnet ? warning : /^.*\n/, ""),
        asked: asked.length,
      };
    };
    expect(await run([], "10.1.74.1/24")).toEqual({
      code: 1,
      printed:
        "Your routing table already contains the subnet: 10.1.74.0/24 via 192.0.2.2 dev v0 \n",
      asked: 1,
    });
    expect(readFileSync(join(dir.path, "route.out"), "utf8")).toBe(
      'DOCKER_OPTS=" --bip=10.1.74.1/24"\n',
    );
    expect(await run([], "10.1.75.1/24")).toEqual({ code: 0, printed: "", asked: 1 });
    expect(await run(["--no-route-check"], "10.1.74.1/24")).toEqual({
      code: 0,
      printed: "",
      asked: 0,
    });
    expect(await run([], "")).toEqual({ code: 0, printed: "", asked: 0 });
  });

  it("checkRouteConflict: an unreadable table (no `ip`) passes", async () => {
    expect(await checkRouteConflict("10.1.74.1/24", { readRoutes: async () => null })).toEqual([]);
    expect(await checkRouteConflict("10.1.74.1/24", { env: { PATH: noIp.noIpPath } })).toEqual([]);
    expect(await checkRouteConflict("not-a-cidr", { readRoutes: async () => "x" })).toEqual([]);
  });
});

describe.runIf(tierGate("kernel", kernelMissing()))("mk-docker-opts route check (kernel)", () => {
  let ns: TestNetns | undefined;
  let dir: ReturnType<typeof tempDir>;
  beforeAll(() => {
    dir = tempDir("render-cli-");
    ns = new TestNetns();
    // 192.0.2.0/24 and 10.1.74.0/24 exist only inside this test's own namespace.
    ns.run(["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
    ns.run(["ip", "link", "set", "v0", "up"]);
    ns.run(["ip", "link", "set", "v1", "up"]);
    ns.run(["ip", "addr", "add", "192.0.2.1/24", "dev", "v0"]);
  });
  afterAll(() => {
    ns?.close();
    dir?.cleanup();
  });

  const sample = () => join(goldenDir, "../sample_subnet.env");

  const inNs = () => ({ netns: ns! });

  it("golden cases with the real `ip` reading this namespace's table: same bytes and status", () => {
    // One case per source of FLANNEL_SUBNET (the flanneld file, the guide's, a hand-written
    // one, the environment): the route check runs in each, finds no conflict, changes nothing.
    const names = new Set([
      "no flags: individual and combined",
      "guide ExecStartPost: -k DOCKER_NETWORK_OPTIONS, IPMASQ=true",
      "hand-written subnet file read as sh would",
      "missing -f file: FLANNEL_* from env",
    ]);
    const picked = CASES.flatMap((c, i) => (names.has(c.name) ? [[c, i] as const] : []));
    expect(picked).toHaveLength(names.size);
    for (const [c, i] of picked) checkCase(c, i, dir.path, inNs());
  });

  it("exit 1 with the script's message after writing the file, when a via route exists", () => {
    ns!.run(["ip", "route", "add", "10.1.74.0/24", "via", "192.0.2.2", "dev", "v0"]);
    try {
      const out = join(dir.path, "conflict.out");
      const r = runCli(["-f", sample(), "-d", out], {}, dir.path, inNs());
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        "Your routing table already contains the subnet: 10.1.74.0/24 via 192.0.2.2 dev v0 \n",
      );
      expect(readFileSync(out, "utf8")).toBe(read("default.out"));
      const off = runCli(["--no-route-check", "-f", sample(), "-d", out], {}, dir.path, inNs());
      expect([off.status, off.stderr]).toEqual([0, ""]);
      // Without `ip` on PATH the check passes, as the script's does (the pure tier relies on it).
      const noIp = runCli(["-f", sample(), "-d", out], { PATH: "/nonexistent" }, dir.path, inNs());
      expect([noIp.status, noIp.stderr]).toEqual([0, ""]);
    } finally {
      ns!.run(["ip", "route", "del", "10.1.74.0/24"]);
    }
  });

  it("no false positive for another subnet that contains the text", () => {
    ns!.run(["ip", "route", "add", "110.1.74.0/24", "via", "192.0.2.3", "dev", "v0"]);
    try {
      const r = runCli(["-f", sample(), "-d", join(dir.path, "fp.out")], {}, dir.path, inNs());
      expect([r.status, r.stderr]).toEqual([0, ""]);
    } finally {
      ns!.run(["ip", "route", "del", "110.1.74.0/24"]);
    }
  });

  it("a direct route (no gateway) is no conflict", () => {
    ns!.run(["ip", "route", "add", "10.1.74.0/24", "dev", "v0"]);
    try {
      const r = runCli(["-f", sample(), "-d", join(dir.path, "direct.out")], {}, dir.path, inNs());
      expect([r.status, r.stderr]).toEqual([0, ""]);
    } finally {
      ns!.run(["ip", "route", "del", "10.1.74.0/24"]);
    }
  });
});

describe("docker options files", () => {
  it("parse/render the guide's /run/flannel/docker", () => {
    const text = readFileSync(join(goldenDir, "../guide/flannel-docker"), "utf8");
    const opts = parseDockerOptsEnv(text);
    expect(opts.combined).toEqual({
      key: "DOCKER_NETWORK_OPTIONS",
      value: " --bip=172.30.8.1/24 --ip-masq=false --mtu=1450",
    });
    expect(opts.individual.map(([n]) => n)).toEqual([
      "DOCKER_OPT_BIP",
      "DOCKER_OPT_IPMASQ",
      "DOCKER_OPT_MTU",
    ]);
    expect(renderDockerOptsEnv(opts)).toBe(text);
  });

  it("refuses names and values the format cannot hold", () => {
    expect(() => renderDockerOptsEnv({ individual: [["BAD NAME", "x"]], combined: null })).toThrow(
      expect.objectContaining({ code: "RENDER_INVALID_VALUE" }),
    );
    let caught: unknown;
    try {
      renderDockerOptsEnv({ individual: [], combined: { key: "K", value: 'a"\nEVIL=1' } });
    } catch (e) {
      caught = e;
    }
    expect(isFlannelError(caught, "RENDER_INVALID_VALUE")).toBe(true);
  });
});

/** flannel's own scripts, beside the checkout in CI (`../shared/flannel`, see .ci/run). */
const sharedFlannel = fileURLToPath(new URL("../../../../shared/flannel/", import.meta.url));
const SCRIPTS = ["v0.11.0", "v0.20.2"].map((tag) =>
  join(sharedFlannel, `mk-docker-opts-${tag}.sh`),
);
const scriptsMissing = (): string | null =>
  missingCommand("dash", "dash") ??
  (SCRIPTS.every((s) => existsSync(s))
    ? null
    : `flannel's mk-docker-opts.sh not found in ${sharedFlannel} (unpack /work/shared/flannel beside the checkout)`);

describe.runIf(tierGate("interop", scriptsMissing()))(
  "a missing subnet.env: the CLI against flannel's own mk-docker-opts.sh (dash)",
  () => {
    let dir: ReturnType<typeof tempDir>;
    /** The script's tools (grep, awk, cut) but no `ip`: the route check never reads this host. */
    let tools: string;
    beforeAll(() => {
      dir = tempDir("render-script-");
      tools = join(dir.path, "tools");
      mkdirSync(tools);
      for (const t of ["grep", "awk", "cut"]) symlinkSync(which(t)!, join(tools, t));
    });
    afterAll(() => dir?.cleanup());

    const ENVS: Record<string, string>[] = [
      {},
      { FLANNEL_SUBNET: "10.1.74.1/24", FLANNEL_MTU: "1450" },
      { DOCKER_OPT_DNS: "--dns=8.8.8.8" },
    ];
    const ARGS: string[][] = [[], ["-c"], ["-i"], ["-k", "DOCKER_NETWORK_OPTIONS"], ["-m", "-c"]];

    for (const script of SCRIPTS) {
      it(`same output bytes and exit status as ${script.split("/").pop()}, plus one stderr line`, () => {
        let n = 0;
        for (const env of ENVS) {
          for (const args of ARGS) {
            const missing = join(dir.path, "no-such", "subnet.env");
            const outScript = join(dir.path, `script-${++n}`);
            const outCli = join(dir.path, `cli-${n}`);
            const s = spawnSync(which("dash")!, [script, "-f", missing, "-d", outScript, ...args], {
              cwd: dir.path,
              encoding: "utf8",
              env: { PATH: tools, ...env },
            });
            const c = runCli(["-f", missing, "-d", outCli, ...args], env, dir.path, {
              noIpPath: tools,
            });
            const what = `${JSON.stringify(env)} ${args.join(" ")}`;
            expect(c.status, what).toBe(s.status);
            expect(readFileSync(outCli, "utf8"), what).toBe(readFileSync(outScript, "utf8"));
            // The script says nothing about the missing file (v0.20.2's route check may print
            // `ip: not found`); the CLI says exactly one line.
            expect(s.stderr.replace(/^.*ip: not found\n/m, ""), what).toBe("");
            expect(c.stderr, what).toBe(missingWarning(missing, env));
          }
        }
      });
    }
  },
);
