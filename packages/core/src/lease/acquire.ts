/**
 * flannel v0.28's lease acquisition (`pkg/subnet/etcd/local_manager.go`, `tryAcquireLease`), as a
 * pure decision ({@link planLeaseAcquisition}); the retry loop every store runs around it is
 * `runLeaseAcquisition` (`acquire-loop.ts`).
 */

import { type AllocationStrategy, SubnetAllocator } from "../allocator/subnet-allocator.js";
import type { NetworkConfig } from "../config/types.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { parseNetOrNull } from "../ip/parse.js";
import { formatLeaseAttrs, parseLeaseAttrs } from "./json.js";
import type { Lease, LeaseAttrs } from "./types.js";

/**
 * A lease's time to live: 24 h, fixed in flannel (`subnetTTL`). Stores set a lease's
 * `expiration` this far ahead on every acquire and renew.
 *
 * @example
 * ```ts
 * const renewBy = new Date(lease.expiration!.getTime() - (SUBNET_TTL_SECONDS / 2) * 1000);
 * ```
 */
export const SUBNET_TTL_SECONDS = 86_400;

/**
 * How many times a lost create race is retried before `MAX_RETRIES` (flannel's `raceRetries`).
 *
 * @example
 * ```ts
 * if (isFlannelError(e, "MAX_RETRIES")) console.error(`lost ${LEASE_RACE_RETRIES} races in a row`);
 * ```
 */
export const LEASE_RACE_RETRIES = 10;

/**
 * The IPv4 subnet of every lease on an IPv6-only network (flannel's empty `IP4Net`): such a
 * lease's key is `0.0.0.0-0&<IPv6 subnet>`.
 *
 * @example
 * ```ts
 * const v6Only = lease.subnet === NO_IPV4_SUBNET;
 * ```
 */
export const NO_IPV4_SUBNET = "0.0.0.0/0";

/** Input of {@link planLeaseAcquisition}. */
export interface LeaseAcquisitionInput {
  /** The validated network config. */
  readonly config: NetworkConfig;
  /** Every live lease in the store, in key order. */
  readonly leases: readonly Lease[];
  /** This node's attributes; `publicIP` is its identity. */
  readonly attrs: LeaseAttrs;
  /** The IPv4 subnet this node held before (`FLANNEL_SUBNET`, host bits are masked). */
  readonly previousSubnet?: string | null;
  /** The IPv6 subnet this node held before (`FLANNEL_IPV6_SUBNET`). */
  readonly previousIPv6Subnet?: string | null;
  /** Allocation strategy for a new subnet. Default `"random"` (flannel's). */
  readonly strategy?: AllocationStrategy;
  /** RNG in [0, 1) for the `random` strategy. Default `Math.random`. */
  readonly random?: () => number;
}

/** Rewrite a lease this node already holds (found by its PublicIP). */
export interface LeaseUpdateWrite {
  readonly mode: "update";
  readonly reason: "public-ip";
  /** The lease being reused, as listed. */
  readonly lease: Lease;
  readonly subnet: string;
  readonly ipv6Subnet: string | null;
  /** This node's attributes, which replace the stored ones. */
  readonly attrs: LeaseAttrs;
  /** 86400, or `null` to write without a TTL: a reservation stays a reservation. */
  readonly ttlSeconds: number | null;
}

/** Create a lease for a subnet, only if its key does not exist yet. */
export interface LeaseCreateWrite {
  readonly mode: "create";
  /** The node's previous subnet, free and compatible; or a newly allocated one. */
  readonly reason: "previous-subnet" | "allocated";
  readonly subnet: string;
  readonly ipv6Subnet: string | null;
  readonly attrs: LeaseAttrs;
  readonly ttlSeconds: number;
}

/** What a store must write. */
export type LeaseWrite = LeaseUpdateWrite | LeaseCreateWrite;

