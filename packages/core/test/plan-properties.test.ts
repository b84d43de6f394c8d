import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalCidr,
  canonicalMAC,
  diffPlans,
  type Lease,
  planHostGw,
  planToBatches,
  planToCommands,
  planVxlan,
} from "../src/index.js";
import { dualStackConfig, lease, NODE_A, vxlanBackend } from "./plan-fixtures.js";

const hex2 = (b: number) => b.toString(16).padStart(2, "0");

const macArb = fc
  .uint8Array({ minLength: 6, maxLength: 6 })
  .map((bytes) => [...bytes].map(hex2).join(":"));

/** Mostly valid vxlan leases inside 172.30.0.0/16 (and fc00::/48), with some noise. */
const remoteArb: fc.Arbitrary<Lease> = fc
  .record({
    k: fc.integer({ min: 0, max: 40 }),
    host: fc.integer({ min: 1, max: 254 }),
    mac: fc.oneof({ weight: 8, arbitrary: macArb }, { weight: 1, arbitrary: fc.constant("bogus") }),
    backendType: fc.constantFrom("vxlan", "vxlan", "vxlan", "vxlan", "host-gw", ""),
    expiration: fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
    revision: fc.option(fc.bigInt({ min: 1n, max: 5n }), { nil: undefined }),
  })
  .map((r) =>
    lease({
      subnet: `172.30.${r.k}.0/24`,
      ipv6Subnet: `fc00:0:0:${r.k}::/64`,
      publicIP: `172.16.97.${r.host}`,
      publicIPv6: `2001:db8:97::${r.host}`,
      mac: r.mac,
      macV6: r.mac,
      backendType: r.backendType,
      expiration: r.expiration === null ? null : new Date(Date.UTC(2026, 0, 1 + r.expiration)),
      revision: r.revision,
    }),
  );

const leasesArb = fc.array(remoteArb, { maxLength: 40 });
const familyArb = fc.constantFrom(4 as const, 6 as const);
const directArb = fc.boolean();

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !(value instanceof Date)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

function input(leases: readonly Lease[], family: 4 | 6, directRouting: boolean) {
  return {
    config: dualStackConfig(vxlanBackend({ directRouting })),
    family,
    ownLease: lease(NODE_A),
    leases,
    externalInterface: { name: "eth0", mtu: 1500 },
    underlaySubnets: ["172.16.97.0/25", "2001:db8:97::/120"],
  };
}

const ownSubnet = (family: 4 | 6) => (family === 4 ? NODE_A.subnet : NODE_A.ipv6Subnet);
const subnetOf = (l: Lease, family: 4 | 6) => (family === 4 ? l.subnet : l.ipv6Subnet);

