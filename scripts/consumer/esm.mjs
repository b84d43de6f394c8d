// An ESM consumer of the installed tarballs: every package imports, and the pure parts work.
import assert from "node:assert/strict";
import { MemoryLeaseStore, parseNetworkConfig } from "@flannel-sdk/core";
import { networkConfigSchema } from "@flannel-sdk/core/schema";
import { diagnose } from "@flannel-sdk/diagnose";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";
import { cmdLinkDel, openHandle } from "@flannel-sdk/netlink";
import { mkDockerOpts, renderSubnetEnv, subnetEnvFromLease } from "@flannel-sdk/render";

const text = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';
const config = parseNetworkConfig(text);
assert.equal(config.subnetMin, "10.5.1.0");
assert.equal(typeof networkConfigSchema.parse, "function");
const store = new MemoryLeaseStore({ config: text });
const lease = await store.acquireLease({
  publicIP: "192.0.2.10",
  publicIPv6: null,
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" },
  backendV6Data: null,
});
const env = renderSubnetEnv(subnetEnvFromLease(config, lease, { mtu: 1450, ipMasq: true }));
assert.match(env, /^FLANNEL_NETWORK=10\.5\.0\.0\/16$/m);
assert.match(mkDockerOpts({ subnetEnv: env }).content, /--bip=/);
assert.equal(cmdLinkDel("flannel.1"), "ip link del dev flannel.1");
assert.equal(typeof openHandle, "function");
assert.equal(typeof diagnose, "function");
// gRPC is not installed by default: asking for it says which package to add.
const grpc = new EtcdLeaseStore({ endpoints: ["http://127.0.0.1:1"], transport: "grpc" });
await assert.rejects(grpc.getNetworkConfig(), (e) => {
  assert.equal(e.code, "ETCD_GRPC_NOT_INSTALLED");
  assert.match(e.message, /npm install etcd3/);
  return true;
});
await grpc.close();
await store.close();
console.log("esm consumer ok");
