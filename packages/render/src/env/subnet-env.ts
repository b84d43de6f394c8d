import { readFile } from "node:fs/promises";
import {
  FlannelError,
  IP4Net,
  IP6Net,
  IPV6_MAX,
  type Lease,
  type NetworkConfig,
  parseCidrOfFamily,
  throwIfAborted,
} from "@flannel-sdk/core";
import { invalidArgument } from "../errors.js";
import { type WriteFileAtomicOptions, writeFileAtomic } from "../fs/atomic.js";
import { parseShellEnv } from "../shell/parse.js";

/**
 * flanneld's default `--subnet-file`.
 *
 * @example
 * ```ts
 * await writeSubnetEnv(DEFAULT_SUBNET_FILE, env);
 * ```
 */
export const DEFAULT_SUBNET_FILE = "/run/flannel/subnet.env";

/**
 * The content of `subnet.env` as data. The subnets are written the way flanneld writes them:
 * the lease's first host address with the lease's prefix (`10.1.74.1/24` for lease
 * `10.1.74.0/24`).
 */
export interface SubnetEnv {
  /** `FLANNEL_NETWORK`: the whole overlay, `"10.1.0.0/16"`; `null` when IPv4 is disabled. */
  readonly network: string | null;
  /** `FLANNEL_SUBNET`: `"10.1.74.1/24"`; `null` when IPv4 is disabled. */
  readonly subnet: string | null;
  /** `FLANNEL_IPV6_NETWORK`: `"2001:cafe:42::/56"`; `null` when IPv6 is disabled. */
  readonly ipv6Network: string | null;
  /** `FLANNEL_IPV6_SUBNET`: `"2001:cafe:42::1/64"`; `null` when IPv6 is disabled. */
  readonly ipv6Subnet: string | null;
  /** `FLANNEL_MTU`: the backend's MTU (vxlan: underlay MTU − 50). */
  readonly mtu: number;
  /** `FLANNEL_IPMASQ`: the value of flanneld's own `--ip-masq` flag. */
  readonly ipMasq: boolean;
}

/** What {@link parseSubnetEnv} read: each `FLANNEL_*` value as sourced, `null` when absent. */
export interface ParsedSubnetEnv {
  /** `FLANNEL_NETWORK` as written (not validated: flanneld itself accepts a `,` list here). */
  readonly network: string | null;
  /** `FLANNEL_SUBNET` as written. */
  readonly subnet: string | null;
  readonly ipv6Network: string | null;
  readonly ipv6Subnet: string | null;
  /** `FLANNEL_MTU` as a number. */
  readonly mtu: number | null;
  /** `FLANNEL_IPMASQ` as a boolean. */
  readonly ipMasq: boolean | null;
  /** Every variable the file sets (null-prototype record, in order of first assignment). */
  readonly variables: Readonly<Record<string, string>>;
}

/** Options of {@link subnetEnvFromLease}. */
export interface SubnetEnvFromLeaseOptions {
  /** The backend MTU (flanneld's `bn.MTU()`). */
  mtu: number;
  /** flanneld's `--ip-masq`. */
  ipMasq: boolean;
}

/** Go's `IP4Net.IncrementIP`: the address plus one (wrapping), the prefix kept. */
function firstHost4(cidr: string, field: string): string {
  const net = parseCidrOfFamily(cidr, 4);
  if (net.hasHostBits) throw invalidArgument(`${field} ${cidr} is not a network address`, field);
  return new IP4Net((net.ip + 1) >>> 0, net.prefixLen).toString();
}

function firstHost6(cidr: string, field: string): string {
  const net = parseCidrOfFamily(cidr, 6);
  if (net.hasHostBits) throw invalidArgument(`${field} ${cidr} is not a network address`, field);
  return new IP6Net((net.ip + 1n) & IPV6_MAX, net.prefixLen).toString();
}

