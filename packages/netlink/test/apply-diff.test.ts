import { type DataPlanePlan, reconcilePeers } from "@flannel-sdk/core";
import { describe, expect, it } from "vitest";
import { peerCommand } from "../src/apply.js";
import { cmdVxlanAdd } from "../src/commands.js";
import type { FdbEntry, Link, Neigh, Route } from "../src/types.js";
import { vxlanIncompatibility } from "../src/vxlan-compat.js";
import { vxlanPlan } from "./fixtures.js";

const links = Object.assign(
  [
    { index: 4, name: "flannel.1", kind: "vxlan" } as Link,
    { index: 2, name: "eth0", kind: null } as Link,
  ],
  { interrupted: false },
);
const peerA = { subnet: "10.64.2.0/24", publicIP: "192.0.2.2", mac: "0a:58:00:00:00:02" };
const peerB = { subnet: "10.64.3.0/24", publicIP: "192.0.2.3", mac: "0a:58:00:00:00:03" };
const own = { subnet: "10.64.1.0/24", publicIP: "192.0.2.1", mac: "0a:58:00:00:00:01" };
const plan = vxlanPlan({ network: "10.64.0.0/16", own, lowerDevice: "eth0", peers: [peerA] });

const neigh = (ip: string, lladdr: string, dev = "flannel.1"): Neigh => ({
  family: 4,
  index: 4,
  dev,
  ip,
  lladdr,
  state: 0x80,
  permanent: true,
  flags: 0,
});
const fdb = (lladdr: string, dst: string): FdbEntry => ({
  index: 4,
  dev: "flannel.1",
  lladdr,
  dst,
  state: 0x80,
  permanent: true,
  self: true,
  master: false,
  vni: null,
});
const route = (
  dst: string,
  gateway: string | null,
  dev: string,
  extra: Partial<Route> = {},
): Route => ({
  family: 4,
  dst,
  gateway,
  dev,
  index: dev === "flannel.1" ? 4 : 2,
  table: 254,
  protocol: 3,
  scope: 0,
  type: 1,
  onlink: dev === "flannel.1",
  priority: 0,
  prefsrc: null,
  ...extra,
});

/** apply's peer step: core's reconciler, stale entries kept when a dump was interrupted. */
const diffPeers = (
  p: DataPlanePlan,
  s: { links: Link[]; neighs: Neigh[]; fdb: FdbEntry[]; routes: Route[]; interrupted: boolean },
) => reconcilePeers(p, s, { stale: !s.interrupted });