/** Output of {@link planLeaseAcquisition}. */
export interface LeaseAcquisitionPlan {
  /** Leases to delete first: this node's lease when the config no longer fits it. */
  readonly delete: readonly Lease[];
  readonly write: LeaseWrite;
  /** What flanneld would log for these decisions, in order. */
  readonly notes: readonly string[];
}

/**
 * Decides how a node gets its lease, with flannel v0.28's rules (`tryAcquireLease`):
 * 1. the first lease whose `PublicIP` is this node's is reused when compatible with the config
 *    (subnet network address within [SubnetMin, SubnetMax], prefix = SubnetLen, and the IPv6
 *    part likewise, or absent when IPv6 is off) — rewritten with the new attrs and a 24 h TTL,
 *    or no TTL when it is a reservation (flannel loses that on etcd v3, issue #1329; we keep
 *    it); when it is not compatible it is deleted;
 * 2. else the previous subnet is reused when compatible and no live lease overlaps it (the v0.18
 *    rule; v0.11 took over a held subnet, the cause of duplicate subnets);
 * 3. else a subnet is allocated with `SubnetAllocator` over the free window (both families on
 *    a dual-stack network).
 *
 * Where we differ, deliberately: when several leases carry this node's PublicIP, a reservation
 * among them is preferred to an ordinary lease (so a reservation made while the node held
 * another lease takes effect); "held" means any overlapping lease, of either family, not just an
 * equal IPv4 subnet; a lease deleted in step 1 no longer counts as held; on an IPv6-only network
 * the previous IPv6 subnet is reused too (flannel only looks at the IPv4 one); a previous IPv6
 * subnet is ignored (rather than spoiling the IPv4 one) when IPv6 is off.
 *
 * @throws FlannelError `OUT_OF_SUBNETS` (`out of subnets`) when step 3 finds no free subnet,
 * `LEASE_INVALID` when `attrs` cannot be written.
 * @example
 * ```ts
 * const plan = planLeaseAcquisition({ config, leases, attrs, previousSubnet: "10.5.52.0/24" });
 * for (const lease of plan.delete) await deleteKey(lease);
 * if (plan.write.mode === "create") await createIfAbsent(plan.write);
 * ```
 */
