// A TypeScript consumer: typechecked under `module: nodenext` (as .ts in an ESM project) and
// `moduleResolution: bundler`.
import {
  type Lease,
  type LeaseStore,
  MemoryLeaseStore,
  parseNetworkConfig,
} from "@flannel-sdk/core";
import { networkConfigSchema } from "@flannel-sdk/core/schema";
import { diagnose } from "@flannel-sdk/diagnose";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "@flannel-sdk/etcd";
import { type NetlinkHandle, openHandle } from "@flannel-sdk/netlink";
import { renderFlanneldSysconfig, renderSubnetEnv, subnetEnvFromLease } from "@flannel-sdk/render";

export async function example(): Promise<string> {
  const text = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
  const config = parseNetworkConfig(text);
  const store: LeaseStore = new MemoryLeaseStore({ config: text });
  const lease: Lease = await store.acquireLease({
    publicIP: "192.0.2.10",
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" },
    backendV6Data: null,
  });
  const etcd = new EtcdLeaseStore({ endpoints: ["http://127.0.0.1:2379"] });
  const v2 = new EtcdV2LeaseStore({ endpoints: ["http://127.0.0.1:2379"] });
  await Promise.all([etcd.close(), v2.close()]);
  const h: NetlinkHandle = await openHandle();
  h.close();
  void diagnose;
  networkConfigSchema.parse({ Network: "10.5.0.0/16" });
  return (
    renderSubnetEnv(subnetEnvFromLease(config, lease, { mtu: 1450, ipMasq: true })) +
    renderFlanneldSysconfig()
  );
}
