// A CommonJS consumer of the installed tarballs.
const assert = require("node:assert/strict");
const { parseNetworkConfig } = require("@flannel-sdk/core");
const { networkConfigSchema } = require("@flannel-sdk/core/schema");
const { diagnose } = require("@flannel-sdk/diagnose");
const { EtcdLeaseStore } = require("@flannel-sdk/etcd");
const { cmdLinkDel } = require("@flannel-sdk/netlink");
const { mkDockerOpts } = require("@flannel-sdk/render");

assert.equal(parseNetworkConfig({ Network: "10.5.0.0/16" }).subnetLen, 24);
assert.equal(typeof networkConfigSchema.parse, "function");
assert.equal(typeof diagnose, "function");
assert.equal(typeof EtcdLeaseStore, "function");
assert.equal(cmdLinkDel("flannel.1"), "ip link del dev flannel.1");
assert.equal(typeof mkDockerOpts, "function");
console.log("cjs consumer ok");
