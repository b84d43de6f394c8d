import { realpath } from "node:fs/promises";
import { isAbsolute, join, posix, relative, resolve } from "node:path";
import { throwIfAborted } from "@flannel-sdk/core";
import { invalidArgument } from "../errors.js";
import { makeDirectory, writeFileAtomic } from "../fs/atomic.js";
import {
  DOCKER_DROP_IN_PATH,
  type DockerDropInOptions,
  type DockerUnitOptions,
  renderDockerDropIn,
  renderDockerUnit,
} from "../systemd/docker.js";
import { unitPath } from "../systemd/escape.js";
import {
  type FlanneldSysconfigOptions,
  type FlanneldUnitOptions,
  renderFlanneldSysconfig,
  renderFlanneldUnit,
  UNIT_DEFAULTS,
} from "../systemd/flanneld.js";

/** A directory to create. */
export interface PlannedDirectory {
  /** Absolute path on the node. */
  readonly path: string;
  readonly mode: number;
}

/** A file to write. */
export interface PlannedFile {
  /** Absolute path on the node. */
  readonly path: string;
  readonly mode: number;
  readonly content: string;
}

/** What a node install creates: directories (parents first), then files. Plain data. */
export interface InstallPlan {
  readonly directories: readonly PlannedDirectory[];
  readonly files: readonly PlannedFile[];
}

/** How {@link installPlan} treats docker. */
export type DockerInstallMode =
  | ({ readonly mode: "unit"; readonly path?: string } & DockerUnitOptions)
  | ({ readonly mode: "drop-in"; readonly path?: string } & DockerDropInOptions)
  | { readonly mode: "none" };

/**
 * Options of {@link installPlan}. The paths follow the install guide (flannel's RHEL package
 * layout); the unit and sysconfig take their own defaults (flanneld's: `/usr/bin/flanneld`,
 * `/coreos.com/network` on loopback, no TLS files) unless given core's `INSTALL_GUIDE`:
 * `installPlan({ flanneld: INSTALL_GUIDE, sysconfig: INSTALL_GUIDE })` is the guide's node.
 */
export interface InstallPlanOptions {
  /** Where `flanneld.service` goes. Default `/usr/lib/systemd/system/flanneld.service`. */
  unitPath?: string;
  /** The unit's options (its `sysconfigPath` is also where the sysconfig file is written). */
  flanneld?: FlanneldUnitOptions;
  /** The sysconfig file's options. */
  sysconfig?: FlanneldSysconfigOptions;
  /**
   * docker: the guide's full `docker.service` (`"unit"`, default, at
   * `/usr/lib/systemd/system/docker.service`), a drop-in for an existing docker.service
   * (`"drop-in"`), or nothing.
   */
  docker?: DockerInstallMode;
  /**
   * The `mk-docker-opts` command of this package (where `npm install -g @flannel-sdk/render`
   * links it). A two-line shell wrapper exec'ing it is installed at the unit's mk-docker-opts path
   * (the guide's `/usr/libexec/flannel/mk-docker-opts.sh`), so the guide's `ExecStartPost=` runs
   * it in place of flannel's script. `null` installs nothing there (copy flannel's script
   * yourself). Default `/usr/local/bin/mk-docker-opts`.
   */
  mkDockerOptsCommand?: string | null;
}

function parentsOf(path: string): string[] {
  const out: string[] = [];
  for (let d = posix.dirname(path); d !== "/"; d = posix.dirname(d)) out.unshift(d);
  return out;
}

/**
 * The directories and files the install guide creates on a node, as data (path, mode, content):
 * `flanneld.service`, `/etc/sysconfig/flanneld`, the docker unit (or a drop-in), and a wrapper at
 * `/usr/libexec/flannel/mk-docker-opts.sh` that runs this package's `mk-docker-opts`. The guide's
 * `mkdir -p /etc/sysconfig/flanneld` and `mkdir -p /run/flannel/docker` are not reproduced: those
 * paths are files (the sysconfig file; mk-docker-opts' output), and a directory there breaks
 * both. `/run/flannel` is not planned either: it lives on tmpfs and flanneld creates it at each
 * boot. Print it, diff it, or hand it to {@link writeInstallPlan}.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE` (from the renderers), `INVALID_ARGUMENT`
 * @example
 * ```ts
 * const plan = installPlan({ sysconfig: { etcdEndpoints: ["https://10.0.0.1:2379"], iface: "eth1" } });
 * for (const f of plan.files) console.log(f.path, f.mode.toString(8));
 * ```
 */