export function planLeaseAcquisition(input: LeaseAcquisitionInput): LeaseAcquisitionPlan {
  const { config } = input;
  const attrs = normalizeLeaseAttrs(input.attrs);
  const notes: string[] = [];
  const toDelete: Lease[] = [];
  let leases = input.leases;

  const mine = leasesOf(leases, attrs);
  // Flannel takes the first lease of this PublicIP; a reservation among them wins here.
  const own = mine.find((l) => l.expiration === null) ?? mine[0];
  if (own !== undefined) {
    if (isLeaseCompatible(config, own.subnet, own.ipv6Subnet)) {
      notes.push(
        `Found lease (ip: ${own.subnet} ipv6: ${own.ipv6Subnet ?? "<nil>"}) for current IP (${identityOf(attrs)}), reusing`,
      );
      return {
        delete: toDelete,
        notes,
        write: {
          mode: "update",
          reason: "public-ip",
          lease: own,
          subnet: own.subnet,
          ipv6Subnet: own.ipv6Subnet,
          attrs,
          ttlSeconds: own.expiration === null ? null : SUBNET_TTL_SECONDS,
        },
      };
    }
    notes.push(
      `Found lease (${own.subnet}) for current IP (${identityOf(attrs)}) but not compatible with current config, deleting`,
    );
    toDelete.push(own);
    leases = leases.filter((l) => l !== own);
  }

  const previous = previousCandidate(config, input.previousSubnet, input.previousIPv6Subnet);
  if (previous !== null) {
    const label =
      previous.ipv6Subnet === null ? previous.subnet : `${previous.subnet}, ${previous.ipv6Subnet}`;
    if (!isLeaseCompatible(config, previous.subnet, previous.ipv6Subnet)) {
      notes.push(
        `Found previously leased subnet (${label}) that is not compatible with the Etcd network config, ignoring`,
      );
    } else if (!isHeld(config, leases, previous.subnet, previous.ipv6Subnet)) {
      notes.push(`Found previously leased subnet (${label}), reusing`);
      return {
        delete: toDelete,
        notes,
        write: {
          mode: "create",
          reason: "previous-subnet",
          subnet: previous.subnet,
          ipv6Subnet: previous.ipv6Subnet,
          attrs,
          ttlSeconds: SUBNET_TTL_SECONDS,
        },
      };
    }
  }

  const identity = identityOf(attrs);
  let subnet = NO_IPV4_SUBNET;
  if (config.enableIPv4) {
    notes.push(`Picking subnet in range ${config.subnetMin} ... ${config.subnetMax}`);
    const alloc = new SubnetAllocator(config, allocatorOptions(input, 4, identity));
    // 0.0.0.0/0 is an IPv6-only lease's placeholder, not a claim on the whole IPv4 space.
    for (const l of leases) if (l.subnet !== NO_IPV4_SUBNET) alloc.occupy(l.subnet);
    subnet = alloc.allocate({ identity });
  }
  let ipv6Subnet: string | null = null;
  if (config.enableIPv6) {
    notes.push(`Picking ipv6 subnet in range ${config.ipv6SubnetMin} ... ${config.ipv6SubnetMax}`);
    const alloc = new SubnetAllocator(config, allocatorOptions(input, 6, identity));
    for (const l of leases) if (l.ipv6Subnet !== null) alloc.occupy(l.ipv6Subnet);
    ipv6Subnet = alloc.allocate({ identity });
  }
  return {
    delete: toDelete,
    notes,
    write: {
      mode: "create",
      reason: "allocated",
      subnet,
      ipv6Subnet,
      attrs,
      ttlSeconds: SUBNET_TTL_SECONDS,
    },
  };
}

function allocatorOptions(input: LeaseAcquisitionInput, family: 4 | 6, identity: string) {
  return {
    family,
    identity,
    ...(input.strategy === undefined ? {} : { strategy: input.strategy }),
    ...(input.random === undefined ? {} : { random: input.random }),
  };
}

/** The node's identity: its PublicIP, or its PublicIPv6 on an IPv6-only node. */
function identityOf(attrs: LeaseAttrs): string {
  return attrs.publicIP === "0.0.0.0" && attrs.publicIPv6 !== null
    ? attrs.publicIPv6
    : attrs.publicIP;
}

/**
 * True when a lease carrying `held` belongs to the node with attrs `node`: same PublicIP; for a
 * node without an IPv4 identity (PublicIP `0.0.0.0`, an IPv6-only node), same PublicIPv6; a node
 * with neither owns nothing (flannel would hand every such node the same lease).
 * @internal
 */
export function isSameNode(held: LeaseAttrs, node: LeaseAttrs): boolean {
  if (node.publicIP !== "0.0.0.0") return held.publicIP === node.publicIP;
  return (
    node.publicIPv6 !== null && held.publicIP === "0.0.0.0" && held.publicIPv6 === node.publicIPv6
  );
}

/** The leases that belong to the node with these attrs, in list order. @internal */
export function leasesOf(leases: readonly Lease[], attrs: LeaseAttrs): Lease[] {
  return leases.filter((l) => isSameNode(l.attrs, attrs));
}

function previousCandidate(
  config: NetworkConfig,
  previousSubnet: string | null | undefined,
  previousIPv6Subnet: string | null | undefined,
): { subnet: string; ipv6Subnet: string | null } | null {
  const v4 = previousSubnet ? maskedOrNull(previousSubnet, 4) : null;
  const v6 = previousIPv6Subnet ? maskedOrNull(previousIPv6Subnet, 6) : null;
  if (config.enableIPv4) {
    if (v4 === null || v4 === NO_IPV4_SUBNET) return null;
    return { subnet: v4, ipv6Subnet: config.enableIPv6 ? v6 : null };
  }
  if (!config.enableIPv6 || v6 === null) return null;
  return { subnet: NO_IPV4_SUBNET, ipv6Subnet: v6 };
}

