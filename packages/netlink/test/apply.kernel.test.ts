import { execFileSync } from "node:child_process";
import { reconcileAddresses, reconcilePeers } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { openHandle } from "../src/index.js";
import { vxlanPlan } from "./fixtures.js";
import { bridgej, inNs, ipj, type J, kernelTier, Netns, underlay } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

const own = { subnet: "10.64.1.0/24", publicIP: "10.250.0.1", mac: "0a:58:0a:40:01:00" };
const peers = Array.from({ length: 20 }, (_, i) => ({
  subnet: `10.64.${i + 2}.0/24`,
  publicIP: `10.250.1.${i + 2}`,
  mac: `0a:58:0a:40:${(i + 2).toString(16).padStart(2, "0")}:00`,
}));
const plan = vxlanPlan({ network: "10.64.0.0/16", own, lowerDevice: "ul0", peers });

/** Runs `ip ...` / `bridge ...` command lines (as the dry run prints them). */
function runCommands(lines: readonly string[]): void {
  for (const line of lines) {
    const [tool, ...args] = line.split(" ");
    execFileSync(tool!, args, { stdio: "pipe" });
  }
}

describe.runIf(run)("applyPlan", () => {
  it("programs a fresh namespace, then changes nothing on a second apply", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    const first = await h.applyPlan(plan);
    expect(first.changes.length).toBe(1 + 1 + 1 + 3 * peers.length); // create, address, up, peers
    expect(first.changes[0]).toMatchObject({ object: "link", action: "create" });
    expect(first.link?.mac).toBe(own.mac);
    const link = ipj<J[]>(ns, "-d", "link", "show", "flannel.1")[0]!;
    expect([
      link.mtu,
      link.address,
      link.flags.includes("UP"),
      link.linkinfo.info_data.learning,
    ]).toEqual([1450, own.mac, true, false]);
    expect(
      ipj<J[]>(ns, "-4", "addr", "show", "dev", "flannel.1")[0]!.addr_info.map(
        (a: J) => `${a.local}/${a.prefixlen}`,
      ),
    ).toEqual(["10.64.1.0/32"]);
    const routes = ipj<J[]>(ns, "route", "show", "dev", "flannel.1");
    expect(routes.map((r) => `${r.dst} via ${r.gateway} ${r.flags.join(",")}`).sort()).toEqual(
      peers.map((p) => `${p.subnet} via ${p.subnet.split("/")[0]} onlink`).sort(),
    );
    const neigh = ipj<J[]>(ns, "-4", "neigh", "show", "dev", "flannel.1");
    expect(neigh.map((n) => `${n.dst} ${n.lladdr} ${n.state}`).sort()).toEqual(
      peers.map((p) => `${p.subnet.split("/")[0]} ${p.mac} PERMANENT`).sort(),
    );
    const fdb = bridgej<J[]>(ns, "fdb", "show", "dev", "flannel.1").filter((f) => f.dst);
    expect(fdb.map((f) => `${f.mac} ${f.dst} ${f.state}`).sort()).toEqual(
      peers.map((p) => `${p.mac} ${p.publicIP} permanent`).sort(),
    );

    const second = await h.applyPlan(plan);
    expect(second.changes).toEqual([]);
    expect(second.unchanged).toBe(2 + 3 * peers.length);
    expect(second.link?.index).toBe(first.link?.index);
  });

  it("a kernel applyPlan left alone reconciles clean: no operation, no discrepancy (what diagnose reports)", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    // the plan spelled as a hand-written one might be: upper-case MACs; the kernel prints lower case
    const shouted = {
      ...plan,
      neighbors: plan.neighbors.map((n) => ({ ...n, lladdr: n.lladdr.toUpperCase() })),
      fdb: plan.fdb.map((f) => ({ ...f, lladdr: f.lladdr.toUpperCase() })),
    };
    await h.applyPlan(shouted);
    const snap = await h.snapshot({ family: 4 });
    for (const p of [plan, shouted]) {
      expect(reconcilePeers(p, snap)).toEqual({
        ops: [],
        unchanged: 3 * peers.length,
        discrepancies: [],
      });
      expect(reconcileAddresses(p, snap.addrs)).toEqual({
        ops: [],
        unchanged: 1,
        discrepancies: [],
      });
    }
    expect((await h.applyPlan(shouted)).changes).toEqual([]);
  });

  it("dry run changes nothing, and its printed commands, run by ip and bridge, reach the same state", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    const dry = await h.applyPlan(plan, { dryRun: true });
    expect(dry.dryRun).toBe(true);
    expect(ipj<J[]>(ns, "link", "show").map((l) => l.ifname)).not.toContain("flannel.1");
    expect(dry.commands[0]).toBe(
      `ip -n ${ns} link add flannel.1 address ${own.mac} mtu 1450 type vxlan id 1 local 10.250.0.1 dev ul0 dstport 0 nolearning`,
    );
    expect(dry.commands.slice(1, 3)).toEqual([
      `ip -n ${ns} addr add 10.64.1.0/32 dev flannel.1`,
      `ip -n ${ns} link set dev flannel.1 up`,
    ]);
    runCommands(dry.commands);
    const after = await h.applyPlan(plan);
    expect(after.changes).toEqual([]);
  });

  it("removes what the plan no longer holds, and only what it owns", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    await h.applyPlan(plan);
    // entries flannel does not own: another device, outside the Network, without a gateway
    inNs(
      ns,
      "neigh",
      "replace",
      "10.250.9.9",
      "lladdr",
      "0a:00:00:00:09:09",
      "dev",
      "ul0",
      "nud",
      "permanent",
    );
    inNs(ns, "route", "replace", "10.99.0.0/24", "via", "10.99.0.0", "dev", "flannel.1", "onlink");
    inNs(ns, "route", "replace", "10.64.200.0/24", "via", "10.250.0.9", "dev", "ul0");
    inNs(ns, "route", "replace", "10.64.201.0/24", "dev", "flannel.1");
    const smaller = vxlanPlan({
      network: "10.64.0.0/16",
      own,
      lowerDevice: "ul0",
      peers: peers.slice(0, 15),
    });
    const r = await h.applyPlan(smaller);
    expect(r.changes.map((c) => `${c.object} ${c.action}`)).toEqual([
      ...Array(5).fill("route delete"),
      ...Array(5).fill("fdb delete"),
      ...Array(5).fill("neighbor delete"),
    ]);
    expect(
      ipj<J[]>(ns, "route", "show", "dev", "flannel.1")
        .map((x) => x.dst)
        .sort(),
    ).toEqual(
      [...peers.slice(0, 15).map((p) => p.subnet), "10.64.201.0/24", "10.99.0.0/24"].sort(),
    );
    expect(ipj<J[]>(ns, "route", "show", "10.64.200.0/24")).toHaveLength(1);
    expect(ipj<J[]>(ns, "neigh", "show", "dev", "ul0").map((n) => n.dst)).toContain("10.250.9.9");
    expect((await h.applyPlan(smaller)).changes).toEqual([]);
  });

  it("recreates an incompatible device and replaces a changed peer", async () => {
    const ns = underlay(nss);
    await using h = await openHandle({ netns: ns });
    inNs(ns, "link", "add", "flannel.1", "type", "vxlan", "id", "9", "dstport", "0");
    const moved = peers.map((p, i) =>
      i === 0 ? { ...p, mac: "0a:58:0a:40:ff:ff", publicIP: "10.250.3.3" } : p,
    );
    await h.applyPlan(plan);
    const r = await h.applyPlan(
      vxlanPlan({ network: "10.64.0.0/16", own, lowerDevice: "ul0", peers: moved }),
    );
    expect(r.changes.map((c) => c.command)).toEqual([
      `bridge -n ${ns} fdb del ${peers[0]!.mac} dev flannel.1 dst ${peers[0]!.publicIP} self`,
      `ip -n ${ns} neigh replace 10.64.2.0 lladdr 0a:58:0a:40:ff:ff dev flannel.1 nud permanent`,
      `bridge -n ${ns} fdb replace 0a:58:0a:40:ff:ff dev flannel.1 dst 10.250.3.3 self permanent`,
    ]);
    const fresh = nss.create();
    inNs(fresh, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
    inNs(fresh, "addr", "add", "10.250.0.1/16", "dev", "ul0");
    inNs(fresh, "link", "add", "flannel.1", "type", "vxlan", "id", "9", "dstport", "0");
    await using h2 = await openHandle({ netns: fresh });
    const rec = await h2.applyPlan(plan);
    expect(rec.changes.slice(0, 2)).toEqual([
      {
        object: "link",
        action: "delete",
        command: `ip -n ${fresh} link del dev flannel.1`,
        reason: "vni: 1 vs 9",
      },
      expect.objectContaining({ object: "link", action: "recreate", reason: "vni: 1 vs 9" }),
    ]);
    expect(ipj<J[]>(fresh, "-d", "link", "show", "flannel.1")[0]!.linkinfo.info_data.id).toBe(1);
  });
});
