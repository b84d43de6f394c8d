#!/usr/bin/env node
// Stand-in demo until examples/demo lands: the install guide's network, worked out with core.
import { IP4Net } from "@flannel-sdk/core";

const network = IP4Net.parse("172.30.0.0/16");
const subnetLen = 24;
console.log(
  `Network ${network}, SubnetLen ${subnetLen}: ${network.count(subnetLen) - 1n} leasable subnets`,
);
for (const k of [1, 2, 3]) console.log(`  node${k}: ${network.subnetAt(k, subnetLen)}`);