export function installPlan(options: InstallPlanOptions = {}): InstallPlan {
  const files: PlannedFile[] = [];
  const flanneld = options.flanneld ?? {};
  const file = (path: string, mode: number, content: string) => {
    unitPath(path, "path");
    if (files.some((f) => f.path === path))
      throw invalidArgument(`${path} is planned twice`, "path");
    files.push({ path, mode, content });
  };
  file(options.unitPath ?? UNIT_DEFAULTS.flanneldUnitPath, 0o644, renderFlanneldUnit(flanneld));
  file(
    flanneld.sysconfigPath ?? UNIT_DEFAULTS.sysconfigPath,
    0o644,
    renderFlanneldSysconfig(options.sysconfig),
  );

  const docker = options.docker ?? { mode: "unit" };
  if (docker.mode === "unit") {
    file(docker.path ?? UNIT_DEFAULTS.dockerUnitPath, 0o644, renderDockerUnit(docker));
  } else if (docker.mode === "drop-in") {
    const mk = flanneld.mkDockerOpts ?? {};
    file(
      docker.path ?? DOCKER_DROP_IN_PATH,
      0o644,
      renderDockerDropIn({
        ...(mk.output === undefined ? {} : { optionsFile: mk.output }),
        ...(mk.combinedKey === undefined ? {} : { optionsKey: mk.combinedKey }),
        ...docker,
      }),
    );
  }

  const command =
    options.mkDockerOptsCommand === undefined
      ? "/usr/local/bin/mk-docker-opts"
      : options.mkDockerOptsCommand;
  const mkPath =
    flanneld.mkDockerOpts === null
      ? null
      : (flanneld.mkDockerOpts?.path ?? UNIT_DEFAULTS.mkDockerOptsPath);
  if (command !== null && mkPath !== null && mkPath !== command) {
    unitPath(command, "mkDockerOptsCommand");
    file(
      mkPath,
      0o755,
      `#!/bin/sh\n# flannel's mk-docker-opts.sh, replaced by @flannel-sdk/render's mk-docker-opts (same flags, same output).\nexec ${command} "$@"\n`,
    );
  }

  const dirs = new Map<string, PlannedDirectory>();
  for (const f of files) {
    for (const d of parentsOf(f.path)) if (!dirs.has(d)) dirs.set(d, { path: d, mode: 0o755 });
  }
  return { directories: [...dirs.values()], files };
}

/** Options of {@link writeInstallPlan}. */
export interface WriteInstallPlanOptions {
  signal?: AbortSignal;
}

function under(root: string, path: string): string {
  if (!path.startsWith("/") || path.split("/").some((c) => c === "..")) {
    throw invalidArgument(`plan paths must be absolute and normalized: ${path}`, "path");
  }
  return join(root, path);
}

async function checkInside(realRoot: string, dir: string): Promise<void> {
  const real = await realpath(dir);
  const rel = relative(realRoot, real);
  if (rel.startsWith("..") || isAbsolute(rel)) {
    throw invalidArgument(`${dir} resolves outside the root (${real})`, "root");
  }
}

/**
 * Writes an {@link InstallPlan} under `root` (`/` for the live system, a temp directory for a
 * preview or an image): directories created with their mode, each file written atomically with
 * exactly its planned mode (an existing file's mode is replaced). A path that would resolve
 * outside `root` through a symlink is refused. Returns the absolute paths written.
 *
 * @throws FlannelError `WRITE_FAILED`, `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await writeInstallPlan("/", installPlan());
 * // then: systemctl daemon-reload && systemctl enable --now flanneld
 * ```
 */
export async function writeInstallPlan(
  root: string,
  plan: InstallPlan,
  options: WriteInstallPlanOptions = {},
): Promise<string[]> {
  if (!isAbsolute(root)) throw invalidArgument("root must be an absolute path", "root");
  const base = resolve(root);
  await makeDirectory(base, 0o755);
  const realRoot = await realpath(base);
  const written: string[] = [];
  for (const d of plan.directories) {
    throwIfAborted(options.signal);
    const target = under(base, d.path);
    await makeDirectory(target, d.mode);
    await checkInside(realRoot, target);
  }
  for (const f of plan.files) {
    throwIfAborted(options.signal);
    const target = under(base, f.path);
    await makeDirectory(posix.dirname(target), 0o755);
    await checkInside(realRoot, posix.dirname(target));
    await writeFileAtomic(target, f.content, {
      mode: f.mode,
      keepExistingMode: false,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    written.push(target);
  }
  return written;
}