/**
 * Builds the `subnet.env` data flanneld writes for a lease (`WriteSubnetFile`): the masked
 * network, the lease's first host address, the IPv6 pair only when the config enables IPv6, the
 * backend MTU and the `--ip-masq` flag.
 *
 * @throws FlannelError `INVALID_ARGUMENT` (a lease without the subnet the config enables),
 * `INVALID_CIDR`
 * @example
 * ```ts
 * const env = subnetEnvFromLease(config, lease, { mtu: 1450, ipMasq: true });
 * env.subnet; // "172.30.8.1/24" for lease 172.30.8.0/24
 * ```
 */
export function subnetEnvFromLease(
  config: NetworkConfig,
  lease: Lease,
  options: SubnetEnvFromLeaseOptions,
): SubnetEnv {
  let network: string | null = null;
  let subnet: string | null = null;
  let ipv6Network: string | null = null;
  let ipv6Subnet: string | null = null;
  if (config.enableIPv4) {
    if (config.network === null) throw invalidArgument("config.network is null", "network");
    network = parseCidrOfFamily(config.network, 4).network().toString();
    subnet = firstHost4(lease.subnet, "subnet");
  }
  if (config.enableIPv6) {
    if (config.ipv6Network === null) {
      throw invalidArgument("config.ipv6Network is null", "ipv6Network");
    }
    if (lease.ipv6Subnet === null) {
      throw invalidArgument("the lease has no IPv6 subnet", "ipv6Subnet");
    }
    ipv6Network = parseCidrOfFamily(config.ipv6Network, 6).network().toString();
    ipv6Subnet = firstHost6(lease.ipv6Subnet, "ipv6Subnet");
  }
  return { network, subnet, ipv6Network, ipv6Subnet, mtu: options.mtu, ipMasq: options.ipMasq };
}

function cidrField(value: string | null, family: 4 | 6, field: string): string | null {
  if (value === null) return null;
  if (typeof value !== "string") throw invalidArgument(`${field} must be a CIDR string`, field);
  return parseCidrOfFamily(value, family).toString();
}

/**
 * Renders `subnet.env` exactly as flanneld's `WriteSubnetFile` writes it: `KEY=value` lines, no
 * quotes, no comments, in the order `FLANNEL_NETWORK`, `FLANNEL_SUBNET` (IPv4 only),
 * `FLANNEL_IPV6_NETWORK`, `FLANNEL_IPV6_SUBNET` (IPv6 only), `FLANNEL_MTU`, `FLANNEL_IPMASQ`.
 * Addresses are validated and written in canonical form.
 *
 * @throws FlannelError `INVALID_CIDR`, `INVALID_ARGUMENT` (an MTU that is not a non-negative
 * integer; a network without its subnet or the reverse)
 * @example
 * ```ts
 * renderSubnetEnv({ network: "10.1.0.0/16", subnet: "10.1.74.1/24", ipv6Network: null,
 *   ipv6Subnet: null, mtu: 1472, ipMasq: false });
 * // "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=false\n"
 * ```
 */
export function renderSubnetEnv(env: SubnetEnv): string {
  const network = cidrField(env.network, 4, "network");
  const subnet = cidrField(env.subnet, 4, "subnet");
  const ipv6Network = cidrField(env.ipv6Network, 6, "ipv6Network");
  const ipv6Subnet = cidrField(env.ipv6Subnet, 6, "ipv6Subnet");
  if ((network === null) !== (subnet === null)) {
    throw invalidArgument("network and subnet go together (both set or both null)", "subnet");
  }
  if ((ipv6Network === null) !== (ipv6Subnet === null)) {
    throw invalidArgument(
      "ipv6Network and ipv6Subnet go together (both set or both null)",
      "ipv6Subnet",
    );
  }
  if (!Number.isSafeInteger(env.mtu) || env.mtu < 0) {
    throw invalidArgument(`mtu must be a non-negative integer, got ${env.mtu}`, "mtu");
  }
  if (typeof env.ipMasq !== "boolean") throw invalidArgument("ipMasq must be a boolean", "ipMasq");
  let out = "";
  if (network !== null) out += `FLANNEL_NETWORK=${network}\nFLANNEL_SUBNET=${subnet}\n`;
  if (ipv6Network !== null) {
    out += `FLANNEL_IPV6_NETWORK=${ipv6Network}\nFLANNEL_IPV6_SUBNET=${ipv6Subnet}\n`;
  }
  return `${out}FLANNEL_MTU=${env.mtu}\nFLANNEL_IPMASQ=${env.ipMasq}\n`;
}

