/**
 * What the planners take and what they report besides the plan, and the remote-lease selection
 * every backend shares (family, own-lease exclusion, validation, duplicates, order).
 */
import type { NetworkConfig } from "../config/types.js";
import { FlannelError, printable } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { formatIPv4, scanIPv4 } from "../ip/ipv4.js";
import { formatIPv6, scanIPv6 } from "../ip/ipv6.js";
import { type IPFamily, type IPNet, parseNetOrNull as parseNet } from "../ip/parse.js";
import type { JsonValue, Lease } from "../lease/types.js";
import type { DataPlanePlan } from "./types.js";

/** The node's external (underlay) interface, as flanneld selects it (`LookupExtIface` in flannel's `main.go`). */
export interface ExternalInterfaceInfo {
  /** Device name, e.g. `"eth0"`: the vxlan lower device, the host-gw route device. */
  readonly name: string;
  /** The device's MTU. */
  readonly mtu: number;
  /**
   * The interface's own address of the plan's family (flanneld's `IfaceAddr`). host-gw refuses
   * to plan when it differs from the public IP (NAT). Absent = same as the public IP.
   */
  readonly address?: string | null;
}

/** Input common to every planner. Plain data; nothing is read from the host. */
export interface PlanInput {
  /** The network config (`parseNetworkConfig`); its backend must match the planner. */
  readonly config: NetworkConfig;
  /** Address family to plan; 4 by default. Dual stack = one plan per family. */
  readonly family?: IPFamily;
  /** This node's lease: its subnet gets the device address and never gets remote state. */
  readonly ownLease: Lease;
  /** The leases in the store (the own lease may be among them; it is left out). */
  readonly leases: Iterable<Lease>;
  readonly externalInterface: ExternalInterfaceInfo;
  /**
   * This node's public IP of the family (`--public-ip`); defaults to the own lease's
   * `publicIP` / `publicIPv6`.
   */
  readonly publicIP?: string;
}

/**
 * Why a remote lease produced no state:
 * - `backend-mismatch`: its `BackendType` is not the planner's (flannel logs `ignoring non-vxlan …`);
 * - `no-subnet`: it holds no subnet of the planned family;
 * - `bad-subnet`: its subnet text does not parse, or has host bits set;
 * - `outside-network`: its subnet is not inside the config's network;
 * - `no-public-ip`: its public IP of the family is missing, unparsable or unspecified;
 * - `same-public-ip`: its public IP is this node's (a stale lease of this node);
 * - `bad-backend-data`: its backend data does not decode (vxlan: `VtepMAC` missing, not a
 *   48-bit MAC, all-zero or multicast);
 * - `duplicate-subnet`: another valid lease holds the same subnet and won (see `planVxlan`).
 */
export type SkipReason =
  | "backend-mismatch"
  | "no-subnet"
  | "bad-subnet"
  | "outside-network"
  | "no-public-ip"
  | "same-public-ip"
  | "bad-backend-data"
  | "duplicate-subnet";

/** A remote lease the planner left out, and why. */
export interface SkippedLease {
  readonly lease: Lease;
  readonly reason: SkipReason;
  /** One line for a log, in flannel's wording where flannel logs the same case. */
  readonly message: string;
}

/** A plan plus the remote leases it left out (sorted, so the result is order-independent). */
export interface PlanResult extends DataPlanePlan {
  readonly skipped: readonly SkippedLease[];
}

/** @internal The resolved local side of a plan. */
export interface LocalContext {
  readonly family: IPFamily;
  /** The config network of the family. */
  readonly network: IPNet;
  /** This node's subnet of the family, host bits cleared. */
  readonly ownSubnet: IPNet;
  /** This node's public IP of the family, canonical text. */
  readonly publicIP: string;
}

/** @internal A remote lease that passed the common checks. */
export interface RemoteLease<T> {
  readonly lease: Lease;
  readonly subnet: IPNet;
  /** Canonical CIDR text of the subnet. */
  readonly dst: string;
  /** The subnet's network address, canonical text. */
  readonly subnetIP: string;
  /** The remote public IP of the family, canonical text. */
  readonly publicIP: string;
  /** What the backend decoded from the lease. */
  readonly data: T;
}

/** @internal */
export function planInvalid(message: string, field?: string): FlannelError {
  return new FlannelError("PLAN_INVALID", message, field === undefined ? {} : { field });
}

/** @internal Canonical text of an address of the family, or `null` (unparsable or unspecified). */
export function canonicalHostIP(text: unknown, family: IPFamily): string | null {
  if (typeof text !== "string") return null;
  if (family === 4) {
    const v = scanIPv4(text, 0, text.length);
    return v > 0 ? formatIPv4(v) : null;
  }
  const v = scanIPv6(text, 0, text.length);
  return v > 0n ? formatIPv6(v) : null;
}

