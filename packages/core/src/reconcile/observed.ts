/**
 * Observed kernel state: what a node's network namespace holds, as plain data (`ip -d link`,
 * `ip addr`, `ip route`, `ip neigh`, `bridge fdb`). `@flannel-sdk/netlink`'s dumps fit these
 * shapes; the reconciler compares them with a plan.
 */

/** A device, as `ip -d link show` lists it (`@flannel-sdk/netlink`'s `Link` fits). */
export interface ObservedLink {
  readonly index: number;
  readonly name: string;
  readonly kind: string | null;
  readonly mtu: number;
  readonly mac: string | null;
  readonly up: boolean;
  readonly vxlan: {
    readonly vni: number;
    readonly local: string | null;
    readonly lowerIndex: number | null;
    /** Destination UDP port as the kernel reports it (8472 for a device made without one); not compared when absent. */
    readonly port?: number;
    /** Group Based Policy extension; not compared when absent. */
    readonly gbp?: boolean;
  } | null;
}

/** An interface address (netlink's `Addr` fits). */
export interface ObservedAddr {
  readonly family: 4 | 6;
  readonly dev: string;
  readonly ip: string;
  readonly prefixLen: number;
}

/** A route (netlink's `Route` fits). */
export interface ObservedRoute {
  readonly family: 4 | 6;
  readonly dst: string;
  readonly gateway: string | null;
  readonly dev: string | null;
  readonly table: number;
  readonly onlink: boolean;
  /** `RTN_*` route type (1 = unicast); unicast when absent. */
  readonly type?: number;
  /** Metric (`RTA_PRIORITY`); the family's default (IPv4 0, IPv6 1024) when absent. */
  readonly priority?: number;
}

/** A neighbour entry (netlink's `Neigh` fits). */
export interface ObservedNeigh {
  readonly family: 4 | 6;
  readonly dev: string;
  readonly ip: string;
  readonly lladdr: string | null;
  readonly permanent: boolean;
}

/** A bridge FDB entry (netlink's `FdbEntry` fits). */
export interface ObservedFdb {
  readonly dev: string;
  readonly lladdr: string;
  readonly dst: string | null;
  readonly self: boolean;
  readonly permanent: boolean;
}

/** The node's kernel state, as listed in its network namespace. */
export interface KernelState {
  readonly links: readonly ObservedLink[];
  readonly addrs: readonly ObservedAddr[];
  readonly routes: readonly ObservedRoute[];
  readonly neighs: readonly ObservedNeigh[];
  readonly fdb: readonly ObservedFdb[];
}
