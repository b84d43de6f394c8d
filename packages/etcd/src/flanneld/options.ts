// biome-ignore-all lint/suspicious/noTemplateCurlyInString: systemd ExecStart= syntax, not JS templates
/**
 * Store options from the way flanneld is configured: its flags, `FLANNELD_*` environment, and the
 * install guide's `/etc/sysconfig/flanneld` read by its systemd unit.
 */
import { readFileSync, statSync } from "node:fs";
import { FlannelError, INSTALL_GUIDE } from "@flannel-sdk/core";
import type { EtcdAuthOptions, EtcdStoreOptions } from "../options.js";
import type { EtcdTlsOptions } from "../tls.js";
import { expandExecStart, parseEnvironmentFile } from "./env-file.js";
import { type FlanneldFlagValues, parseFlanneldFlags } from "./flags.js";

/** Input of {@link etcdOptionsFromFlanneld}. */
export interface FlanneldOptionsInput {
  /** flanneld's arguments, without the program name. */
  readonly argv?: readonly string[];
  /** The process environment (`FLANNELD_*` variables are read from it). Default none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Text of `/etc/sysconfig/flanneld`, applied as the guide's unit applies it. */
  readonly sysconfig?: string;
  /** Path of a sysconfig file to read instead of passing `sysconfig`. */
  readonly sysconfigFile?: string;
  /**
   * The unit's `ExecStart=` arguments. Default `INSTALL_GUIDE.execStart` (core), which is also
   * what `@flannel-sdk/render`'s unit passes: `-etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS}
   * -etcd-prefix=${FLANNEL_ETCD_PREFIX} $FLANNEL_OPTIONS`.
   */
  readonly execStart?: string;
}

/** What {@link etcdOptionsFromFlanneld} found. */
export interface FlanneldEtcdOptions {
  /** Ready for `new EtcdLeaseStore(store)` or `new EtcdV2LeaseStore(store)`. */
  readonly store: EtcdStoreOptions & {
    readonly endpoints: readonly string[];
    readonly prefix: string;
  };
  /** `--subnet-lease-renew-margin` in milliseconds (for `keepLease`). */
  readonly renewMarginMs: number;
  /** `--public-ip`, or `null`. */
  readonly publicIP: string | null;
  /** `--public-ipv6`, or `null`. */
  readonly publicIPv6: string | null;
  /** `--subnet-file`. */
  readonly subnetFile: string;
  /** Every flag's effective value. */
  readonly flags: FlanneldFlagValues;
  /** The full argv flanneld would have seen. */
  readonly argv: readonly string[];
  /** Things flanneld would do differently or that look like mistakes. */
  readonly warnings: readonly string[];
}

function invalid(message: string, field?: string): FlannelError {
  return new FlannelError("FLANNELD_OPTIONS_INVALID", message, field ? { field } : {});
}

function readSysconfig(path: string): string {
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch (cause) {
    throw new FlannelError("FLANNELD_OPTIONS_INVALID", `cannot read ${path}`, { cause });
  }
  if (isDir) {
    // The guide runs `mkdir -p /etc/sysconfig/flanneld` before writing the file of that name.
    throw invalid(
      `${path} is a directory, not the settings file (the install guide's "mkdir -p ${path}" makes one); remove it and write FLANNEL_ETCD_ENDPOINTS / FLANNEL_ETCD_PREFIX / FLANNEL_OPTIONS to a file of that name`,
    );
  }
  return readFileSync(path, "utf8");
}

/**
 * Builds etcd store options from flanneld's flags, `FLANNELD_*` environment, and the install
 * guide's `/etc/sysconfig/flanneld` (whose `FLANNEL_ETCD_ENDPOINTS`, `FLANNEL_ETCD_PREFIX` and
 * `FLANNEL_OPTIONS` the guide's unit turns into `-etcd-endpoints=… -etcd-prefix=… $FLANNEL_OPTIONS`).
 * Command-line flags win over `FLANNELD_*`; the sysconfig's own variables also reach the
 * environment, as systemd's `EnvironmentFile=` does.
 *
 * TLS: an `https://` endpoint uses TLS with whatever of `-etcd-cafile`, `-etcd-certfile`,
 * `-etcd-keyfile` is given (flannel v0.28 ignores a CA given without a client certificate; see
 * docs/decisions.md).
 *
 * @throws FlannelError `FLANNELD_OPTIONS_INVALID` (bad flag, renew margin out of 1..1439, a
 *   variable the unit needs is missing, the sysconfig path is a directory)
 * @example
 * ```ts
 * const { store, renewMarginMs } = etcdOptionsFromFlanneld({ sysconfigFile: "/etc/sysconfig/flanneld" });
 * const leases = new EtcdV2LeaseStore(store);
 * ```
 */