/** @internal Orders two networks of one family by address, then prefix length. */
export function compareNets(a: IPNet, b: IPNet): number {
  if (a.family === 4 && b.family === 4) return IP4Net.compare(a, b);
  if (a.family === 6 && b.family === 6) return IP6Net.compare(a, b);
  return a.family - b.family;
}

/** @internal `inner` lies inside `outer` (same family). */
export function contains(outer: IPNet, inner: IPNet): boolean {
  if (outer.family === 4 && inner.family === 4) return outer.contains(inner);
  if (outer.family === 6 && inner.family === 6) return outer.contains(inner);
  return false;
}

function sameNet(a: IPNet, b: IPNet): boolean {
  return compareNets(a, b) === 0;
}

/** @internal The host address of a network of either family, canonical text. */
export function netIP(net: IPNet): string {
  return net.ipString;
}

/** @internal `addr/32` or `addr/128` of a network's address. */
export function hostCidr(net: IPNet): string {
  return `${net.ipString}/${net.family === 4 ? 32 : 128}`;
}

/**
 * @internal Resolves the local side: the family's network, own subnet and public IP.
 * @throws FlannelError `PLAN_INVALID`
 */
export function resolveLocal(input: PlanInput, backendType: string): LocalContext {
  const { config, ownLease } = input;
  const family = input.family ?? 4;
  if (family !== 4 && family !== 6) throw planInvalid(`invalid address family: ${family}`);
  if (config?.backend?.type !== backendType) {
    throw planInvalid(
      `the network config's backend is ${printable(config?.backend?.type)}, not ${backendType}`,
      "Backend.Type",
    );
  }
  const enabled = family === 4 ? config.enableIPv4 : config.enableIPv6;
  const networkText = family === 4 ? config.network : config.ipv6Network;
  const network = enabled ? parseNet(networkText, family) : null;
  if (network === null) {
    throw planInvalid(
      `IPv${family} is not enabled in the network config`,
      family === 4 ? "EnableIPv4" : "EnableIPv6",
    );
  }
  const ownText = family === 4 ? ownLease?.subnet : ownLease?.ipv6Subnet;
  const own = parseNet(ownText, family);
  if (own === null || own.prefixLen === 0) {
    throw planInvalid(`IPv${family} is enabled but the lease has no IPv${family}`, "ownLease");
  }
  const publicText =
    input.publicIP ?? (family === 4 ? ownLease.attrs?.publicIP : ownLease.attrs?.publicIPv6);
  const publicIP = canonicalHostIP(publicText, family);
  if (publicIP === null) {
    throw planInvalid(`invalid IPv${family} public IP: ${printable(publicText)}`, "publicIP");
  }
  return { family, network: network.network(), ownSubnet: own.network(), publicIP };
}

/** @internal Validates the external interface: a name and a positive integer MTU. */
export function checkExternalInterface(input: PlanInput): void {
  const ext = input.externalInterface;
  if (typeof ext?.name !== "string" || ext.name === "") {
    throw planInvalid("the external interface needs a name", "externalInterface.name");
  }
  if (!(Number.isInteger(ext.mtu) && ext.mtu > 0)) {
    throw planInvalid(
      `failed to determine MTU for ${ext.name} interface: ${printable(ext.mtu)}`,
      "externalInterface.mtu",
    );
  }
}

/** Deterministic text of a JSON value: object keys sorted. */
function stableJson(value: JsonValue | undefined): string {
  if (typeof value === "bigint") return printable(value);
  if (value === null || value === undefined || typeof value !== "object") {
    return JSON.stringify(value ?? null);
  }
  if (Array.isArray(value)) return `[${value.map((v) => stableJson(v)).join(",")}]`;
  const obj = value as { readonly [key: string]: JsonValue };
  const keys = Object.keys(obj).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`).join(",")}}`;
}

/** @internal A total order key of a lease's content, for tie-breaks and report order. */
export function leaseKey(lease: Lease): string {
  const a = lease?.attrs;
  const exp = printable(expiryOf(lease));
  return [
    printable(lease?.subnet),
    printable(lease?.ipv6Subnet),
    printable(a?.publicIP),
    printable(a?.publicIPv6),
    printable(a?.backendType),
    stableJson(a?.backendData),
    stableJson(a?.backendV6Data),
    exp,
    lease?.revision === undefined ? "" : printable(lease.revision),
  ].join("|");
}

