import { DEFAULT_ETCD_ENDPOINTS, DEFAULT_ETCD_PREFIX, INSTALL_GUIDE } from "@flannel-sdk/core";
import { invalidValue } from "../errors.js";
import { isShellName } from "../shell/parse.js";
import { quoteEnvValue } from "../shell/quote.js";
import {
  type ExecWord,
  formatExecPath,
  formatExecWord,
  unitName,
  unitPath,
  unitText,
} from "./escape.js";
import {
  buildUnitFile,
  formatUnitFile,
  type UnitFile,
  type UnitFileLine,
  unitContinuedDirective,
  unitDirective,
} from "./unit-file.js";

/** systemd's `Restart=` values. */
export type RestartPolicy =
  | "no"
  | "always"
  | "on-success"
  | "on-failure"
  | "on-abnormal"
  | "on-abort"
  | "on-watchdog";

const RESTART_POLICIES: readonly RestartPolicy[] = [
  "no",
  "always",
  "on-success",
  "on-failure",
  "on-abnormal",
  "on-abort",
  "on-watchdog",
];

/** @internal */
export function restartValue(value: RestartPolicy, field = "Restart"): string {
  if (!RESTART_POLICIES.includes(value)) {
    throw invalidValue(`${field}: invalid restart policy ${JSON.stringify(value)}`, field, value);
  }
  return value;
}

/**
 * Where the renderers put things by default: the paths of flannel's RHEL package unit (which the
 * install guide copies) with flanneld itself at `/usr/bin/flanneld` (flannel's release binary).
 * flanneld's own settings (endpoints, prefix, no TLS) come from core's `DEFAULT_ETCD_*`; the
 * guide's values are core's `INSTALL_GUIDE`, passed on purpose.
 * @internal
 */
export const UNIT_DEFAULTS = {
  flanneldUnitPath: INSTALL_GUIDE.flanneldUnitPath,
  flanneldPath: "/usr/bin/flanneld",
  sysconfigPath: INSTALL_GUIDE.sysconfigPath,
  dockerNetworkPath: INSTALL_GUIDE.dockerNetworkPath,
  mkDockerOptsPath: INSTALL_GUIDE.mkDockerOptsPath,
  dockerOptsKey: INSTALL_GUIDE.dockerOptsKey,
  dockerOptsFile: INSTALL_GUIDE.dockerOptsFile,
  dockerUnitPath: INSTALL_GUIDE.dockerUnitPath,
} as const;

/** The `ExecStartPost=` step that turns `subnet.env` into docker options. */
export interface MkDockerOptsStep {
  /** The mk-docker-opts executable. Default the guide's `/usr/libexec/flannel/mk-docker-opts.sh`. */
  path?: string;
  /** `-f`, the subnet file; omitted (the script's default `/run/flannel/subnet.env`) when unset. */
  subnetFile?: string;
  /** `-k`: a shell variable name, as mk-docker-opts requires. Default `DOCKER_NETWORK_OPTIONS`. */
  combinedKey?: string;
  /** `-d`. Default `/run/flannel/docker`. */
  output?: string;
  /**
   * Adds `--require-subnet-env`: when the subnet file is missing, this package's `mk-docker-opts`
   * fails (and with it the unit, so a `Requires=` docker does not start on its own bridge) instead
   * of writing the script's empty options. flannel's script rejects the flag: set it only where
   * `path` runs this package's CLI (as `installPlan`'s wrapper does). Default false.
   */
  requireSubnetEnv?: boolean;
  /** Further flags, e.g. `["--no-route-check"]` for this package's CLI. */
  args?: readonly string[];
}

/**
 * Options of {@link renderFlanneldUnit}. The defaults are the paths of flannel's RHEL package unit
 * (which the guide copies) with `/usr/bin/flanneld`; core's `INSTALL_GUIDE` adds the guide's
 * `flanneldPath` (`renderFlanneldUnit({ ...INSTALL_GUIDE, restart: "on-failure" })` is the guide's unit).
 */
