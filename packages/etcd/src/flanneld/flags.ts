/**
 * flanneld's command line, parsed with Go `flag` package rules, then filled from `FLANNELD_*`
 * environment variables the way flannel's `flagutil.SetFlagsFromEnv` does.
 */
import { DEFAULT_ETCD_ENDPOINTS, DEFAULT_ETCD_PREFIX, FlannelError } from "@flannel-sdk/core";

/** How a flag takes its value: `bool` flags need none (`-x`, `-x=false`). */
export type FlanneldFlagKind = "string" | "bool" | "int" | "list";
type FlagKind = FlanneldFlagKind;

/** flanneld v0.28's flags (`main.go`, Go `flag`: `-x` and `--x` alike) with their kind and default. */
const FLAGS: Readonly<Record<string, { kind: FlagKind; default: string | boolean | string[] }>> = {
  "etcd-endpoints": { kind: "string", default: DEFAULT_ETCD_ENDPOINTS.join(",") },
  "etcd-prefix": { kind: "string", default: DEFAULT_ETCD_PREFIX },
  "etcd-keyfile": { kind: "string", default: "" },
  "etcd-certfile": { kind: "string", default: "" },
  "etcd-cafile": { kind: "string", default: "" },
  "etcd-username": { kind: "string", default: "" },
  "etcd-password": { kind: "string", default: "" },
  // Not a flanneld flag: which etcd API holds the config and leases (flanneld ≤ v0.17 used the
  // v2 keys API, ≥ v0.18 v3). Defined so -etcd-api v2 and FLANNELD_ETCD_API work like the rest.
  "etcd-api": { kind: "string", default: "v3" },
  iface: { kind: "list", default: [] },
  "iface-regex": { kind: "list", default: [] },
  "iface-can-reach": { kind: "string", default: "" },
  "public-ip": { kind: "string", default: "" },
  "public-ipv6": { kind: "string", default: "" },
  "ip-masq": { kind: "bool", default: false },
  "ip-masq-fully-random-disable": { kind: "bool", default: false },
  "subnet-file": { kind: "string", default: "/run/flannel/subnet.env" },
  "subnet-lease-renew-margin": { kind: "int", default: "60" },
  "kube-subnet-mgr": { kind: "bool", default: false },
  "kube-api-url": { kind: "string", default: "" },
  "kubeconfig-file": { kind: "string", default: "" },
  "kube-annotation-prefix": { kind: "string", default: "flannel.alpha.coreos.com" },
  "net-config-path": { kind: "string", default: "/etc/kube-flannel/net-conf.json" },
  "healthz-ip": { kind: "string", default: "0.0.0.0" },
  "healthz-port": { kind: "int", default: "0" },
  "iptables-resync": { kind: "int", default: "5" },
  "iptables-forward-rules": { kind: "bool", default: true },
  "ip-blackhole-route": { kind: "bool", default: false },
  "set-node-network-unavailable": { kind: "bool", default: true },
  "charon-executable-path": { kind: "string", default: "" },
  "charon-viciurl": { kind: "string", default: "" },
  version: { kind: "bool", default: false },
  v: { kind: "int", default: "0" },
  vmodule: { kind: "string", default: "" },
  log_backtrace_at: { kind: "string", default: "" },
  // glog flags flannel v0.11 registered; many install guides still pass them.
  logtostderr: { kind: "bool", default: false },
  alsologtostderr: { kind: "bool", default: false },
  log_dir: { kind: "string", default: "" },
  stderrthreshold: { kind: "string", default: "" },
};

/** The effective value of every flag: strings, booleans, and lists for repeatable flags. */
export type FlanneldFlagValues = Readonly<Record<string, string | boolean | readonly string[]>>;

/** The result of {@link parseFlanneldFlags}. */
export interface ParsedFlanneldFlags {
  readonly values: FlanneldFlagValues;
  /** Flags given on the command line (after Go's rules: up to the first non-flag argument). */
  readonly fromCommandLine: ReadonlySet<string>;
  /** Flags taken from `FLANNELD_*`. */
  readonly fromEnvironment: ReadonlySet<string>;
  /** Arguments after the flags (flanneld ignores them). */
  readonly rest: readonly string[];
  readonly warnings: readonly string[];
}

/** Options of {@link parseFlanneldFlags}. */
export interface ParseFlanneldFlagsOptions {
  /**
   * Flags of a tool that takes flanneld's flags plus its own (e.g. `dry-run: "bool"`): parsed by
   * the same rules, default `false` / `""` / `[]`, never read from the environment.
   */
  readonly extraFlags?: Readonly<Record<string, FlanneldFlagKind>>;
  /** Refuse a flag that is neither flanneld's nor an extra one (Go's own behaviour). Default false. */
  readonly strict?: boolean;
}

