import { invalidValue } from "../errors.js";
import {
  type ExecWord,
  formatEnvironmentAssignment,
  formatExecPath,
  formatExecWord,
  unitName,
  unitPath,
  unitText,
} from "./escape.js";
import { type RestartPolicy, restartValue, UNIT_DEFAULTS } from "./flanneld.js";
import {
  buildUnitFile,
  formatUnitFile,
  type UnitFile,
  type UnitFileLine,
  unitContinuedDirective,
  unitDirective,
} from "./unit-file.js";

/**
 * Where {@link renderDockerDropIn}'s output goes.
 *
 * @example
 * ```ts
 * await writeFileAtomic(DOCKER_DROP_IN_PATH, renderDockerDropIn());
 * ```
 */
export const DOCKER_DROP_IN_PATH = "/etc/systemd/system/docker.service.d/flannel.conf";

/** The `EnvironmentFile=` lines of the guide's docker.service (`-`: read if present). */
const GUIDE_DOCKER_ENV_FILES = [
  "-/run/containers/registries.conf",
  "-/run/docker_opts.env",
  "-/run/flannel/subnet.env",
  "-/run/flannel/docker",
  "-/etc/sysconfig/docker",
  "-/etc/sysconfig/docker-storage",
  "-/etc/sysconfig/docker-network",
];

const split = (env: string): ExecWord => ({ env, split: true });

/** The guide's `dockerd-current` arguments, one line each (the last line is indented by a tab). */
const GUIDE_DOCKERD_LINES: readonly (readonly ExecWord[])[] = [
  ["--add-runtime", "docker-runc=/usr/libexec/docker/docker-runc-current"],
  ["--default-runtime=docker-runc"],
  ["--exec-opt", "native.cgroupdriver=systemd"],
  ["--userland-proxy-path=/usr/libexec/docker/docker-proxy-current"],
  ["--init-path=/usr/libexec/docker/docker-init-current"],
  ["--seccomp-profile=/etc/docker/seccomp.json"],
  [split("OPTIONS")],
  [split("DOCKER_STORAGE_OPTIONS")],
  [split("DOCKER_NETWORK_OPTIONS")],
  [split("ADD_REGISTRY")],
  [split("BLOCK_REGISTRY")],
  [split("INSECURE_REGISTRY")],
  [split("REGISTRIES")],
];

/** Options of {@link renderDockerUnit}; every default reproduces the install guide's file. */
export interface DockerUnitOptions {
  /** Default `/usr/bin/dockerd-current` (RHEL's docker package). */
  dockerdPath?: string;
  /**
   * dockerd's arguments, one continuation line per element: a string is a one-word line, an array
   * is the words of one line (`["--exec-opt", "native.cgroupdriver=systemd"]`,
   * `[{ env: "DOCKER_NETWORK_OPTIONS", split: true }]`). Default the guide's, which include
   * `$DOCKER_NETWORK_OPTIONS`.
   */
  dockerdArgs?: readonly (string | readonly ExecWord[])[];
  /**
   * `EnvironmentFile=` lines in order; a leading `-` makes a file optional. Default the guide's
   * seven, among them `-/run/flannel/docker` (mk-docker-opts' output) and
   * `-/run/flannel/subnet.env`.
   */
  environmentFiles?: readonly string[];
  /** `Environment=` assignments. Default the guide's `GOTRACEBACK`, `DOCKER_HTTP_HOST_COMPAT`, `PATH`. */
  environment?: Readonly<Record<string, string>>;
  /** `Restart=`. Default the guide's `on-abnormal`. */
  restart?: RestartPolicy;
}

function envFileLine(entry: string): UnitFileLine {
  const optional = entry.startsWith("-");
  const path = unitPath(optional ? entry.slice(1) : entry, "EnvironmentFile");
  return unitDirective("EnvironmentFile", `${optional ? "-" : ""}${path}`);
}

/**
 * The install guide's `docker.service` as a {@link UnitFile} model (see {@link renderDockerUnit}).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * const unit = dockerUnitFile();
 * ```
 */