export interface FlanneldUnitOptions {
  /** Default `Flanneld overlay address etcd agent`. */
  description?: string;
  /**
   * The program `ExecStart=` runs. Default `/usr/bin/flanneld` (flannel's release binary); the
   * guide's RHEL package runs the wrapper `/usr/bin/flanneld-start` (`INSTALL_GUIDE.flanneldPath`).
   */
  flanneldPath?: string;
  /** The sysconfig file (`EnvironmentFile=`, required). Default `/etc/sysconfig/flanneld`. */
  sysconfigPath?: string;
  /** An optional env file (`EnvironmentFile=-…`); `null` leaves it out. */
  dockerNetworkPath?: string | null;
  /** Ordered after this unit (`After=`); `null` leaves it out. Default `etcd.service`. */
  etcdUnit?: string | null;
  /** The docker unit: `Before=` and `RequiredBy=`; `null` leaves both out. Default `docker.service`. */
  dockerUnit?: string | null;
  /** Arguments after `$FLANNEL_OPTIONS`, one per continuation line. */
  extraArgs?: readonly ExecWord[];
  /** The `ExecStartPost=` mk-docker-opts step; `null` leaves it out. */
  mkDockerOpts?: MkDockerOptsStep | null;
  /**
   * `Restart=`. Default **`always`**, not the guide's `on-failure`: flanneld exits with status 0
   * when its lease is revoked, so `on-failure` would leave the node without a network.
   */
  restart?: RestartPolicy;
  /** `RestartSec=` in seconds; written only when set. */
  restartSec?: number;
  /** `WantedBy=`. Default `multi-user.target`. */
  wantedBy?: string;
}

function execArgsLine(mk: MkDockerOptsStep): string {
  const words: string[] = [
    formatExecPath(mk.path ?? UNIT_DEFAULTS.mkDockerOptsPath, "", "ExecStartPost"),
  ];
  if (mk.subnetFile !== undefined) words.push("-f", formatExecWord(mk.subnetFile, "ExecStartPost"));
  const key = mk.combinedKey ?? UNIT_DEFAULTS.dockerOptsKey;
  // mk-docker-opts' own rule (the script `eval`s it): a unit with another key fails every start.
  if (!isShellName(key)) {
    throw invalidValue(
      `combinedKey: ${JSON.stringify(key)} is not a shell variable name, so mk-docker-opts would refuse it on every start`,
      "combinedKey",
      key,
    );
  }
  words.push("-k", formatExecWord(key, "ExecStartPost"));
  words.push("-d", formatExecWord(mk.output ?? UNIT_DEFAULTS.dockerOptsFile, "ExecStartPost"));
  if (mk.requireSubnetEnv === true) words.push("--require-subnet-env");
  for (const a of mk.args ?? []) words.push(formatExecWord(a, "ExecStartPost"));
  return words.join(" ");
}

/**
 * flanneld's systemd unit as a {@link UnitFile} model (see {@link renderFlanneldUnit}).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * const unit = flanneldUnitFile({ flanneldPath: "/usr/bin/flanneld" });
 * ```
 */