function subnetEnvInvalid(field: string, value: string, message: string): FlannelError {
  return new FlannelError("SUBNET_ENV_INVALID", `${field}=${value}: ${message}`, {
    field,
    details: { value },
  });
}

/**
 * Reads `subnet.env` text: flanneld's own output, and files people edit by hand, read the way
 * `/bin/sh` sources them (comments, blank lines, `export`, quotes: see {@link parseShellEnv}).
 * `FLANNEL_MTU` must be a decimal integer and `FLANNEL_IPMASQ` `true` or `false` when present;
 * the address fields are returned as written.
 *
 * @throws FlannelError `ENV_SYNTAX`, `SUBNET_ENV_INVALID`
 * @example
 * ```ts
 * parseSubnetEnv("FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\n").mtu; // 1472
 * ```
 */
export function parseSubnetEnv(
  text: string,
  options: { env?: Readonly<Record<string, string | undefined>> } = {},
): ParsedSubnetEnv {
  const { assigned } = parseShellEnv(text, options.env === undefined ? {} : { env: options.env });
  const get = (k: string): string | null => (Object.hasOwn(assigned, k) ? assigned[k]! : null);
  const mtuText = get("FLANNEL_MTU");
  let mtu: number | null = null;
  if (mtuText !== null) {
    if (!/^[0-9]{1,15}$/.test(mtuText)) {
      throw subnetEnvInvalid("FLANNEL_MTU", mtuText, "not a decimal integer");
    }
    mtu = Number(mtuText);
  }
  const masqText = get("FLANNEL_IPMASQ");
  let ipMasq: boolean | null = null;
  if (masqText !== null) {
    if (masqText !== "true" && masqText !== "false") {
      throw subnetEnvInvalid("FLANNEL_IPMASQ", masqText, "must be true or false");
    }
    ipMasq = masqText === "true";
  }
  return {
    network: get("FLANNEL_NETWORK"),
    subnet: get("FLANNEL_SUBNET"),
    ipv6Network: get("FLANNEL_IPV6_NETWORK"),
    ipv6Subnet: get("FLANNEL_IPV6_SUBNET"),
    mtu,
    ipMasq,
    variables: assigned,
  };
}

/** Options of {@link writeSubnetEnv}: those of {@link writeFileAtomic}. */
export type WriteSubnetEnvOptions = WriteFileAtomicOptions;

/**
 * Renders and writes `subnet.env` atomically, as flanneld does (renameio): parent directory
 * created 0755, temp file `.subnet.env<random>` beside the target, fsync, rename; a new file is
 * exactly 0644 whatever the umask, an existing file keeps its mode.
 *
 * @throws FlannelError `WRITE_FAILED`, `INVALID_CIDR`, `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await writeSubnetEnv("/run/flannel/subnet.env", subnetEnvFromLease(config, lease, { mtu: 1450, ipMasq: true }));
 * ```
 */
export async function writeSubnetEnv(
  path: string,
  env: SubnetEnv,
  options: WriteSubnetEnvOptions = {},
): Promise<void> {
  await writeFileAtomic(path, renderSubnetEnv(env), options);
}

/**
 * The subnets a previous run left in `subnet.env`, masked to network addresses, as flanneld reads
 * them on startup to ask for the same lease again and to delete stale masq rules (flanneld's
 * `ReadCIDRFromSubnetFile`): each value is split on `,`; parts that do not parse as a CIDR
 * of the right family are skipped; none left, or more than one, gives `null` and a warning.
 */
