// What README examples take as given: values a reader has from the surrounding text or from
// an earlier block. Every ```ts block of README.md and packages/*/README.md is typechecked with
// these in scope (a block that declares the same name shadows it). Not part of any build.
import type { Lease, NetworkConfig } from "@flannel-sdk/core";
import type { EtcdV2LeaseStore, etcdOptionsFromFlanneld } from "@flannel-sdk/etcd";

declare global {
  /** The parsed network config (`parseNetworkConfig` / `store.getNetworkConfig()`). */
  const config: NetworkConfig;
  /** A lease from `store.acquireLease`. */
  const lease: Lease;
  /** This node's lease. */
  const ownLease: Lease;
  /** Every lease in the store (`(await store.listLeases()).leases`). */
  const leases: Lease[];
  /** `iptables-save` output. */
  const currentIptablesSave: string;
  /** The store of the etcd README's first block. */
  const store: EtcdV2LeaseStore;
  /** The etcd README's `etcdOptionsFromFlanneld(…)` result. */
  const flanneld: ReturnType<typeof etcdOptionsFromFlanneld>;
}
