// What README examples take as given (globals.d.ts), made at run time on the node that
// `npm run check:consumer` runs the docs' blocks on (scripts/doc-node.mjs): the install guide's
// /etc/sysconfig/flanneld and its etcd (v2 API, TLS), this node's public IP 172.16.97.244.
// A block gets only the names it reads and does not declare (scripts/doc-blocks.mjs).
import { INSTALL_GUIDE, isFlannelError } from "@flannel-sdk/core";
import { EtcdV2LeaseStore, etcdOptionsFromFlanneld } from "@flannel-sdk/etcd";
import { iptablesSave } from "@flannel-sdk/render";

/**
 * @param {readonly string[]} names the globals a block reads
 * @returns those values, and `close()`
 */
export async function given(names) {
  const want = new Set(names);
  const flanneld = etcdOptionsFromFlanneld({
    sysconfigFile: "/etc/sysconfig/flanneld",
    env: process.env,
  });
  const out = { flanneld, close: async () => {} };
  const needsConfig = ["config", "lease", "ownLease", "leases"].some((n) => want.has(n));
  if (want.has("store") || needsConfig) {
    const store = new EtcdV2LeaseStore(flanneld.store);
    out.store = store;
    out.close = () => store.close();
  }
  if (needsConfig) {
    const { store } = out;
    out.config = await store.getNetworkConfig().catch(async (e) => {
      if (!isFlannelError(e, "CONFIG_NOT_FOUND")) throw e;
      await store.putNetworkConfig(INSTALL_GUIDE.networkConfig); // the guide's etcdctl mk
      return store.getNetworkConfig();
    });
    if (want.has("lease") || want.has("ownLease")) {
      out.lease = await store.acquireLease({
        publicIP: "172.16.97.244",
        publicIPv6: null,
        backendType: "vxlan",
        backendData: { VNI: 1, VtepMAC: "3a:b9:84:c3:57:7c" },
        backendV6Data: null,
      });
      out.ownLease = out.lease;
    }
    if (want.has("leases")) out.leases = (await store.listLeases()).leases;
  }
  if (want.has("currentIptablesSave")) out.currentIptablesSave = await iptablesSave();
  return out;
}
