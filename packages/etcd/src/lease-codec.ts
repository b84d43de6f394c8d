/**
 * From etcd keys and values to core's `Lease`, and back, for both stores. The formats
 * themselves (subnet keys, lease JSON) are core's; this module only applies them to paths
 * under the prefix.
 */
import {
  canonicalCidr,
  FlannelError,
  formatLeaseAttrs,
  type Lease,
  type LeaseAttrs,
  type LeaseJsonShape,
  makeSubnetKey,
  parseLeaseAttrs,
  parseSubnetKey,
  type SkippedLeaseEntry,
} from "@flannel-sdk/core";
import type { KeyLayout } from "./prefix.js";

/** The full etcd key of a lease: `<prefix>/subnets/10.5.1.0-24[&fc00::-64]`. */
export function leaseKey(keys: KeyLayout, subnet: string, ipv6Subnet: string | null): string {
  return keys.subnets + makeSubnetKey(subnet, ipv6Subnet);
}

/**
 * The full etcd key of a lease as it was read: its stored {@link Lease.key} when it has one (a
 * non-canonical key), else the canonical key of its subnets.
 * @throws FlannelError `SUBNET_KEY_INVALID` (a lease without `key` whose subnets make no key)
 */
export function keyOfLease(keys: KeyLayout, lease: Lease): string {
  return lease.key === undefined
    ? leaseKey(keys, lease.subnet, lease.ipv6Subnet)
    : keys.subnets + lease.key;
}

/** The subnets a full lease key names. @throws FlannelError `SUBNET_KEY_INVALID` */
export function subnetsOfKey(
  keys: KeyLayout,
  key: string,
): { subnet: string; ipv6Subnet: string | null } {
  const name = key.startsWith(keys.subnets) ? key.slice(keys.subnets.length) : null;
  // A key nested deeper (`subnets/x/10.5.1.0-24`) is no lease, though its last segment parses.
  if (name === null || name.includes("/")) {
    throw new FlannelError("SUBNET_KEY_INVALID", `not a subnet key: ${key}`, {
      details: { key },
    });
  }
  return parseSubnetKey(name);
}

/**
 * Decodes one stored lease. @throws FlannelError `SUBNET_KEY_INVALID`, `LEASE_INVALID`
 */
export function decodeLease(
  keys: KeyLayout,
  key: string,
  value: string,
  expiration: Date | null,
  revision: bigint,
): Lease {
  const { subnet, ipv6Subnet } = subnetsOfKey(keys, key);
  const attrs = parseLeaseAttrs(value);
  return { subnet, ipv6Subnet, attrs, expiration, revision };
}

/** The canonical key name of these subnets, or `null` when they make none (host bits…). */
function canonicalName(subnet: string, ipv6Subnet: string | null): string | null {
  try {
    return makeSubnetKey(subnet, ipv6Subnet);
  } catch {
    return null;
  }
}

/**
 * The subnets a lease key covers, host bits masked (`10.5.1.17-24` covers 10.5.1.0/24): what an
 * entry holds for allocation, however its key is spelled. `null` when it is no subnet key.
 */
export function coveredSubnets(
  keys: KeyLayout,
  key: string,
): { subnet: string; ipv6Subnet: string | null } | null {
  let s: { subnet: string; ipv6Subnet: string | null };
  try {
    s = subnetsOfKey(keys, key);
  } catch {
    return null;
  }
  return {
    subnet: canonicalCidr(s.subnet, { mask: true }),
    ipv6Subnet: s.ipv6Subnet === null ? null : canonicalCidr(s.ipv6Subnet, { mask: true }),
  };
}

/** True when `key` is a subnet key in exactly the spelling `makeSubnetKey` gives. */
export function isCanonicalKey(keys: KeyLayout, key: string): boolean {
  try {
    const s = subnetsOfKey(keys, key);
    return canonicalName(s.subnet, s.ipv6Subnet) === key.slice(keys.subnets.length);
  } catch {
    return false;
  }
}