describe("planner properties", () => {
  it("the plan is deterministic and independent of lease order (and never mutates its input)", () => {
    fc.assert(
      fc.property(
        leasesArb.chain((ls) =>
          fc.tuple(fc.constant(ls), fc.shuffledSubarray(ls, { minLength: ls.length })),
        ),
        familyArb,
        directArb,
        ([leases, shuffled], family, direct) => {
          deepFreeze(leases);
          const a = planVxlan(input(leases, family, direct));
          const b = planVxlan(input(shuffled, family, direct));
          expect(b).toEqual(a);
          expect(planVxlan(input(leases, family, direct))).toEqual(a);
          expect(diffPlans(a, b)).toEqual({ added: [], removed: [], changed: [] });
          expect(planToCommands(b)).toEqual(planToCommands(a));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("every remote lease yields exactly one route or one skip entry; one route per subnet", () => {
    fc.assert(
      fc.property(leasesArb, familyArb, directArb, (leases, family, direct) => {
        const plan = planVxlan(input(leases, family, direct));
        const remote = leases.filter((l) => subnetOf(l, family) !== ownSubnet(family));
        expect(plan.routes.length + plan.skipped.length).toBe(remote.length);
        const dsts = plan.routes.map((r) => r.dst);
        expect(new Set(dsts).size).toBe(dsts.length);
        const valid = new Set(
          remote
            .filter((l) => l.attrs.backendType === "vxlan")
            .filter(
              (l) => !plan.skipped.some((s) => s.lease === l && s.reason !== "duplicate-subnet"),
            )
            .map((l) => canonicalCidr(subnetOf(l, family)!)),
        );
        expect(new Set(dsts)).toEqual(valid);
        // neighbour + FDB for each encapsulated route, none for direct ones
        const onlink = plan.routes.filter((r) => r.onlink);
        expect(plan.neighbors).toHaveLength(onlink.length);
        expect(plan.fdb).toHaveLength(onlink.length);
        for (const r of onlink) {
          const n = plan.neighbors.find((x) => x.ip === r.gateway);
          expect(n).toBeDefined();
          expect(plan.fdb.some((f) => f.lladdr === n!.lladdr)).toBe(true);
        }
        if (!direct) expect(onlink).toHaveLength(plan.routes.length);
      }),
      { numRuns: 200 },
    );
  });

  it("no entry ever targets the own subnet or the own public IP", () => {
    fc.assert(
      fc.property(
        leasesArb,
        familyArb,
        directArb,
        fc.boolean(),
        (leases, family, direct, withOwn) => {
          const all = withOwn ? [lease(NODE_A), ...leases] : leases;
          const plan = planVxlan(input(all, family, direct));
          const own = ownSubnet(family);
          const ownIP = own.slice(0, own.indexOf("/"));
          const ownPublic = family === 4 ? NODE_A.publicIP : NODE_A.publicIPv6;
          expect(plan.routes.some((r) => r.dst === own)).toBe(false);
          expect(plan.neighbors.some((n) => n.ip === ownIP)).toBe(false);
          expect(plan.fdb.some((f) => f.dst === ownPublic)).toBe(false);
          expect(plan.routes.some((r) => r.gateway === ownPublic)).toBe(false);
          expect(plan.skipped.some((s) => subnetOf(s.lease, family) === own)).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("per-peer commands put each route after its neighbour and FDB entry; batches hold the same lines", () => {
    fc.assert(
      fc.property(leasesArb, familyArb, directArb, (leases, family, direct) => {
        const plan = planVxlan(input(leases, family, direct));
        const perPeer = planToCommands(plan);
        const grouped = planToCommands(plan, { order: "grouped" });
        expect([...perPeer].sort()).toEqual([...grouped].sort());
        const strip = (l: string) => l.replace(/^(ip|bridge)( -6)? /, "");
        expect(planToBatches(plan).flatMap((b) => b.lines)).toEqual(grouped.map(strip));
        for (const r of plan.routes.filter((x) => x.onlink)) {
          const n = plan.neighbors.find((x) => x.ip === r.gateway)!;
          const routeAt = perPeer.findIndex((l) => l.includes(`route replace ${r.dst} `));
          const neighAt = perPeer.findIndex((l) => l.includes(`neigh replace ${n.ip} `));
          const fdbAt = perPeer.findIndex((l) => l.startsWith(`bridge fdb replace ${n.lladdr} `));
          expect(neighAt).toBeGreaterThan(-1);
          expect(neighAt).toBeLessThan(fdbAt);
          expect(fdbAt).toBeLessThan(routeAt);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("host-gw: one route per valid host-gw lease, order-independent", () => {
    fc.assert(
      fc.property(
        leasesArb.chain((ls) =>
          fc.tuple(fc.constant(ls), fc.shuffledSubarray(ls, { minLength: ls.length })),
        ),
        familyArb,
        ([leases, shuffled], family) => {
          const mk = (ls: readonly Lease[]) =>
            planHostGw({
              ...input(ls, family, false),
              config: dualStackConfig({ type: "host-gw" }),
            });
          const plan = mk(leases);
          expect(mk(shuffled)).toEqual(plan);
          const remote = leases.filter((l) => subnetOf(l, family) !== ownSubnet(family));
          expect(plan.routes.length + plan.skipped.length).toBe(remote.length);
          expect(plan.routes.every((r) => r.dev === "eth0" && !r.onlink)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("garbage leases are reported, never thrown", () => {
    const garbageArb = fc.oneof(
      fc.anything(),
      fc.record({
        subnet: fc.oneof(fc.string(), fc.constant("172.30.9.0/24")),
        ipv6Subnet: fc.anything(),
        attrs: fc.oneof(
          fc.anything(),
          fc.record({
            publicIP: fc.oneof(fc.string(), fc.constant("172.16.97.9")),
            publicIPv6: fc.anything(),
            backendType: fc.oneof(fc.string(), fc.constant("vxlan")),
            backendData: fc.oneof(fc.anything(), fc.record({ VtepMAC: fc.anything() })),
            backendV6Data: fc.anything(),
          }),
        ),
        expiration: fc.oneof(fc.anything(), fc.date({ noInvalidDate: false })),
        revision: fc.anything(),
      }),
    );
    fc.assert(
      fc.property(fc.array(garbageArb, { maxLength: 8 }), familyArb, (items, family) => {
        const leases = items as unknown as Lease[];
        const plan = planVxlan(input(leases, family, true));
        expect(plan.routes.length + plan.skipped.length).toBe(leases.length);
        planToCommands(plan);
      }),
      { numRuns: 300 },
    );
  });

  it("canonicalMAC reads all three spellings of any 48-bit MAC", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), fc.boolean(), (bytes, upper) => {
        const h = [...bytes].map(hex2);
        const canonical = h.join(":");
        const cased = (s: string) => (upper ? s.toUpperCase() : s);
        expect(canonicalMAC(cased(h.join(":")))).toBe(canonical);
        expect(canonicalMAC(cased(h.join("-")))).toBe(canonical);
        const dotted = `${h[0]}${h[1]}.${h[2]}${h[3]}.${h[4]}${h[5]}`;
        expect(canonicalMAC(cased(dotted))).toBe(canonical);
      }),
    );
  });
});
