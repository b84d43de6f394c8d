/**
 * Two hosts: two namespaces joined by a veth underlay (10.250.0.1 ↔ 10.250.0.2), each with a
 * bridge holding the first address of its lease (as docker0 / cni0 would), the data plane
 * applied from the other host's lease, and a ping from one bridge address to the other.
 */
import { execFileSync } from "node:child_process";
import {
  type DataPlanePlan,
  type Lease,
  parseNetworkConfig,
  planHostGw,
  planToCommands,
  planVxlan,
} from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { type NetlinkHandle, openHandle } from "../src/index.js";
import { inNs, ip, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier() && tierGate("kernel", missingCommand("ping", "iputils-ping"));
const nss = new Netns();
afterAll(() => nss.cleanup());

const NETWORK = "10.64.0.0/16";

function lease(subnet: string, publicIP: string, backendType: string, mac: string | null): Lease {
  return {
    subnet,
    ipv6Subnet: null,
    attrs: {
      publicIP,
      publicIPv6: null,
      backendType,
      backendData: mac === null ? null : { VNI: 1, VtepMAC: mac },
      backendV6Data: null,
    },
    expiration: new Date(Date.now() + 86_400_000),
  };
}

function twoHosts(): [string, string] {
  const a = nss.create();
  const b = nss.create();
  ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
  inNs(a, "addr", "add", "10.250.0.1/24", "dev", "eth0");
  inNs(b, "addr", "add", "10.250.0.2/24", "dev", "eth0");
  inNs(a, "link", "set", "eth0", "up");
  inNs(b, "link", "set", "eth0", "up");
  return [a, b];
}

async function bridge(h: NetlinkHandle, subnet: string): Promise<string> {
  await h.ensureBridge({ name: "cni0" });
  const first = subnet.replace(/\.0\/24$/, ".1/24"); // FLANNEL_SUBNET
  await h.ifconfigAddress("cni0", first);
  return first.split("/")[0]!;
}

function ping(ns: string, from: string, to: string): void {
  execFileSync(
    "ip",
    ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", from, to],
    { stdio: "pipe" },
  );
}

async function overlay(
  mkPlan: (own: Lease, all: readonly Lease[]) => DataPlanePlan,
  leases: [Lease, Lease],
) {
  const [a, b] = twoHosts();
  await using ha = await openHandle({ netns: a });
  await using hb = await openHandle({ netns: b });
  const srcA = await bridge(ha, leases[0].subnet);
  const srcB = await bridge(hb, leases[1].subnet);
  // each node plans from its own lease and every lease in the store, with core's planners
  const planA = mkPlan(leases[0], leases);
  const planB = mkPlan(leases[1], leases);
  // the dry run prints the neighbour / FDB / route operations as core's planToCommands does
  const dry = await ha.applyPlan(planA, { dryRun: true });
  const peerLines = (lines: readonly string[]) =>
    lines.filter((l) =>
      new RegExp(`^(ip -n ${a} (-6 )?(neigh|route)|bridge -n ${a} fdb) `).test(l),
    );
  expect(peerLines(dry.commands).length).toBeGreaterThan(0);
  expect(peerLines(dry.commands)).toEqual(
    peerLines(planToCommands(planA, { order: "grouped", netns: a })),
  );
  const [ra, rb] = await Promise.all([ha.applyPlan(planA), hb.applyPlan(planB)]);
  expect(ra.changes.length).toBeGreaterThan(0);
  expect(rb.changes.length).toBeGreaterThan(0);
  ping(a, srcA, srcB);
  ping(b, srcB, srcA);
  const again = await Promise.all([ha.applyPlan(planA), hb.applyPlan(planB)]);
  expect(again.map((r) => r.changes)).toEqual([[], []]);
  return { a, b, ra, rb };
}

describe.runIf(run)("two-host overlay", () => {
  it("vxlan: flannel.1 on both sides, ping between the bridges", async () => {
    const macA = "0a:58:0a:40:01:00";
    const macB = "0a:58:0a:40:02:00";
    const leases: [Lease, Lease] = [
      lease("10.64.1.0/24", "10.250.0.1", "vxlan", macA),
      lease("10.64.2.0/24", "10.250.0.2", "vxlan", macB),
    ];
    const config = parseNetworkConfig({ Network: NETWORK, Backend: { Type: "vxlan" } });
    const { ra } = await overlay(
      (ownLease, all) =>
        planVxlan({
          config,
          ownLease,
          leases: all,
          externalInterface: { name: "eth0", mtu: 1500 },
        }),
      leases,
    );
    expect(ra.link?.mac).toBe(macA); // what node A publishes as VtepMAC
  });

  it("host-gw: a route via the other host's public IP, ping between the bridges", async () => {
    const leases: [Lease, Lease] = [
      lease("10.64.1.0/24", "10.250.0.1", "host-gw", null),
      lease("10.64.2.0/24", "10.250.0.2", "host-gw", null),
    ];
    const config = parseNetworkConfig({ Network: NETWORK, Backend: { Type: "host-gw" } });
    const { a } = await overlay(
      (ownLease, all) =>
        planHostGw({
          config,
          ownLease,
          leases: all,
          externalInterface: { name: "eth0", mtu: 1500 },
        }),
      leases,
    );
    expect(inNs(a, "route", "show", "10.64.2.0/24").trim()).toBe(
      "10.64.2.0/24 via 10.250.0.2 dev eth0",
    );
  });
});