// An unreadable previous subnet counts as "no previous subnet", as an unparsable subnet.env
// line does in flannel.
function maskedOrNull(text: string, family: 4 | 6): string | null {
  return parseNetOrNull(text, family)?.network().toString() ?? null;
}

/**
 * True when a lease with these subnets fits the config (flannel's `isSubnetConfigCompat` and
 * `isIPv6SubnetConfigCompat`): network address within [SubnetMin, SubnetMax] and the prefix
 * length is SubnetLen, for each enabled family; no IPv6 subnet when IPv6 is off; the IPv4
 * subnet is `0.0.0.0/0` when IPv4 is off. Unreadable subnet text is simply not compatible.
 *
 * @throws FlannelError `INVALID_CIDR` only for a config whose SubnetMin/SubnetMax do not parse
 *   (one that did not come from `parseNetworkConfig`).
 * @example
 * ```ts
 * isLeaseCompatible(parseNetworkConfig('{"Network":"10.5.0.0/16"}'), "10.5.3.0/24", null); // true
 * ```
 */
export function isLeaseCompatible(
  config: NetworkConfig,
  subnet: string,
  ipv6Subnet: string | null,
): boolean {
  return isIPv4Compatible(config, subnet) && isIPv6Compatible(config, ipv6Subnet);
}

/** The IPv4 half of {@link isLeaseCompatible}. @internal */
export function isIPv4Compatible(config: NetworkConfig, subnet: string): boolean {
  const net = parseNetOrNull(subnet, 4);
  if (net === null) return false;
  if (!config.enableIPv4) return net.prefixLen === 0 && net.ip === 0;
  const min = IP4Net.parse(`${config.subnetMin}/32`).ip;
  const max = IP4Net.parse(`${config.subnetMax}/32`).ip;
  return net.ip >= min && net.ip <= max && net.prefixLen === config.subnetLen;
}

/** The IPv6 half of {@link isLeaseCompatible}. @internal */
export function isIPv6Compatible(config: NetworkConfig, ipv6Subnet: string | null): boolean {
  if (!config.enableIPv6) return ipv6Subnet === null;
  if (ipv6Subnet === null) return false;
  const net6 = parseNetOrNull(ipv6Subnet, 6);
  if (net6 === null) return false;
  const min6 = IP6Net.parse(`${config.ipv6SubnetMin}/128`).ip;
  const max6 = IP6Net.parse(`${config.ipv6SubnetMax}/128`).ip;
  return net6.ip >= min6 && net6.ip <= max6 && net6.prefixLen === config.ipv6SubnetLen;
}

/** True when a live lease overlaps either subnet (the families the config enables). */
function isHeld(
  config: NetworkConfig,
  leases: readonly Lease[],
  subnet: string,
  ipv6Subnet: string | null,
): boolean {
  const net = config.enableIPv4 ? IP4Net.parse(subnet) : null;
  const net6 = config.enableIPv6 && ipv6Subnet !== null ? IP6Net.parse(ipv6Subnet) : null;
  return leases.some((l) => {
    if (net !== null) {
      const other = IP4Net.parse(l.subnet);
      if (other.prefixLen > 0 && other.overlaps(net)) return true;
    }
    return net6 !== null && l.ipv6Subnet !== null && IP6Net.parse(l.ipv6Subnet).overlaps(net6);
  });
}

/**
 * Attributes as a reader will see them once written: validated, addresses and `VtepMAC` in
 * canonical form.
 * @throws FlannelError `LEASE_INVALID`
 * @internal
 */
export function normalizeLeaseAttrs(attrs: LeaseAttrs): LeaseAttrs {
  return parseLeaseAttrs(formatLeaseAttrs(attrs));
}