/**
 * Decodes one stored entry: a lease when key and value are readable and the key is canonical;
 * else a skipped entry. A readable lease under a non-canonical key (another tool's, or a hand's:
 * host bits, `-024`, another IPv6 spelling) is skipped too — listing it would make every consumer
 * compute a key it does not have — but carries the lease as read with its stored `key`, so its
 * owner can renew or release it exactly as listed.
 */
export function decodeEntry(
  keys: KeyLayout,
  key: string,
  value: string,
  expiration: Date | null,
  revision: bigint,
): Lease | SkippedLeaseEntry {
  let lease: Lease;
  try {
    lease = decodeLease(keys, key, value, expiration, revision);
  } catch (e) {
    return skippedEntry(key, e);
  }
  const name = key.slice(keys.subnets.length);
  if (canonicalName(lease.subnet, lease.ipv6Subnet) === name) return lease;
  const covered = coveredSubnets(keys, key)!;
  const canonical = canonicalName(covered.subnet, covered.ipv6Subnet) ?? "none";
  return {
    key,
    error: new FlannelError(
      "SUBNET_KEY_INVALID",
      `subnet key ${name} is not canonical (the canonical key of what it covers is ${canonical}): skipped, its subnet counts as taken`,
      { details: { key, canonical } },
    ),
    lease: { ...lease, key: name },
  };
}

/** A skipped entry for a key or value that could not be read. */
export function skippedEntry(key: string, error: unknown): SkippedLeaseEntry {
  return {
    key,
    error:
      error instanceof FlannelError
        ? error
        : new FlannelError("LEASE_INVALID", String(error), { cause: error }),
  };
}

/** The lease JSON as it will be stored. @throws FlannelError `LEASE_INVALID` */
export function encodeAttrs(attrs: LeaseAttrs, shape: LeaseJsonShape): string {
  return formatLeaseAttrs(attrs, { shape });
}

/** Attributes as a reader sees them once written. @throws FlannelError `LEASE_INVALID` */
export function normalizeAttrs(attrs: LeaseAttrs): LeaseAttrs {
  return parseLeaseAttrs(formatLeaseAttrs(attrs));
}

/**
 * True when two attribute sets name the same node: the same PublicIP, or for nodes without an
 * IPv4 identity (`0.0.0.0`) the same PublicIPv6 (the identity `planLeaseAcquisition` uses).
 */
export function sameNode(a: LeaseAttrs, b: LeaseAttrs): boolean {
  if (a.publicIP !== "0.0.0.0") return a.publicIP === b.publicIP;
  return a.publicIPv6 !== null && b.publicIP === "0.0.0.0" && a.publicIPv6 === b.publicIPv6;
}

/** Attributes for a removed lease whose value was never seen. */
export const UNKNOWN_ATTRS: LeaseAttrs = {
  publicIP: "0.0.0.0",
  publicIPv6: null,
  backendType: "",
  backendData: null,
  backendV6Data: null,
};

/**
 * Leases that stand for unreadable entries whose key still names a subnet: an acquisition must
 * count that subnet as held (creating its key would fail), though the entry is no lease anyone
 * can reuse (its attrs are {@link UNKNOWN_ATTRS}, which match no node).
 */
export function heldByUnreadable(
  keys: KeyLayout,
  skipped: readonly SkippedLeaseEntry[],
  revisionOf: (key: string) => bigint,
): Lease[] {
  const held: Lease[] = [];
  for (const entry of skipped) {
    const s = coveredSubnets(keys, entry.key);
    // not a subnet key at all: holds nothing
    if (s === null) continue;
    held.push({
      ...s,
      attrs: UNKNOWN_ATTRS,
      expiration: new Date(8.64e15),
      revision: revisionOf(entry.key),
    });
  }
  return held;
}

/** Releasing by a string: a CIDR (either family) rather than a key or path. */
export function isCidrText(text: string): boolean {
  return text.includes("/") && !text.includes("subnets/") && !/^\//.test(text);
}