export function flanneldUnitFile(options: FlanneldUnitOptions = {}): UnitFile {
  const unit: UnitFileLine[] = [
    unitDirective(
      "Description",
      unitText(options.description ?? "Flanneld overlay address etcd agent", "Description"),
    ),
    unitDirective("After", "network.target"),
    unitDirective("After", "network-online.target"),
    unitDirective("Wants", "network-online.target"),
  ];
  const etcd = options.etcdUnit === undefined ? "etcd.service" : options.etcdUnit;
  if (etcd !== null) unit.push(unitDirective("After", unitName(etcd, "After")));
  const docker = options.dockerUnit === undefined ? "docker.service" : options.dockerUnit;
  if (docker !== null) unit.push(unitDirective("Before", unitName(docker, "Before")));

  const service: UnitFileLine[] = [
    unitDirective("Type", "notify"),
    unitDirective(
      "EnvironmentFile",
      unitPath(options.sysconfigPath ?? UNIT_DEFAULTS.sysconfigPath, "EnvironmentFile"),
    ),
  ];
  const dockerNetwork =
    options.dockerNetworkPath === undefined
      ? UNIT_DEFAULTS.dockerNetworkPath
      : options.dockerNetworkPath;
  if (dockerNetwork !== null) {
    service.push(
      unitDirective("EnvironmentFile", `-${unitPath(dockerNetwork, "EnvironmentFile")}`),
    );
  }
  const args: ExecWord[] = [
    ["-etcd-endpoints=", { env: "FLANNEL_ETCD_ENDPOINTS" }],
    ["-etcd-prefix=", { env: "FLANNEL_ETCD_PREFIX" }],
    { env: "FLANNEL_OPTIONS", split: true },
    ...(options.extraArgs ?? []),
  ];
  service.push(
    unitContinuedDirective("ExecStart", [
      { indent: "", text: formatExecPath(options.flanneldPath ?? UNIT_DEFAULTS.flanneldPath) },
      ...args.map((w) => ({ indent: "  ", text: formatExecWord(w) })),
    ]),
  );
  const mk = options.mkDockerOpts === undefined ? {} : options.mkDockerOpts;
  if (mk !== null) service.push(unitDirective("ExecStartPost", execArgsLine(mk)));
  service.push(unitDirective("Restart", restartValue(options.restart ?? "always")));
  if (options.restartSec !== undefined) {
    if (!Number.isSafeInteger(options.restartSec) || options.restartSec < 0) {
      throw invalidValue(
        "RestartSec must be a non-negative integer",
        "RestartSec",
        options.restartSec,
      );
    }
    service.push(unitDirective("RestartSec", String(options.restartSec)));
  }

  const install: UnitFileLine[] = [
    unitDirective("WantedBy", unitName(options.wantedBy ?? "multi-user.target", "WantedBy")),
  ];
  if (docker !== null) install.push(unitDirective("RequiredBy", docker));
  return buildUnitFile([
    { name: "Unit", entries: unit },
    { name: "Service", entries: service },
    { name: "Install", entries: install },
  ]);
}

/**
 * Renders `flanneld.service`. With `{ ...INSTALL_GUIDE }` (core) it is the install guide's unit
 * byte for byte except `Restart=always` (the guide has `on-failure`, which never restarts flanneld
 * after a lease revocation because flanneld then exits 0; add `restart: "on-failure"` for the
 * guide's exact bytes); with no options it runs `/usr/bin/flanneld`. `ExecStart=` passes `${FLANNEL_ETCD_ENDPOINTS}`, `${FLANNEL_ETCD_PREFIX}` and
 * `$FLANNEL_OPTIONS` from the sysconfig file; `ExecStartPost=` runs mk-docker-opts (this package's
 * `mk-docker-opts` bin works there in place of the script).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE` (a path with whitespace, a bad unit name, a control
 * character…)
 * @example
 * ```ts
 * await writeFileAtomic("/usr/lib/systemd/system/flanneld.service", renderFlanneldUnit());
 * ```
 */
export function renderFlanneldUnit(options: FlanneldUnitOptions = {}): string {
  return formatUnitFile(flanneldUnitFile(options));
}

/**
 * Options of {@link renderFlanneldSysconfig}. Every default is flanneld's own; core's
 * `INSTALL_GUIDE` holds the guide's values (`renderFlanneldSysconfig(INSTALL_GUIDE)`).
 */
export interface FlanneldSysconfigOptions {
  /** `FLANNEL_ETCD_ENDPOINTS`, joined with `,`. Default flanneld's `http://127.0.0.1:4001,http://127.0.0.1:2379`. */
  etcdEndpoints?: string | readonly string[];
  /** `FLANNEL_ETCD_PREFIX`. Default flanneld's `/coreos.com/network`. */
  etcdPrefix?: string;
  /** `-etcd-cafile=`; absent or `null` leaves it out (the default: no TLS files). */
  etcdCAFile?: string | null;
  /** `-etcd-certfile=`; absent or `null` leaves it out. */
  etcdCertFile?: string | null;
  /** `-etcd-keyfile=`; absent or `null` leaves it out. */
  etcdKeyFile?: string | null;
  /** `-iface=` (repeatable: flanneld tries them in order), e.g. `eth2` on a multi-NIC host. */
  iface?: string | readonly string[];
  /** `-public-ip=`. */
  publicIP?: string;
  /** `-ip-masq`. Default false (the guide's file leaves it out). */
  ipMasq?: boolean;
  /** Further flanneld flags, each one word (`-iface-regex=…`, `-v=2`). */
  extraOptions?: readonly string[];
  /** Keep the guide's comment lines. Default true. */
  comments?: boolean;
}