export function etcdOptionsFromFlanneld(input: FlanneldOptionsInput = {}): FlanneldEtcdOptions {
  const warnings: string[] = [];
  const sysconfigText =
    input.sysconfig ?? (input.sysconfigFile ? readSysconfig(input.sysconfigFile) : undefined);
  let argv = [...(input.argv ?? [])];
  let env: Record<string, string | undefined> = { ...(input.env ?? {}) };
  if (sysconfigText !== undefined) {
    const vars = parseEnvironmentFile(sysconfigText);
    const execStart = input.execStart ?? INSTALL_GUIDE.execStart;
    for (const m of execStart.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g)) {
      const name = m[1]!;
      if (vars[name] === undefined && env[name] === undefined && m[0].startsWith("${")) {
        throw invalid(
          `the sysconfig file does not set ${name}, so the unit would pass an empty value (${m[0]})`,
          name,
        );
      }
    }
    env = { ...env, ...vars };
    const unitEnv: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) unitEnv[k] = v;
    argv = [...expandExecStart(execStart, unitEnv), ...argv];
  }
  const parsed = parseFlanneldFlags(argv, env);
  warnings.push(...parsed.warnings);
  const v = parsed.values;
  const str = (name: string) => v[name] as string;

  const margin = Number(str("subnet-lease-renew-margin"));
  if (!(margin >= 1 && margin <= 1439)) {
    throw invalid(
      "Invalid subnet-lease-renew-margin option, out of acceptable range",
      "subnet-lease-renew-margin",
    );
  }
  if (v["kube-subnet-mgr"] === true) {
    warnings.push("-kube-subnet-mgr is set: flanneld would use the Kubernetes API, not etcd");
  }

  const endpoints = str("etcd-endpoints").split(",");
  const tls: { ca?: string; cert?: string; key?: string } = {};
  if (str("etcd-cafile") !== "") tls.ca = str("etcd-cafile");
  if (str("etcd-certfile") !== "") tls.cert = str("etcd-certfile");
  if (str("etcd-keyfile") !== "") tls.key = str("etcd-keyfile");
  const httpsEndpoints = endpoints.filter((e) => e.startsWith("https://"));
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    warnings.push(
      "only one of -etcd-certfile / -etcd-keyfile is set: flannel v0.28 then connects without TLS",
    );
  } else if (tls.ca !== undefined && tls.cert === undefined && httpsEndpoints.length > 0) {
    warnings.push(
      "-etcd-cafile without -etcd-certfile/-etcd-keyfile: flannel v0.28 would connect in plain text (v0.11 used the CA); this store uses TLS with the CA",
    );
  }
  if (Object.keys(tls).length > 0 && httpsEndpoints.length === 0) {
    warnings.push("TLS files are given but no endpoint is https://: the connection is plain text");
  }
  if (httpsEndpoints.some((e) => /^https:\/\/\d+\.\d+\.\d+\.\d+[:/]?/.test(e))) {
    warnings.push(
      "an https endpoint is an IP address: its server certificate must carry that IP in its subjectAltName",
    );
  }
  const auth: EtcdAuthOptions | undefined =
    str("etcd-username") !== ""
      ? { username: str("etcd-username"), password: str("etcd-password") }
      : undefined;

  const store: FlanneldEtcdOptions["store"] = {
    endpoints,
    prefix: str("etcd-prefix"),
    ...(Object.keys(tls).length > 0 && (tls.cert === undefined) === (tls.key === undefined)
      ? { tls: tls as EtcdTlsOptions }
      : {}),
    ...(auth ? { auth } : {}),
  };
  return {
    store,
    renewMarginMs: margin * 60_000,
    publicIP: str("public-ip") === "" ? null : str("public-ip"),
    publicIPv6: str("public-ipv6") === "" ? null : str("public-ipv6"),
    subnetFile: str("subnet-file"),
    flags: v,
    argv,
    warnings,
  };
}
