import { afterAll, describe, expect, it } from "vitest";
import { openHandle } from "../src/index.js";
import { vxlanPlan } from "./fixtures.js";
import { inNs, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

function underlay(): string {
  const ns = nss.create();
  inNs(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  inNs(ns, "addr", "add", "10.250.0.1/16", "dev", "ul0");
  inNs(ns, "link", "set", "ul0", "up");
  inNs(ns, "link", "set", "ul1", "up");
  return ns;
}

const own = { subnet: "10.64.1.0/24", publicIP: "10.250.0.1", mac: "0a:58:0a:40:01:00" };
const peer = (i: number, mac = i) => ({
  subnet: `10.64.${i}.0/24`,
  publicIP: `10.250.1.${i}`,
  mac: `0a:58:0a:40:${mac.toString(16).padStart(2, "0")}:00`,
});
const at = (peers: ReturnType<typeof peer>[]) =>
  vxlanPlan({ network: "10.64.0.0/16", own, lowerDevice: "ul0", peers });

describe.runIf(run)("applyPlanChange", () => {
  it("sends only the step between two plans, and leaves the kernel as applyPlan would", async () => {
    const ns = underlay();
    await using h = await openHandle({ netns: ns });
    const a = at([peer(2), peer(3), peer(4)]);
    await h.applyPlan(a);
    // peer 3 leaves, peer 5 joins, peer 4 comes back with a new VtepMAC
    const b = at([peer(2), peer(4, 0x44), peer(5)]);
    const step = await h.applyPlanChange(a, b);
    expect(step.commands).toEqual([
      `ip -n ${ns} route del 10.64.3.0/24 via 10.64.3.0 dev flannel.1`,
      `bridge -n ${ns} fdb del 0a:58:0a:40:03:00 dev flannel.1 dst 10.250.1.3 self`,
      `bridge -n ${ns} fdb del 0a:58:0a:40:04:00 dev flannel.1 dst 10.250.1.4 self`,
      `ip -n ${ns} neigh del 10.64.3.0 dev flannel.1`,
      `ip -n ${ns} neigh replace 10.64.5.0 lladdr 0a:58:0a:40:05:00 dev flannel.1 nud permanent`,
      `ip -n ${ns} neigh replace 10.64.4.0 lladdr 0a:58:0a:40:44:00 dev flannel.1 nud permanent`,
      `bridge -n ${ns} fdb replace 0a:58:0a:40:44:00 dev flannel.1 dst 10.250.1.4 self permanent`,
      `bridge -n ${ns} fdb replace 0a:58:0a:40:05:00 dev flannel.1 dst 10.250.1.5 self permanent`,
      `ip -n ${ns} route replace 10.64.5.0/24 via 10.64.5.0 dev flannel.1 onlink`,
    ]);
    // what a full apply would still change: nothing
    expect((await h.applyPlan(b, { dryRun: true })).changes).toEqual([]);
  });

  it("falls back to a full apply when the step is more than peers (the device is gone)", async () => {
    const ns = underlay();
    await using h = await openHandle({ netns: ns });
    const a = at([peer(2)]);
    await h.applyPlan(a);
    inNs(ns, "link", "del", "flannel.1");
    const b = at([peer(2), peer(3)]);
    const step = await h.applyPlanChange(a, b);
    expect(step.changes[0]).toMatchObject({ object: "link", action: "create" });
    expect((await h.applyPlan(b, { dryRun: true })).changes).toEqual([]);
  });
});
