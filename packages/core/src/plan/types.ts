/**
 * Data-plane plans: the kernel state a backend wants, as plain data. `@flannel-sdk/netlink`
 * applies them; `planToCommands` prints them as `ip` / `bridge` commands.
 */

/** A vxlan device flannel owns (`flannel.<VNI>`). */
export interface VxlanLinkPlan {
  readonly kind: "vxlan";
  /** `flannel.1`, or `flannel-v6.1` for the IPv6 side. */
  readonly name: string;
  readonly vni: number;
  /** Destination UDP port; 0 = kernel default (8472). */
  readonly port: number;
  /** Local (source) address: the node's public IP. */
  readonly local: string;
  /** Underlay device name (the external interface), or `null` to leave unset. */
  readonly lowerDevice: string | null;
  readonly learning: boolean;
  readonly gbp: boolean;
  /** Device MTU (underlay MTU − 50). */
  readonly mtu: number;
  /** Device MAC (`VtepMAC`), or `null` to let the kernel choose. */
  readonly mac: string | null;
}

/** "This address on this device"; with `exclusiveWithin`, other addresses of the device inside that network go. */
export interface AddressPlan {
  readonly dev: string;
  /** CIDR text: `"172.30.8.0/32"`. */
  readonly address: string;
  /** Network (the config `Network`) inside which no other address may stay on `dev`, or `null`. */
  readonly exclusiveWithin: string | null;
}

/** A route. */
export interface RoutePlan {
  /** Destination CIDR. */
  readonly dst: string;
  /** Next hop, or `null` for a device route. */
  readonly gateway: string | null;
  /** Output device, or `null` to let the kernel resolve it from the gateway. */
  readonly dev: string | null;
  /** Install with the `onlink` flag (the gateway need not be reachable on `dev`). */
  readonly onlink: boolean;
  /** Routing table id; the main table (254) when absent. */
  readonly table?: number;
}

/** A permanent neighbour (ARP / NDP) entry. */
export interface NeighborPlan {
  readonly dev: string;
  readonly ip: string;
  /** MAC, lower-case colon form. */
  readonly lladdr: string;
  readonly state: "permanent";
}

/** A bridge FDB entry on a vxlan device: MAC → remote VTEP. */
export interface FdbPlan {
  readonly dev: string;
  /** MAC, lower-case colon form (`00:00:00:00:00:00` for the all-zero append form). */
  readonly lladdr: string;
  /** Remote VTEP address. */
  readonly dst: string;
  readonly self: true;
  readonly permanent: true;
}

/**
 * What the applier may delete when the plan no longer holds it: routes with a gateway whose
 * destination lies in `network` on one of `devices`, and permanent neighbours / FDB entries on
 * the vxlan devices among `devices`. Nothing else is touched.
 */
export interface PlanOwnership {
  readonly network: string;
  readonly devices: readonly string[];
}

/** The whole desired state of one backend for one address family. */
export interface DataPlanePlan {
  readonly backend: "vxlan" | "host-gw";
  readonly family: 4 | 6;
  /** The device to ensure, or `null` (host-gw has none). */
  readonly link: VxlanLinkPlan | null;
  readonly addresses: readonly AddressPlan[];
  readonly neighbors: readonly NeighborPlan[];
  readonly fdb: readonly FdbPlan[];
  readonly routes: readonly RoutePlan[];
  readonly owned: PlanOwnership;
  /** The MTU flannel reports in `FLANNEL_MTU`. */
  readonly mtu: number;
}
