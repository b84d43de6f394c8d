/**
 * Plain-data kernel objects as the handle returns them, and the specs it takes. Names follow
 * iproute2 (`dev`, `lladdr`, `dst`, `via` → `gateway`, `onlink`, `table`).
 */
import type { IPFamily } from "@flannel-sdk/core";

/**
 * A kernel listing. `interrupted` is true when the kernel flagged the dump as inconsistent
 * (`NLM_F_DUMP_INTR`: the table changed while it was being read): the entries are what the
 * kernel sent, possibly missing or repeating some; the caller decides whether to list again.
 */
export type Dump<T> = readonly T[] & { readonly interrupted: boolean };

/** The vxlan part of a link (`ip -d link show`). */
export interface VxlanInfo {
  /** VXLAN network identifier (`id`). */
  readonly vni: number;
  /** Destination UDP port as the kernel reports it (8472 when created without `dstport`). */
  readonly port: number;
  /** Local (source) address, or `null`. */
  readonly local: string | null;
  /** Multicast group / remote, or `null`. */
  readonly group: string | null;
  /** Lower (underlay) device index (`dev`), or `null`. */
  readonly lowerIndex: number | null;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly l2miss: boolean;
  readonly l3miss: boolean;
}

/** A network device (`ip link`). */
export interface Link {
  readonly index: number;
  readonly name: string;
  /** `IFLA_INFO_KIND` (`"vxlan"`, `"bridge"`, `"veth"`, `"dummy"`…), `null` for devices without one (physical, loopback). */
  readonly kind: string | null;
  readonly mtu: number;
  /** Hardware address, lower-case colon form, or `null`. */
  readonly mac: string | null;
  /** `IFF_*` flags. */
  readonly flags: number;
  /** Administratively up (`IFF_UP`). */
  readonly up: boolean;
  /** Index of the master device (bridge), or `null`. */
  readonly masterIndex: number | null;
  /** Vxlan attributes when `kind` is `"vxlan"`, else `null`. */
  readonly vxlan: VxlanInfo | null;
}

/** A link known to be a vxlan device. */
export type VxlanLink = Link & { readonly kind: "vxlan"; readonly vxlan: VxlanInfo };

/** An interface address (`ip addr`). */
export interface Addr {
  readonly family: IPFamily;
  readonly index: number;
  readonly dev: string;
  /** The address (`IFA_LOCAL`, else `IFA_ADDRESS`). */
  readonly ip: string;
  readonly prefixLen: number;
  /** `ip/prefixLen`, host bits kept: `"172.30.8.1/24"`. */
  readonly cidr: string;
  readonly broadcast: string | null;
  /** `IFA_LABEL` (IPv4 only; `docker0:1` for an alias). */
  readonly label: string | null;
  readonly scope: number;
  /** `IFA_F_*` flags (`IFA_FLAGS` when present). */
  readonly flags: number;
}

/** A route (`ip route`). */
export interface Route {
  readonly family: IPFamily;
  /** Destination CIDR; `0.0.0.0/0` / `::/0` for a default route. */
  readonly dst: string;
  readonly gateway: string | null;
  /** Output device name, or `null` (multipath, blackhole). */
  readonly dev: string | null;
  readonly index: number | null;
  readonly table: number;
  readonly protocol: number;
  readonly scope: number;
  /** `RTN_*` route type (1 = unicast, 2 = local, …). */
  readonly type: number;
  readonly onlink: boolean;
  /** Metric (`RTA_PRIORITY`), 0 when absent. */
  readonly priority: number;
  readonly prefsrc: string | null;
}

/** A neighbour (`ip neigh`). */
export interface Neigh {
  readonly family: IPFamily;
  readonly index: number;
  readonly dev: string;
  readonly ip: string;
  readonly lladdr: string | null;
  /** `NUD_*` state bits. */
  readonly state: number;
  readonly permanent: boolean;
  /** `NTF_*` flags. */
  readonly flags: number;
}

/** A bridge forwarding-database entry (`bridge fdb`). */
export interface FdbEntry {
  readonly index: number;
  readonly dev: string;
  readonly lladdr: string;
  /** Remote VTEP (`NDA_DST`) of a vxlan entry, or `null`. */
  readonly dst: string | null;
  readonly state: number;
  readonly permanent: boolean;
  /** `NTF_SELF`: the entry lives in the device's own table (vxlan). */
  readonly self: boolean;
  /** `NTF_MASTER`: the entry lives in the master bridge's table. */
  readonly master: boolean;
  readonly vni: number | null;
}

/**
 * The kernel state flannel's data plane is made of, read in one go by `NetlinkHandle.snapshot`:
 * every link, and the addresses, neighbours and routes (every table) of one family, and the
 * bridge FDB. `interrupted` is true when a dump stayed inconsistent after retries.
 */
export interface KernelSnapshot {
  readonly family: IPFamily;
  readonly links: Dump<Link>;
  readonly addrs: readonly Addr[];
  readonly neighs: readonly Neigh[];
  readonly fdb: readonly FdbEntry[];
  readonly routes: readonly Route[];
  readonly interrupted: boolean;
}

/** A device, by name or index. */
export type DeviceRef = string | number;

/** What `ensureVxlan` creates (flannel's `vxlanDeviceAttrs`); the shape of core's `VxlanLinkPlan`. */
export interface VxlanSpec {
  readonly name: string;
  readonly vni: number;
  /** Destination port; 0 or absent = kernel default (8472). */
  readonly port?: number;
  /** Local (source) address, or `null`. */
  readonly local?: string | null;
  /** Underlay device, or `null`. */
  readonly lowerDevice?: DeviceRef | null;
  readonly learning?: boolean;
  readonly gbp?: boolean;
  /** MTU at creation, or `null` to let the kernel derive it. */
  readonly mtu?: number | null;
  /** MAC at creation, or `null` to let the kernel choose. */
  readonly mac?: string | null;
}

/** What `ensureBridge` creates. */
export interface BridgeSpec {
  readonly name: string;
  readonly mtu?: number | null;
  readonly mac?: string | null;
}

/** How `ensureVxlan` / `ensureBridge` reached the result. */
export interface EnsureResult<L extends Link> {
  readonly link: L;
  readonly action: "created" | "reused" | "recreated";
  /** Why an existing device was recreated (flannel's incompatibility text), else `null`. */
  readonly reason: string | null;
}

/** A route to install or delete; core's `RoutePlan` fits. */
export interface RouteSpec {
  readonly dst: string;
  readonly gateway?: string | null;
  readonly dev?: DeviceRef | null;
  readonly onlink?: boolean;
  /** Routing table; main (254) when absent. */
  readonly table?: number;
  /** Metric; 0 when absent. */
  readonly priority?: number;
}

/** A permanent neighbour; core's `NeighborPlan` fits. */
export interface NeighSpec {
  readonly dev: DeviceRef;
  readonly ip: string;
  readonly lladdr: string;
}

/** A vxlan FDB entry (`self permanent`); core's `FdbPlan` fits. */
export interface FdbSpec {
  readonly dev: DeviceRef;
  readonly lladdr: string;
  readonly dst: string;
}

/** Options every kernel call takes. */
export interface CallOptions {
  readonly signal?: AbortSignal;
}