function invalid(message: string, field?: string): FlannelError {
  return new FlannelError("FLANNELD_OPTIONS_INVALID", message, field ? { field } : {});
}

/** Go's `strconv.ParseBool`. */
function parseGoBool(text: string, flag: string): boolean {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(text)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(text)) return false;
  throw invalid(`invalid boolean value "${text}" for -${flag}: parse error`, flag);
}

function checkInt(text: string, flag: string): string {
  if (!/^[+-]?(0|[1-9][0-9]*|0[xX][0-9a-fA-F]+|0[0-7]+)$/.test(text)) {
    throw invalid(`invalid value "${text}" for flag -${flag}: parse error`, flag);
  }
  return text;
}

function envName(flag: string): string {
  return `FLANNELD_${flag.toUpperCase().replace(/-/g, "_")}`;
}

/**
 * Parses flanneld's argv (without the program name) with Go `flag` rules — `-x`/`--x`,
 * `-x=v` or `-x v` for values, booleans only as `-x` or `-x=bool`, parsing stops at the first
 * non-flag argument or `--` — then takes every flag not given on the command line from
 * `FLANNELD_<NAME>` (upper case, `-` → `_`) when that is set and not empty.
 *
 * Unknown flags are kept (with a warning) rather than refused, since they are harmless to the
 * etcd settings; flanneld itself would print its usage and exit (`strict: true` does that).
 *
 * @throws FlannelError `FLANNELD_OPTIONS_INVALID` (a value missing or of the wrong type; with
 *   `strict`, a flag not defined)
 * @example
 * ```ts
 * parseFlanneldFlags(["-etcd-prefix=/kube-centos/network", "--ip-masq"], {}).values["ip-masq"]; // true
 * ```
 */
export function parseFlanneldFlags(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = {},
  options: ParseFlanneldFlagsOptions = {},
): ParsedFlanneldFlags {
  const values: Record<string, string | boolean | string[]> = {};
  const extra: Record<string, { kind: FlagKind; default: string | boolean | string[] }> = {};
  for (const [name, kind] of Object.entries(options.extraFlags ?? {})) {
    extra[name] = { kind, default: kind === "bool" ? false : kind === "list" ? [] : "" };
  }
  for (const [name, spec] of [...Object.entries(FLAGS), ...Object.entries(extra)]) {
    values[name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  const fromCommandLine = new Set<string>();
  const fromEnvironment = new Set<string>();
  const warnings: string[] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg.length < 2 || arg[0] !== "-") break;
    let body = arg.slice(1);
    if (body.startsWith("-")) {
      body = body.slice(1);
      if (body === "") {
        i++;
        break;
      }
    }
    if (body === "" || body.startsWith("-") || body.startsWith("=")) {
      throw invalid(`bad flag syntax: ${arg}`);
    }
    const eq = body.indexOf("=");
    const name = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const spec = extra[name] ?? FLAGS[name];
    if (spec === undefined) {
      if (options.strict) throw invalid(`flag provided but not defined: -${name}`, name);
      warnings.push(`flag provided but not defined by flanneld v0.28: -${name} (ignored here)`);
      values[name] = inline ?? true;
      fromCommandLine.add(name);
      continue;
    }
    let value: string;
    if (spec.kind === "bool") {
      values[name] = inline === undefined ? true : parseGoBool(inline, name);
      fromCommandLine.add(name);
      continue;
    }
    if (inline !== undefined) {
      value = inline;
    } else {
      if (i + 1 >= argv.length) throw invalid(`flag needs an argument: -${name}`, name);
      value = argv[++i]!;
    }
    if (spec.kind === "int") value = checkInt(value, name);
    if (spec.kind === "list") {
      const list = fromCommandLine.has(name) ? (values[name] as string[]) : [];
      list.push(value);
      values[name] = list;
    } else {
      values[name] = value;
    }
    fromCommandLine.add(name);
  }
  const rest = argv.slice(i);
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (fromCommandLine.has(name)) continue;
    const value = env[envName(name)];
    if (value === undefined || value === "") continue;
    if (spec.kind === "bool") values[name] = parseGoBool(value, name);
    else if (spec.kind === "list") values[name] = [value];
    else values[name] = spec.kind === "int" ? checkInt(value, name) : value;
    fromEnvironment.add(name);
  }
  return { values, fromCommandLine, fromEnvironment, rest, warnings };
}
