/**
 * Pure tier: the reconciler. One comparison gives the operations and the discrepancies, so "no
 * operation" and "no discrepancy" are the same answer; plan spellings (upper-case MACs, IPv6
 * with leading zeros) compare in the kernel's canonical form.
 */
import { describe, expect, it } from "vitest";
import {
  type DataPlanePlan,
  type KernelState,
  macKey,
  reconcileAddresses,
  reconcilePeers,
} from "../src/index.js";

const plan: DataPlanePlan = {
  backend: "vxlan",
  family: 4,
  link: {
    kind: "vxlan",
    name: "flannel.1",
    vni: 1,
    port: 0,
    local: "192.0.2.1",
    lowerDevice: "eth0",
    learning: false,
    gbp: false,
    mtu: 1450,
    mac: null,
  },
  addresses: [{ dev: "flannel.1", address: "10.64.1.0/32", exclusiveWithin: "10.64.0.0/16" }],
  neighbors: [
    { dev: "flannel.1", ip: "10.64.2.0", lladdr: "0A:58:00:00:00:02", state: "permanent" },
  ],
  fdb: [
    {
      dev: "flannel.1",
      lladdr: "0A:58:00:00:00:02",
      dst: "192.0.2.2",
      self: true,
      permanent: true,
    },
  ],
  routes: [{ dst: "10.64.2.0/24", gateway: "10.64.2.0", dev: "flannel.1", onlink: true }],
  owned: { network: "10.64.0.0/16", devices: ["flannel.1"] },
  mtu: 1450,
};

const link = {
  index: 4,
  name: "flannel.1",
  kind: "vxlan",
  mtu: 1450,
  mac: "0a:58:00:00:00:01",
  up: true,
  vxlan: { vni: 1, local: "192.0.2.1", lowerIndex: 2 },
} as const;

function kernel(more: Partial<KernelState> = {}): KernelState {
  return {
    links: [link],
    addrs: [{ family: 4, dev: "flannel.1", ip: "10.64.1.0", prefixLen: 32 }],
    neighs: [
      {
        family: 4,
        dev: "flannel.1",
        ip: "10.64.2.0",
        lladdr: "0a:58:00:00:00:02",
        permanent: true,
      },
    ],
    fdb: [
      {
        dev: "flannel.1",
        lladdr: "0a:58:00:00:00:02",
        dst: "192.0.2.2",
        self: true,
        permanent: true,
      },
    ],
    routes: [
      {
        family: 4,
        dst: "10.64.2.0/24",
        gateway: "10.64.2.0",
        dev: "flannel.1",
        table: 254,
        onlink: true,
      },
    ],
    ...more,
  };
}

describe("the reconciler", () => {
  it("a kernel that holds the plan: no operation, no discrepancy, whatever the MAC's case", () => {
    expect(reconcilePeers(plan, kernel())).toEqual({ ops: [], unchanged: 3, discrepancies: [] });
    expect(reconcileAddresses(plan, kernel().addrs)).toEqual({
      ops: [],
      unchanged: 1,
      discrepancies: [],
    });
    expect(macKey("0A-58-00-00-00-02")).toBe("0a:58:00:00:00:02");
  });

  it("an empty kernel: each planned entry is one operation and one discrepancy", () => {
    const r = reconcilePeers(plan, kernel({ neighs: [], fdb: [], routes: [] }));
    expect(r.ops.map((o) => `${o.object} ${o.action}`)).toEqual([
      "neighbor replace",
      "fdb replace",
      "route replace",
    ]);
    expect(r.discrepancies.map((d) => d.kind)).toEqual([
      "neighbor-missing",
      "fdb-missing",
      "route-missing",
    ]);
    const a = reconcileAddresses(plan, []);
    expect(a.ops).toEqual([{ action: "add", dev: "flannel.1", cidr: "10.64.1.0/32" }]);
    expect(a.discrepancies.map((d) => d.kind)).toEqual(["address-missing"]);
  });

  it("a wrong FDB destination is reported once, as wrong; a second destination beside the right one is stale", () => {
    const elsewhere = { ...kernel().fdb[0]!, dst: "192.0.2.99" };
    const wrong = reconcilePeers(plan, kernel({ fdb: [elsewhere] }));
    expect(wrong.discrepancies.map((d) => d.kind)).toEqual(["fdb-wrong"]);
    expect(wrong.ops.map((o) => `${o.object} ${o.action}`)).toEqual(["fdb delete", "fdb replace"]);
    const extra = reconcilePeers(plan, kernel({ fdb: [...kernel().fdb, elsewhere] }));
    expect(extra.discrepancies.map((d) => d.kind)).toEqual(["fdb-stale"]);
    expect(extra.ops.map((o) => `${o.object} ${o.action}`)).toEqual(["fdb delete"]);
  });

  it("stale entries in the ownership scope only; none looked for when the listing may be incomplete", () => {
    const k = kernel({
      neighs: [
        ...kernel().neighs,
        {
          family: 4,
          dev: "flannel.1",
          ip: "10.64.3.0",
          lladdr: "0a:58:00:00:00:03",
          permanent: true,
        },
        { family: 4, dev: "eth0", ip: "192.0.2.3", lladdr: "0a:58:00:00:00:03", permanent: true },
      ],
      routes: [
        ...kernel().routes,
        {
          family: 4,
          dst: "10.64.3.0/24",
          gateway: "10.64.3.0",
          dev: "flannel.1",
          table: 254,
          onlink: true,
        },
        {
          family: 4,
          dst: "10.99.0.0/24",
          gateway: "10.99.0.1",
          dev: "flannel.1",
          table: 254,
          onlink: false,
        },
      ],
    });
    expect(reconcilePeers(plan, k).discrepancies.map((d) => d.kind)).toEqual([
      "neighbor-stale",
      "route-stale",
    ]);
    expect(reconcilePeers(plan, k, { stale: false })).toEqual({
      ops: [],
      unchanged: 3,
      discrepancies: [],
    });
  });

  it("a neighbour that is not permanent, and a route at another metric, do not count as in place", () => {
    const r = reconcilePeers(
      plan,
      kernel({
        neighs: [{ ...kernel().neighs[0]!, permanent: false }],
        routes: [{ ...kernel().routes[0]!, priority: 100 }],
      }),
    );
    expect(r.discrepancies.map((d) => d.kind)).toEqual([
      "neighbor-wrong",
      "route-missing",
      "route-stale",
    ]);
  });

  it("an extra address inside the network goes; one outside stays", () => {
    const a = reconcileAddresses(plan, [
      ...kernel().addrs,
      { family: 4, dev: "flannel.1", ip: "10.64.9.0", prefixLen: 32 },
      { family: 4, dev: "flannel.1", ip: "192.168.7.1", prefixLen: 24 },
    ]);
    expect(a.ops).toEqual([{ action: "delete", dev: "flannel.1", cidr: "10.64.9.0/32" }]);
    expect(a.discrepancies).toMatchObject([
      { kind: "address-extra", found: [{ ip: "10.64.9.0" }] },
    ]);
  });
});
