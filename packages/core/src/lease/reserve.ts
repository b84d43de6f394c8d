/**
 * Reservations (flannel `Documentation/reservations.md`): a lease without a TTL for a given node.
 */

import type { NetworkConfig } from "../config/types.js";
import { FlannelError } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import {
  isIPv4Compatible,
  isIPv6Compatible,
  leasesOf,
  NO_IPV4_SUBNET,
  normalizeLeaseAttrs,
} from "./acquire.js";
import { vxlanBackendData } from "./backend-data.js";
import type { Lease, LeaseAttrs } from "./types.js";

/** Input of {@link planReservation}. */
export interface ReservationInput {
  readonly config: NetworkConfig;
  /** Every live lease in the store. */
  readonly leases: readonly Lease[];
  /** The IPv4 subnet to reserve (`0.0.0.0/0` on an IPv6-only network); host bits are masked. */
  readonly subnet: string;
  /** The IPv6 subnet; required exactly when the config enables IPv6. */
  readonly ipv6Subnet?: string | null;
  /** The node the reservation is for; `publicIP` is what flannel matches on. */
  readonly attrs: LeaseAttrs;
}

/** Output of {@link planReservation}: delete, then write the lease with no TTL. */
export interface ReservationPlan {
  /** The node's own leases that overlap the reservation under another key. */
  readonly delete: readonly Lease[];
  readonly subnet: string;
  readonly ipv6Subnet: string | null;
  readonly attrs: LeaseAttrs;
}

/**
 * Decides how to write a reservation: the subnets must fit the config (else flannel would delete
 * the reservation as incompatible the first time its node starts), and no other node may hold an
 * overlapping lease. The node's own overlapping leases under another key are deleted; its lease
 * under the same key becomes the reservation. A `"vxlan"` reservation must carry the node's
 * `VtepMAC` in `BackendData` (and in `BackendV6Data` with an IPv6 subnet): real flanneld cannot
 * decode a vxlan lease without it and never programs it; reserve with `backendType: ""` for a
 * node whose VtepMAC is not known yet (flannel's Documentation/reservations.md form).
 *
 * @throws FlannelError `CONFIG_INVALID` (field `subnet` / `ipv6Subnet`) when a subnet is
 * unreadable or does not fit the config; `LEASE_CONFLICT` when another node holds an
 * overlapping lease; `LEASE_INVALID` for unwritable attrs, and (field `BackendData.VtepMAC` /
 * `BackendV6Data.VtepMAC`) for a vxlan reservation without a valid VtepMAC.
 * @example
 * ```ts
 * const plan = planReservation({ config, leases, subnet: "10.5.7.0/24", attrs });
 * ```
 */
export function planReservation(input: ReservationInput): ReservationPlan {
  const { config } = input;
  const attrs = normalizeLeaseAttrs(input.attrs);
  const subnet = masked(input.subnet, 4, "subnet");
  const rawV6 = input.ipv6Subnet ?? null;
  const ipv6Subnet = rawV6 === null ? null : masked(rawV6, 6, "ipv6Subnet");
  const v4ok = isIPv4Compatible(config, subnet);
  if (!v4ok || !isIPv6Compatible(config, ipv6Subnet)) {
    throw new FlannelError(
      "CONFIG_INVALID",
      `reservation ${subnet}${ipv6Subnet === null ? "" : ` / ${ipv6Subnet}`} does not fit the network config ` +
        `(IPv4 ${config.enableIPv4 ? `${config.subnetMin} ... ${config.subnetMax} /${config.subnetLen}` : "off"}, ` +
        `IPv6 ${config.enableIPv6 ? `${config.ipv6SubnetMin} ... ${config.ipv6SubnetMax} /${config.ipv6SubnetLen}` : "off"})`,
      { field: v4ok ? "ipv6Subnet" : "subnet", details: { subnet, ipv6Subnet } },
    );
  }
  if (attrs.backendType === "vxlan") {
    if (config.enableIPv4) requireVtepMAC(attrs, 4);
    if (ipv6Subnet !== null) requireVtepMAC(attrs, 6);
  }
  const mine = new Set(leasesOf(input.leases, attrs));
  const net = config.enableIPv4 ? IP4Net.parse(subnet) : null;
  const net6 = ipv6Subnet === null ? null : IP6Net.parse(ipv6Subnet);
  const toDelete: Lease[] = [];
  for (const lease of input.leases) {
    const other = IP4Net.parse(lease.subnet);
    const v4 = net !== null && other.prefixLen > 0 && other.overlaps(net);
    const v6 =
      net6 !== null && lease.ipv6Subnet !== null && IP6Net.parse(lease.ipv6Subnet).overlaps(net6);
    if (!v4 && !v6) continue;
    if (!mine.has(lease)) {
      throw new FlannelError(
        "LEASE_CONFLICT",
        `subnet ${lease.subnet}${lease.ipv6Subnet === null ? "" : ` / ${lease.ipv6Subnet}`} is held by ${lease.attrs.publicIP}`,
        {
          details: {
            subnet: lease.subnet,
            ipv6Subnet: lease.ipv6Subnet,
            holder: lease.attrs.publicIP,
          },
        },
      );
    }
    if (lease.subnet !== subnet || lease.ipv6Subnet !== ipv6Subnet) toDelete.push(lease);
  }
  return { delete: toDelete, subnet, ipv6Subnet, attrs };
}

function requireVtepMAC(attrs: LeaseAttrs, family: 4 | 6): void {
  if (vxlanBackendData(attrs, family) !== null) return;
  const field = `${family === 4 ? "BackendData" : "BackendV6Data"}.VtepMAC`;
  throw new FlannelError(
    "LEASE_INVALID",
    `a vxlan reservation for ${attrs.publicIP} needs ${field} (the node's VTEP MAC): flanneld ` +
      `cannot decode the lease without it; reserve with backendType "" when it is not known yet`,
    { field, details: { publicIP: attrs.publicIP } },
  );
}

function masked(text: string, family: 4 | 6, field: string): string {
  try {
    const net = family === 4 ? IP4Net.parse(text) : IP6Net.parse(text);
    const out = net.network().toString();
    return family === 4 && net.prefixLen === 0 ? NO_IPV4_SUBNET : out;
  } catch (e) {
    throw new FlannelError("CONFIG_INVALID", `invalid ${field}: ${text}`, { field, cause: e });
  }
}
