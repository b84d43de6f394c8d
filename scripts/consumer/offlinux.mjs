// Run as if on macOS or Windows (process.platform overridden): everything imports, the pure
// parts work, and a netlink socket fails with NETLINK_UNSUPPORTED naming the platform.
import assert from "node:assert/strict";
import { parseNetworkConfig } from "@flannel-sdk/core";
import { diagnose } from "@flannel-sdk/diagnose";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";
import { openHandle } from "@flannel-sdk/netlink";
import { renderFlanneldUnit } from "@flannel-sdk/render";

assert.equal(parseNetworkConfig({ Network: "10.5.0.0/16" }).subnetLen, 24);
assert.match(renderFlanneldUnit(), /ExecStart=/);
assert.equal(typeof diagnose, "function");
await new EtcdLeaseStore({ endpoints: ["http://127.0.0.1:2379"] }).close();
await assert.rejects(openHandle(), (e) => {
  assert.equal(e.code, "NETLINK_UNSUPPORTED");
  assert.ok(e.message.includes(process.platform), e.message);
  return true;
});
console.log(`${process.platform} consumer ok`);