export function dockerUnitFile(options: DockerUnitOptions = {}): UnitFile {
  const env = options.environment ?? {
    GOTRACEBACK: "crash",
    DOCKER_HTTP_HOST_COMPAT: "1",
    PATH: "/usr/libexec/docker:/usr/bin:/usr/sbin",
  };
  const lines: { indent: string; text: string }[] = [
    { indent: "", text: formatExecPath(options.dockerdPath ?? "/usr/bin/dockerd-current") },
  ];
  if (options.dockerdArgs === undefined) {
    GUIDE_DOCKERD_LINES.forEach((words, i) => {
      const last = i === GUIDE_DOCKERD_LINES.length - 1;
      lines.push({
        indent: last ? "\t  " : "          ",
        text: words.map((w) => formatExecWord(w)).join(" "),
      });
    });
  } else {
    for (const line of options.dockerdArgs) {
      const words: readonly ExecWord[] = typeof line === "string" ? [line] : line;
      if (words.length === 0) throw invalidValue("dockerdArgs: empty line", "dockerdArgs", line);
      lines.push({ indent: "          ", text: words.map((w) => formatExecWord(w)).join(" ") });
    }
  }
  const service: UnitFileLine[] = [
    unitDirective("Type", "notify"),
    unitDirective("NotifyAccess", "main"),
    ...(options.environmentFiles ?? GUIDE_DOCKER_ENV_FILES).map(envFileLine),
    ...Object.entries(env).map(([k, v]) =>
      unitDirective("Environment", formatEnvironmentAssignment(k, v)),
    ),
    unitContinuedDirective("ExecStart", lines),
    unitDirective("ExecReload", "/bin/kill -s HUP $MAINPID"),
    unitDirective("LimitNOFILE", "1048576"),
    unitDirective("LimitNPROC", "1048576"),
    unitDirective("LimitCORE", "infinity"),
    unitDirective("TimeoutStartSec", "0"),
    unitDirective("Restart", restartValue(options.restart ?? "on-abnormal")),
    unitDirective("KillMode", "process"),
  ];
  return buildUnitFile([
    {
      name: "Unit",
      entries: [
        ["Description", unitText("Docker Application Container Engine", "Description")],
        ["Documentation", "http://docs.docker.com"],
        ["After", "network.target"],
        ["Wants", "docker-storage-setup.service"],
        ["Requires", "docker-cleanup.timer"],
      ],
    },
    { name: "Service", entries: service },
    { name: "Install", entries: [["WantedBy", "multi-user.target"]] },
  ]);
}

/**
 * Renders the install guide's `docker.service` (RHEL's docker with its `EnvironmentFile=` lines,
 * among them `-/run/flannel/docker`, which carries `$DOCKER_NETWORK_OPTIONS` from mk-docker-opts).
 * With no options it is the guide's file byte for byte.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * renderDockerUnit({ environmentFiles: ["-/run/flannel/docker"] });
 * ```
 */
export function renderDockerUnit(options: DockerUnitOptions = {}): string {
  return formatUnitFile(dockerUnitFile(options));
}

/** Options of {@link renderDockerDropIn}. */
export interface DockerDropInOptions {
  /** The unit docker must start after and require. Default `flanneld.service`. */
  flanneldUnit?: string;
  /** mk-docker-opts' output file. Default `/run/flannel/docker`. */
  optionsFile?: string;
  /** The variable holding docker's network options. Default `DOCKER_NETWORK_OPTIONS`. */
  optionsKey?: string;
  /** Default `/usr/bin/dockerd` (docker-ce). */
  dockerdPath?: string;
  /** dockerd's other arguments. Default docker-ce's `-H fd:// --containerd=/run/containerd/containerd.sock`. */
  dockerdArgs?: readonly ExecWord[];
}

/**
 * A minimal drop-in (`/etc/systemd/system/docker.service.d/flannel.conf`) for an existing
 * `docker.service`, the alternative to replacing the whole unit: orders docker after flanneld,
 * reads mk-docker-opts' output and restarts dockerd with `$DOCKER_NETWORK_OPTIONS` (`ExecStart=` is
 * emptied first, as systemd requires to replace a service's command).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * await writeFileAtomic(DOCKER_DROP_IN_PATH, renderDockerDropIn());
 * ```
 */
export function renderDockerDropIn(options: DockerDropInOptions = {}): string {
  const flanneld = unitName(options.flanneldUnit ?? "flanneld.service", "After");
  const args = options.dockerdArgs ?? [
    "-H",
    "fd://",
    "--containerd=/run/containerd/containerd.sock",
  ];
  const exec = [
    formatExecPath(options.dockerdPath ?? "/usr/bin/dockerd"),
    formatExecWord({ env: options.optionsKey ?? UNIT_DEFAULTS.dockerOptsKey, split: true }),
    ...args.map((w) => formatExecWord(w)),
  ].join(" ");
  return formatUnitFile(
    buildUnitFile([
      {
        name: "Unit",
        entries: [
          ["After", flanneld],
          ["Requires", flanneld],
        ],
      },
      {
        name: "Service",
        entries: [
          [
            "EnvironmentFile",
            `-${unitPath(options.optionsFile ?? UNIT_DEFAULTS.dockerOptsFile, "EnvironmentFile")}`,
          ],
          ["ExecStart", ""],
          ["ExecStart", exec],
        ],
      },
    ]),
  );
}