export interface PreviousSubnets {
  /** Masked `FLANNEL_NETWORK`, e.g. `"10.1.0.0/16"`. */
  readonly network: string | null;
  /** Masked `FLANNEL_SUBNET`: `"10.1.74.0/24"` for `10.1.74.1/24`. */
  readonly subnet: string | null;
  readonly ipv6Network: string | null;
  readonly ipv6Subnet: string | null;
  /** flanneld's log lines for what it could not use (`no subnet found for key: …`). */
  readonly warnings: readonly string[];
}

const PREVIOUS_KEYS = [
  ["network", "FLANNEL_NETWORK", 4],
  ["subnet", "FLANNEL_SUBNET", 4],
  ["ipv6Network", "FLANNEL_IPV6_NETWORK", 6],
  ["ipv6Subnet", "FLANNEL_IPV6_SUBNET", 6],
] as const;

function previousFrom(
  values: Readonly<Record<string, string>> | null,
  source: string,
  warnings: string[],
): PreviousSubnets {
  const out: Record<string, string | null> = {};
  for (const [field, key, family] of PREVIOUS_KEYS) {
    const found: string[] = [];
    const raw = values !== null && Object.hasOwn(values, key) ? values[key]! : null;
    if (raw !== null) {
      for (const part of raw.split(",")) {
        try {
          found.push(parseCidrOfFamily(part, family).network().toString());
        } catch {
          warnings.push(`Couldn't parse previous ${key} from subnet file at ${source}: ${part}`);
        }
      }
    }
    if (found.length === 1) {
      out[field] = found[0]!;
    } else {
      out[field] = null;
      warnings.push(
        found.length === 0
          ? `no subnet found for key: ${key} in file: ${source}`
          : `error reading subnet: more than 1 entry found for key: ${key} in file ${source}`,
      );
    }
  }
  return {
    network: out.network ?? null,
    subnet: out.subnet ?? null,
    ipv6Network: out.ipv6Network ?? null,
    ipv6Subnet: out.ipv6Subnet ?? null,
    warnings,
  };
}

/**
 * {@link previousSubnetFromFile} on text already read. A file that cannot be parsed gives all
 * `null` and a warning, as in flanneld (it logs and starts without a previous subnet).
 *
 * @example
 * ```ts
 * previousSubnetFromText("FLANNEL_SUBNET=10.1.74.1/24\n").subnet; // "10.1.74.0/24"
 * ```
 */
export function previousSubnetFromText(
  text: string,
  source = DEFAULT_SUBNET_FILE,
): PreviousSubnets {
  const warnings: string[] = [];
  let values: Readonly<Record<string, string>> | null = null;
  try {
    values = parseShellEnv(text).assigned;
  } catch (e) {
    warnings.push(
      `Couldn't fetch previous subnets from subnet file at ${source}: ${(e as Error).message}`,
    );
  }
  return previousFrom(values, source, warnings);
}

/**
 * Reads the subnets a previous flanneld run wrote to `subnet.env` (default
 * `/run/flannel/subnet.env`), masked, for lease reuse (flanneld's `ReadCIDRFromSubnetFile`). A missing or unreadable
 * file gives all `null` (with warnings), never an error: flanneld then simply asks for any subnet.
 *
 * @throws FlannelError `ABORTED`
 * @example
 * ```ts
 * const prev = await previousSubnetFromFile("/run/flannel/subnet.env");
 * store.acquireLease({ previousSubnet: prev.subnet, ... });
 * ```
 */
export async function previousSubnetFromFile(
  path: string = DEFAULT_SUBNET_FILE,
  options: { signal?: AbortSignal } = {},
): Promise<PreviousSubnets> {
  throwIfAborted(options.signal);
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", signal: options.signal });
  } catch (e) {
    throwIfAborted(options.signal);
    if ((e as { code?: unknown }).code === "ENOENT") return previousFrom(null, path, []);
    return previousFrom(null, path, [
      `Couldn't fetch previous subnets from subnet file at ${path}: ${(e as Error).message}`,
    ]);
  }
  return previousSubnetFromText(text, path);
}
