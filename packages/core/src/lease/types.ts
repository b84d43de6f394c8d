/**
 * The lease model: what one node writes under `<prefix>/subnets/<key>`.
 */

/** Any JSON value. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/**
 * A node's lease attributes (flannel's `LeaseAttrs`). Serialized to flannel's JSON
 * (`PublicIP`, `PublicIPv6`, `BackendType`, `BackendData`, `BackendV6Data`, in that order).
 */
export interface LeaseAttrs {
  /** The node's public IPv4, dotted quad; `"0.0.0.0"` when unset. This is the node's identity. */
  readonly publicIP: string;
  /** The node's public IPv6, or `null`. */
  readonly publicIPv6: string | null;
  /** Backend type (`"vxlan"`, `"host-gw"`); `""` is omitted from the JSON (the udp backend). */
  readonly backendType: string;
  /** Backend data, e.g. vxlan's `{"VNI":1,"VtepMAC":"…"}`; `null` is omitted from the JSON. */
  readonly backendData: JsonValue | null;
  /** Backend data of the IPv6 side; `null` is omitted from the JSON. */
  readonly backendV6Data: JsonValue | null;
}

/** A lease: a subnet held by a node until `expiration`. */
export interface Lease {
  /** IPv4 subnet, network address: `"172.30.8.0/24"` (`"0.0.0.0/0"` on an IPv6-only network). */
  readonly subnet: string;
  /** IPv6 subnet, or `null` when IPv6 is not enabled. */
  readonly ipv6Subnet: string | null;
  readonly attrs: LeaseAttrs;
  /**
   * When the lease ends; `null` for a reservation, which never expires. Treat the `Date` as
   * immutable: leases read together may share one (the etcd store does, to keep a 10,000-lease
   * snapshot small).
   */
  readonly expiration: Date | null;
  /** Store revision (etcd mod revision / v2 modifiedIndex) the lease was read or written at. */
  readonly revision?: bigint;
  /**
   * The subnet key exactly as stored (`10.5.1.17-24`), set only when it is not the canonical
   * `makeSubnetKey(subnet, ipv6Subnet)`: a lease another tool or a hand wrote with host bits, a
   * leading zero or another IPv6 spelling. Such a lease is never listed among the leases (it is a
   * `SkippedLeaseEntry` carrying it), but renew and release act on this exact key.
   */
  readonly key?: string;
}
