/** Plans built by hand (the shape core's planners produce), for two leases of one network. */
import type { DataPlanePlan } from "@flannel-sdk/core";

export interface Peer {
  readonly subnet: string; // "10.64.2.0/24"
  readonly publicIP: string;
  readonly mac: string;
}

const net = (cidr: string) => cidr.split("/")[0]!;

/** What flannel programs on a node for its own lease and its remote peers (vxlan: pkg/backend/vxlan). */
export function vxlanPlan(o: {
  network: string;
  own: Peer;
  lowerDevice: string;
  peers: readonly Peer[];
  vni?: number;
}): DataPlanePlan {
  const dev = `flannel.${o.vni ?? 1}`;
  return {
    backend: "vxlan",
    family: 4,
    link: {
      kind: "vxlan",
      name: dev,
      vni: o.vni ?? 1,
      port: 0,
      local: o.own.publicIP,
      lowerDevice: o.lowerDevice,
      learning: false,
      gbp: false,
      mtu: 1450,
      mac: o.own.mac,
    },
    addresses: [{ dev, address: `${net(o.own.subnet)}/32`, exclusiveWithin: o.network }],
    neighbors: o.peers.map((p) => ({
      dev,
      ip: net(p.subnet),
      lladdr: p.mac,
      state: "permanent" as const,
    })),
    fdb: o.peers.map((p) => ({
      dev,
      lladdr: p.mac,
      dst: p.publicIP,
      self: true as const,
      permanent: true as const,
    })),
    routes: o.peers.map((p) => ({ dst: p.subnet, gateway: net(p.subnet), dev, onlink: true })),
    owned: { network: o.network, devices: [dev] },
    mtu: 1450,
  };
}

/** host-gw (pkg/backend/hostgw): a route per remote lease via its public IP on the external interface. */
export function hostGwPlan(o: {
  network: string;
  extDevice: string;
  peers: readonly Peer[];
}): DataPlanePlan {
  return {
    backend: "host-gw",
    family: 4,
    link: null,
    addresses: [],
    neighbors: [],
    fdb: [],
    routes: o.peers.map((p) => ({
      dst: p.subnet,
      gateway: p.publicIP,
      dev: o.extDevice,
      onlink: false,
    })),
    owned: { network: o.network, devices: [o.extDevice] },
    mtu: 1500,
  };
}

/** A remote node as its lease describes it (`PublicIP`, `BackendData.VtepMAC`). */
export function peerOfLease(lease: {
  subnet: string;
  attrs: { publicIP: string; backendData: unknown };
}): Peer {
  const data = lease.attrs.backendData as { VtepMAC?: string } | null;
  return { subnet: lease.subnet, publicIP: lease.attrs.publicIP, mac: data?.VtepMAC ?? "" };
}