/**
 * One word of `$FLANNEL_OPTIONS`: systemd splits that variable at whitespace (and reads quotes in
 * it), the shell splits it at whitespace only, so a word can hold neither.
 */
function optionWord(word: string, field: string): string {
  if (typeof word !== "string" || word === "" || /[\s"'\\]/.test(word)) {
    throw invalidValue(
      `${field}: a FLANNEL_OPTIONS word cannot be empty or contain whitespace, quotes or backslashes: ${JSON.stringify(word)}`,
      field,
      word,
    );
  }
  return word;
}

/**
 * Renders `/etc/sysconfig/flanneld`, the environment file the unit reads: `FLANNEL_ETCD_ENDPOINTS`,
 * `FLANNEL_ETCD_PREFIX` and `FLANNEL_OPTIONS` (the etcd TLS files, `-iface`, `-public-ip`,
 * `-ip-masq`, extra flags), with the RHEL package's comments. With no options it points flanneld at
 * its own defaults (`/coreos.com/network` on loopback, no TLS files); with core's `INSTALL_GUIDE`
 * it is the guide's file byte for byte. Values are double-quoted with `"`, `\`, `` ` `` and `$` escaped, so `/bin/sh` and
 * systemd's `EnvironmentFile=` both read exactly the intended value; control characters are
 * refused, and `FLANNEL_OPTIONS` words may not contain whitespace or quotes.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * renderFlanneldSysconfig({ etcdEndpoints: ["https://10.0.0.1:2379"], iface: "eth2", ipMasq: true });
 * ```
 */
export function renderFlanneldSysconfig(options: FlanneldSysconfigOptions = {}): string {
  const endpoints =
    typeof options.etcdEndpoints === "string"
      ? [options.etcdEndpoints]
      : (options.etcdEndpoints ?? DEFAULT_ETCD_ENDPOINTS);
  if (endpoints.length === 0) {
    throw invalidValue("etcdEndpoints must not be empty", "etcdEndpoints", endpoints);
  }
  for (const e of endpoints) {
    if (typeof e !== "string" || e === "" || /[\s,]/.test(e)) {
      throw invalidValue(
        `etcdEndpoints: an endpoint cannot be empty or contain whitespace or commas: ${JSON.stringify(e)}`,
        "etcdEndpoints",
        e,
      );
    }
  }
  const words: string[] = [];
  const flagValue = (flag: string, value: string, field: string) => {
    if (typeof value !== "string" || value === "") {
      throw invalidValue(`${field} must not be empty`, field, value);
    }
    words.push(optionWord(`-${flag}=${value}`, field));
  };
  const file = (flag: string, value: string | null | undefined) => {
    if (value !== undefined && value !== null) flagValue(flag, value, flag);
  };
  file("etcd-cafile", options.etcdCAFile);
  file("etcd-certfile", options.etcdCertFile);
  file("etcd-keyfile", options.etcdKeyFile);
  const ifaces = typeof options.iface === "string" ? [options.iface] : (options.iface ?? []);
  for (const i of ifaces) flagValue("iface", i, "iface");
  if (options.publicIP !== undefined) flagValue("public-ip", options.publicIP, "publicIP");
  if (options.ipMasq) words.push("-ip-masq");
  for (const o of options.extraOptions ?? []) words.push(optionWord(o, "extraOptions"));

  const comments = options.comments ?? true;
  const lines: string[] = [];
  if (comments)
    lines.push(
      "# Flanneld configuration options  ",
      "",
      "# etcd url location.  Point this to the server where etcd runs",
    );
  lines.push(
    `FLANNEL_ETCD_ENDPOINTS=${quoteEnvValue(endpoints.join(","), "FLANNEL_ETCD_ENDPOINTS")}`,
  );
  if (comments)
    lines.push(
      "",
      "# etcd config key.  This is the configuration key that flannel queries",
      "# For address range assignment",
    );
  lines.push(
    `FLANNEL_ETCD_PREFIX=${quoteEnvValue(options.etcdPrefix ?? DEFAULT_ETCD_PREFIX, "FLANNEL_ETCD_PREFIX")}`,
  );
  if (comments) lines.push("", "# Any additional options that you want to pass");
  lines.push(`FLANNEL_OPTIONS=${quoteEnvValue(words.join(" "), "FLANNEL_OPTIONS")}`);
  return `${lines.join("\n")}\n`;
}
