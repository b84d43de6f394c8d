import { type Lease, parseNetworkConfig, planVxlan } from "@flannel-sdk/core";
import { afterAll, describe, expect, it, vi } from "vitest";
import { keepDataPlane, openHandle } from "../src/index.js";
import { vxlanPlan } from "./fixtures.js";
import { inNs, kernelTier, Netns, underlay } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

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
    const ns = underlay(nss);
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
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    const a = at([peer(2)]);
    await h.applyPlan(a);
    inNs(ns, "link", "del", "flannel.1");
    const b = at([peer(2), peer(3)]);
    const step = await h.applyPlanChange(a, b);
    expect(step.changes[0]).toMatchObject({ object: "link", action: "create" });
    expect((await h.applyPlan(b, { dryRun: true })).changes).toEqual([]);
  });

  it("looks a device up once between full applies, and notices one made again with a new index", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    await using other = await openHandle({ netns: ns });
    const a = at([peer(2)]);
    await h.applyPlan(a);
    const lookups = vi.spyOn(h, "linkByName");
    const b = at([peer(2), peer(3)]);
    await h.applyPlanChange(a, b);
    const c = at([peer(2), peer(3), peer(4)]);
    await h.applyPlanChange(b, c);
    expect(lookups.mock.calls.filter(([name]) => name === "flannel.1")).toHaveLength(1);
    const before = (await h.linkByName("flannel.1"))!.index;

    // someone else deletes the device and makes it again: its index changes
    inNs(ns, "link", "del", "flannel.1");
    await other.applyPlan(c);
    expect((await h.linkByName("flannel.1"))!.index).not.toBe(before);
    // a step of deletions only: with the old index a route delete finds nothing (ESRCH)
    const d = at([peer(2), peer(3)]);
    const removed = await h.applyPlanChange(c, d);
    expect(removed.commands).toContain(
      `ip -n ${ns} route del 10.64.4.0/24 via 10.64.4.0 dev flannel.1`,
    );
    expect((await h.applyPlan(d, { dryRun: true })).changes).toEqual([]);

    // and again, then a step that adds (ENODEV on the old index)
    await h.applyPlanChange(d, c);
    inNs(ns, "link", "del", "flannel.1");
    await other.applyPlan(c);
    const e = at([peer(2), peer(3), peer(4), peer(5)]);
    await h.applyPlanChange(c, e);
    expect((await h.applyPlan(e, { dryRun: true })).changes).toEqual([]);
  });
});

describe.runIf(run)("keepDataPlane", () => {
  const config = parseNetworkConfig('{"Network":"10.64.0.0/16","Backend":{"Type":"vxlan"}}');
  const lease = (i: number, mac = i): Lease => ({
    subnet: `10.64.${i}.0/24`,
    ipv6Subnet: null,
    expiration: null,
    attrs: {
      publicIP: `10.250.${i === 1 ? 0 : 1}.${i}`,
      publicIPv6: null,
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: `0a:58:0a:40:${mac.toString(16).padStart(2, "0")}:00` },
      backendV6Data: null,
    },
  });
  const ownLease = lease(1);

  it("applies the whole plan, steps a watch batch without reading the kernel, and never loses an apply", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    let known = [lease(2), lease(3)];
    const plan = (leases: readonly Lease[] = known) => [
      planVxlan({ config, ownLease, leases, externalInterface: { name: "ul0", mtu: 1500 } }),
    ];
    const changes: string[] = [];
    const skipped: string[] = [];
    const dp = keepDataPlane(h, {
      plan,
      onChange: (c) => changes.push(c.command),
      onSkipped: (s) => skipped.push(s.message),
    });
    // two callers while one waits: one apply
    const [a, b] = [dp.apply(), dp.apply()];
    expect(a).toBe(b);
    await a;
    expect(changes).toHaveLength(3 + 3 * 2); // create, address, up; per lease neighbour, FDB, route
    // a batch: lease 3 goes, lease 4 comes, lease 9 is unusable (another backend)
    const odd = { ...lease(9), attrs: { ...lease(9).attrs, backendType: "host-gw" } };
    known = [lease(2), lease(4), odd];
    changes.length = 0;
    await dp.step({ before: [lease(3)], after: [lease(4), odd] });
    expect(changes).toHaveLength(6);
    expect(changes.filter((c) => c.includes("10.64.3.0") && / del /.test(c))).toHaveLength(2);
    expect(skipped).toEqual([]); // a step leaves that to the next full apply
    await dp.apply();
    expect(skipped).toHaveLength(1);
    expect((await h.applyPlan(plan()[0]!, { dryRun: true })).changes).toEqual([]);
  });
});
