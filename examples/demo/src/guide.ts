/**
 * The install guide's network (flannel-install-guide.zh.md) and the three demo nodes.
 */

import { INSTALL_GUIDE } from "@flannel-sdk/core";

/** The value the guide writes with `etcdctl mk /kube-centos/network/config '…'`. */
export const GUIDE_CONFIG: string = INSTALL_GUIDE.networkConfig;

/** The guide's `FLANNEL_ETCD_PREFIX`. */
export const GUIDE_PREFIX: string = INSTALL_GUIDE.etcdPrefix;

/** One demo host: its name, underlay (public) address and external interface. */
export interface DemoHost {
  readonly name: string;
  readonly publicIP: string;
  /** The underlay prefix length (all hosts share one L2 segment). */
  readonly underlayPrefix: number;
  readonly iface: string;
  readonly mtu: number;
}

/**
 * Three hosts on one underlay segment. The addresses exist only as data in the pure demo, and
 * only inside the demo's own network namespaces with `--netns`.
 */
export const DEMO_HOSTS: readonly DemoHost[] = [1, 2, 3].map((k) => ({
  name: `node${k}`,
  publicIP: `172.16.97.${10 + k}`,
  underlayPrefix: 24,
  iface: "eth0",
  mtu: 1500,
}));