describe("apply's peer step (core's reconcilePeers)", () => {
  it("adds neighbour, FDB, route in flannel's order on an empty kernel", () => {
    const d = diffPeers(plan, { links, neighs: [], fdb: [], routes: [], interrupted: false });
    expect(d.ops.map((o) => peerCommand(o, null))).toEqual([
      "ip neigh replace 10.64.2.0 lladdr 0a:58:00:00:00:02 dev flannel.1 nud permanent",
      "bridge fdb replace 0a:58:00:00:00:02 dev flannel.1 dst 192.0.2.2 self permanent",
      "ip route replace 10.64.2.0/24 via 10.64.2.0 dev flannel.1 onlink",
    ]);
  });

  it("changes nothing when the kernel matches, and removes only owned stale entries", () => {
    const state = {
      links,
      neighs: [
        neigh("10.64.2.0", peerA.mac),
        neigh("10.64.3.0", peerB.mac),
        neigh("10.9.9.9", peerB.mac, "eth0"),
      ],
      fdb: [fdb(peerA.mac, peerA.publicIP), fdb(peerB.mac, peerB.publicIP)],
      routes: [
        route("10.64.2.0/24", "10.64.2.0", "flannel.1"),
        route("10.64.3.0/24", "10.64.3.0", "flannel.1"),
        route("10.99.0.0/24", "10.99.0.1", "flannel.1"), // outside Network: not ours
        route("0.0.0.0/0", "192.0.2.254", "eth0"), // not on an owned device
        route("10.64.1.0/24", null, "flannel.1"), // no gateway: not ours
      ],
      interrupted: false,
    };
    const d = diffPeers(plan, state);
    expect(d.unchanged).toBe(3);
    expect(d.ops.map((o) => peerCommand(o, "blue"))).toEqual([
      "ip -n blue route del 10.64.3.0/24 via 10.64.3.0 dev flannel.1",
      "bridge -n blue fdb del 0a:58:00:00:00:03 dev flannel.1 dst 192.0.2.3 self",
      "ip -n blue neigh del 10.64.3.0 dev flannel.1",
    ]);
    expect(diffPeers(plan, { ...state, interrupted: true }).ops).toEqual([]);
  });

  it("replaces a peer whose MAC or route changed", () => {
    const d = diffPeers(plan, {
      links,
      neighs: [neigh("10.64.2.0", "0a:58:00:00:00:99")],
      fdb: [fdb("0a:58:00:00:00:99", peerA.publicIP)],
      routes: [route("10.64.2.0/24", "10.64.2.0", "flannel.1", { onlink: false })],
      interrupted: false,
    });
    expect(d.ops.map((o) => `${o.object} ${o.action}`)).toEqual([
      "fdb delete",
      "neighbor replace",
      "fdb replace",
      "route replace",
    ]);
  });

  it("matches IPv6 routes at the kernel's default metric 1024", () => {
    const v6 = {
      ...plan,
      family: 6 as const,
      neighbors: [],
      fdb: [],
      routes: [
        { dst: "fd00:64:0:2::/64", gateway: "fd00:64:0:2::", dev: "flannel.1", onlink: true },
      ],
      owned: { network: "fd00:64::/48", devices: ["flannel.1"] },
    };
    const cur = route("fd00:64:0:2::/64", "fd00:64:0:2::", "flannel.1", {
      family: 6,
      priority: 1024,
    });
    const d = diffPeers(v6, { links, neighs: [], fdb: [], routes: [cur], interrupted: false });
    expect(d).toEqual({ ops: [], unchanged: 1, discrepancies: [] });
  });

  it("uses the append form for the all-zero MAC", () => {
    const p = {
      ...plan,
      fdb: [
        {
          dev: "flannel.1",
          lladdr: "00:00:00:00:00:00",
          dst: "192.0.2.7",
          self: true as const,
          permanent: true as const,
        },
        {
          dev: "flannel.1",
          lladdr: "00:00:00:00:00:00",
          dst: "192.0.2.8",
          self: true as const,
          permanent: true as const,
        },
      ],
      neighbors: [],
      routes: [],
    };
    const d = diffPeers(p, {
      links,
      neighs: [],
      fdb: [fdb("00:00:00:00:00:00", "192.0.2.7")],
      routes: [],
      interrupted: false,
    });
    expect(d.ops.map((o) => peerCommand(o, null))).toEqual([
      "bridge fdb append 00:00:00:00:00:00 dev flannel.1 dst 192.0.2.8 self permanent",
    ]);
  });
});

describe("vxlan compatibility (flannel's vxlanLinksIncompat)", () => {
  const existing: Link = {
    index: 4,
    name: "flannel.1",
    kind: "vxlan",
    mtu: 1450,
    mac: "0a:58:00:00:00:01",
    flags: 0,
    up: true,
    masterIndex: null,
    vxlan: {
      vni: 1,
      port: 8472,
      local: "192.0.2.1",
      group: null,
      lowerIndex: 2,
      learning: false,
      gbp: false,
      l2miss: false,
      l3miss: false,
    },
  };
  it.each([
    [{ name: "flannel.1", vni: 1, local: "192.0.2.1" }, 2, null],
    [
      { name: "flannel.1", vni: 1, port: 0, mtu: 9000, learning: true, mac: "02:00:00:00:00:09" },
      null,
      null,
    ],
    [{ name: "flannel.1", vni: 2 }, null, "vni: 2 vs 1"],
    [{ name: "flannel.1", vni: 1 }, 3, "vtep (external) interface: 3 vs 2"],
    [
      { name: "flannel.1", vni: 1, local: "192.0.2.9" },
      null,
      "vtep (external) IP: 192.0.2.9 vs 192.0.2.1",
    ],
    [{ name: "flannel.1", vni: 1, port: 4789 }, null, "port: 4789 vs 8472"],
    [{ name: "flannel.1", vni: 1, gbp: true }, null, "gbp: true vs false"],
  ])("%o (lower %s) → %s", (spec, lower, reason) => {
    expect(vxlanIncompatibility(spec, lower, existing)).toBe(reason);
  });
  it("refuses a device of another kind", () => {
    expect(
      vxlanIncompatibility({ name: "flannel.1", vni: 1 }, null, {
        ...existing,
        kind: "bridge",
        vxlan: null,
      }),
    ).toBe("link type: vxlan vs bridge");
  });
});

describe("commands", () => {
  it("prints the vxlan device as ip would create it", () => {
    expect(cmdVxlanAdd(plan.link!, null)).toBe(
      "ip link add flannel.1 address 0a:58:00:00:00:01 mtu 1450 type vxlan id 1 local 192.0.2.1 dev eth0 dstport 0 nolearning",
    );
  });
});