/** Expiry in ms: a reservation (`null`) never expires; an unreadable value counts as expired. */
function expiryOf(lease: Lease): number {
  const e = lease?.expiration;
  if (e === null) return Number.POSITIVE_INFINITY;
  const t = e instanceof Date ? e.getTime() : Number.NaN;
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

/** Positive when `a` should win a duplicate subnet over `b`. */
function preferLease(a: Lease, b: Lease): number {
  // A reservation (no expiration) is an operator's pin; otherwise the lease that lives longest,
  // then the one written last, then a content order so the choice never depends on input order.
  const ea = expiryOf(a);
  const eb = expiryOf(b);
  if (ea !== eb) return ea > eb ? 1 : -1;
  const ra = typeof a.revision === "bigint" ? a.revision : -1n;
  const rb = typeof b.revision === "bigint" ? b.revision : -1n;
  if (ra !== rb) return ra > rb ? 1 : -1;
  const ka = leaseKey(a);
  const kb = leaseKey(b);
  return ka === kb ? 0 : ka < kb ? 1 : -1;
}

/** @internal What a backend's decoder returns: the decoded data, or why the lease is refused. */
export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: SkipReason; readonly message: string };

/** @internal How the shared selection treats a backend. */
export interface SelectOptions<T> {
  /** The `BackendType` remote leases must carry. */
  readonly backendType: string;
  /** flannel's log line for a lease of another backend. */
  readonly mismatchMessage: (lease: Lease) => string;
  /** Backend-specific decoding (vxlan: the VtepMAC). */
  readonly decode: (lease: Lease, family: IPFamily) => Decoded<T>;
}

/**
 * @internal The remote leases a backend programs, sorted by subnet, and the ones it leaves out
 * (sorted by reason, then content). Leases of the own subnet are dropped silently, as flannel's
 * lease watcher drops them.
 */
export function selectRemotes<T>(
  input: PlanInput,
  local: LocalContext,
  options: SelectOptions<T>,
): { remotes: RemoteLease<T>[]; skipped: SkippedLease[] } {
  const { family, network, ownSubnet, publicIP: ownPublicIP } = local;
  const skipped: SkippedLease[] = [];
  const bySubnet = new Map<string, RemoteLease<T>[]>();
  const skip = (lease: Lease, reason: SkipReason, message: string) =>
    skipped.push({ lease, reason, message });

  for (const lease of input.leases) {
    const subnetText = family === 4 ? lease?.subnet : lease?.ipv6Subnet;
    const empty =
      subnetText === null ||
      subnetText === undefined ||
      (family === 4 && subnetText === "0.0.0.0/0");
    const subnet = empty ? null : parseNet(subnetText, family);
    if (subnet !== null && !subnet.hasHostBits && sameNet(subnet, ownSubnet)) continue;
    if (lease?.attrs?.backendType !== options.backendType) {
      skip(lease, "backend-mismatch", options.mismatchMessage(lease));
      continue;
    }
    if (empty) {
      skip(lease, "no-subnet", `lease has no IPv${family} subnet`);
      continue;
    }
    if (subnet === null || subnet.hasHostBits) {
      skip(lease, "bad-subnet", `invalid IPv${family} subnet: ${printable(subnetText)}`);
      continue;
    }
    const dst = subnet.toString();
    if (!contains(network, subnet)) {
      skip(lease, "outside-network", `subnet ${dst} is outside the network ${network}`);
      continue;
    }
    const publicText = family === 4 ? lease.attrs.publicIP : lease.attrs.publicIPv6;
    const publicIP = canonicalHostIP(publicText, family);
    if (publicIP === null) {
      skip(lease, "no-public-ip", `lease ${dst} has no usable public IP: ${printable(publicText)}`);
      continue;
    }
    if (publicIP === ownPublicIP) {
      skip(lease, "same-public-ip", `lease ${dst} has this node's public IP ${publicIP}`);
      continue;
    }
    const decoded = options.decode(lease, family);
    if (!decoded.ok) {
      skip(lease, decoded.reason, decoded.message);
      continue;
    }
    const remote: RemoteLease<T> = {
      lease,
      subnet,
      dst,
      subnetIP: subnet.ipString,
      publicIP,
      data: decoded.value,
    };
    const same = bySubnet.get(dst);
    if (same === undefined) bySubnet.set(dst, [remote]);
    else same.push(remote);
  }

  const remotes: RemoteLease<T>[] = [];
  for (const [dst, candidates] of bySubnet) {
    let winner = candidates[0]!;
    remotes.push(winner);
    if (candidates.length === 1) continue;
    for (const c of candidates)
      if (c !== winner && preferLease(c.lease, winner.lease) > 0) winner = c;
    remotes[remotes.length - 1] = winner;
    for (const c of candidates) {
      if (c === winner) continue;
      skip(
        c.lease,
        "duplicate-subnet",
        `subnet ${dst} is also leased to ${winner.publicIP}; keeping that lease`,
      );
    }
  }
  remotes.sort((a, b) => compareNets(a.subnet, b.subnet));
  const keyed = skipped.map((s) => ({ s, k: `${s.reason}|${leaseKey(s.lease)}` }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return { remotes, skipped: keyed.map((x) => x.s) };
}
