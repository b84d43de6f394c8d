/**
 * Step 1 and 2 of the guide: the config goes into the store, then each node's flanneld acquires
 * a lease, publishing its public IP and the MAC of its flannel.1 (VtepMAC).
 */
import {
  formatLeaseAttrs,
  type Lease,
  type LeaseStore,
  makeSubnetKey,
  type NetworkConfig,
} from "@flannel-sdk/core";
import type { DemoHost } from "./guide.js";
import { randomVtepMAC } from "./rng.js";

/** A host that joined: its lease and the VtepMAC it published. */
export interface JoinedNode {
  readonly host: DemoHost;
  readonly lease: Lease;
  readonly vtepMAC: string;
  /** The key the lease lives under: `<prefix>/subnets/172.30.57.0-24`. */
  readonly key: string;
  /** The lease value, byte for byte what flanneld writes. */
  readonly json: string;
}

/**
 * Acquires one lease per host, in order (flanneld's algorithm: reuse by public IP, else a
 * random free subnet among the first 100 from SubnetMin).
 */
export async function joinNetwork(
  store: LeaseStore,
  hosts: readonly DemoHost[],
  prefix: string,
  random: () => number,
  signal?: AbortSignal,
): Promise<{ config: NetworkConfig; nodes: JoinedNode[] }> {
  const config = await store.getNetworkConfig({ signal });
  const nodes: JoinedNode[] = [];
  for (const host of hosts) {
    const vtepMAC = randomVtepMAC(random);
    const lease = await store.acquireLease(
      {
        publicIP: host.publicIP,
        publicIPv6: null,
        backendType: "vxlan",
        backendData: {
          VNI: config.backend.type === "vxlan" ? config.backend.vni : 1,
          VtepMAC: vtepMAC,
        },
        backendV6Data: null,
      },
      { signal },
    );
    nodes.push({
      host,
      lease,
      vtepMAC,
      key: `${prefix}/subnets/${makeSubnetKey(lease.subnet)}`,
      json: formatLeaseAttrs(lease.attrs),
    });
  }
  return { config, nodes };
}
