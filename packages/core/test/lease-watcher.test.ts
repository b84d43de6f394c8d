import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FlannelError,
  type Lease,
  type LeaseAttrs,
  type LeaseEvent,
  LeaseWatcher,
  type LeaseWatchResult,
} from "../src/index.js";
import { makeSubnetKey } from "../src/keys/subnet-key.js";

function attrs(ip: string, mac = "02:00:00:00:00:01"): LeaseAttrs {
  return {
    publicIP: ip,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: mac },
    backendV6Data: null,
  };
}

function lease(subnet: string, a: LeaseAttrs, ipv6Subnet: string | null = null): Lease {
  return { subnet, ipv6Subnet, attrs: a, expiration: new Date(0) };
}

const own = lease("10.5.1.0/24", attrs("192.0.2.1"));
const A = lease("10.5.2.0/24", attrs("192.0.2.2"));
const B = lease("10.5.3.0/24", attrs("192.0.2.3"));

const snap = (leases: Lease[], skipped: string[] = []): LeaseWatchResult => ({
  type: "snapshot",
  leases,
  revision: 1n,
  skipped: skipped.map((key) => ({ key, error: new FlannelError("LEASE_INVALID", "bad") })),
});
const evts = (events: LeaseEvent[]): LeaseWatchResult => ({
  type: "events",
  events,
  revision: 2n,
  skipped: [],
});

describe("LeaseWatcher", () => {
  it("names the leases a batch touched, before and after it, and no other", () => {
    const w = new LeaseWatcher({ ownLease: own });
    expect(w.apply(snap([A, B])).touched).toEqual({ before: [], after: [A, B] });
    const A2 = lease("10.5.2.0/24", attrs("192.0.2.2", "02:00:00:00:00:02"));
    const C = lease("10.5.4.0/24", attrs("192.0.2.4"));
    const batch = w.apply(
      evts([
        { type: "added", lease: A2 },
        { type: "added", lease: C },
        { type: "removed", lease: C },
        { type: "added", lease: own },
      ]),
    );
    // C came and went inside the batch: touched, but nothing before and nothing after
    expect(batch.touched).toEqual({ before: [A], after: [A2] });
    // a snapshot: B gone, A2 unchanged (untouched), C new
    expect(w.apply(snap([A2, C])).touched).toEqual({ before: [B], after: [C] });
  });

  it("the first snapshot adds every remote lease, never the own one", () => {
    const w = new LeaseWatcher({ ownLease: own });
    const batch = w.apply(snap([own, A, B]));
    expect(batch.events).toEqual([
      { type: "added", lease: A },
      { type: "added", lease: B },
    ]);
    expect(batch.revision).toBe(1n);
    expect(w.leases).toEqual([A, B]);
  });

  it("drops a lease that shares the own IPv4 or IPv6 subnet under another key", () => {
    const ownDual = lease("10.5.1.0/24", attrs("192.0.2.1"), "fd00::/64");
    const w = new LeaseWatcher({ ownLease: ownDual });
    const sameV4 = lease("10.5.1.0/24", attrs("192.0.2.9"));
    const sameV6 = lease("10.5.9.0/24", attrs("192.0.2.8"), "fd00::/64");
    expect(w.apply(snap([sameV4, sameV6, A])).events).toEqual([{ type: "added", lease: A }]);
    expect(w.apply(evts([{ type: "added", lease: sameV4 }])).events).toEqual([]);
  });

  it("a removed event forwards the stored lease with its attrs", () => {
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A]));
    const bare = lease("10.5.2.0/24", attrs("0.0.0.0"));
    expect(w.apply(evts([{ type: "removed", lease: bare }])).events).toEqual([
      { type: "removed", lease: A },
    ]);
    // Unknown: forwarded as given (flannel logs "were not found" and does the same).
    expect(w.apply(evts([{ type: "removed", lease: bare }])).events).toEqual([
      { type: "removed", lease: bare },
    ]);
  });

  it("added replaces the lease with the same subnets and is forwarded", () => {
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A]));
    const A2 = lease(A.subnet, attrs("192.0.2.2", "02:00:00:00:00:99"));
    expect(w.apply(evts([{ type: "added", lease: A2 }])).events).toEqual([
      { type: "added", lease: A2 },
    ]);
    expect(w.leases).toEqual([A2]);
  });

  it("a snapshot removes the missing leases first, then adds the new ones", () => {
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A]));
    expect(w.apply(snap([B])).events).toEqual([
      { type: "removed", lease: A },
      { type: "added", lease: B },
    ]);
  });

  it("a snapshot re-emits a lease whose attrs changed (unless asked to behave like flannel)", () => {
    const A2 = lease(A.subnet, attrs("192.0.2.2", "02:00:00:00:00:99"));
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A, B]));
    expect(w.apply(snap([A2, { ...B, expiration: new Date(5) }])).events).toEqual([
      { type: "added", lease: A2 },
    ]);
    // Equal attrs in new objects (a re-list) are not a change.
    const copy = lease(B.subnet, attrs("192.0.2.3"));
    expect(w.apply(snap([A2, copy])).events).toEqual([]);
    const flannel = new LeaseWatcher({ ownLease: own, emitChangedInSnapshot: false });
    flannel.apply(snap([A]));
    expect(flannel.apply(snap([A2])).events).toEqual([]);
  });

  it("an unreadable entry removes nothing: the known lease keeps its last readable version", () => {
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A, B]));
    const batch = w.apply(
      snap(
        [B],
        [
          `/coreos.com/network/subnets/${makeSubnetKey(A.subnet)}`,
          "/coreos.com/network/subnets/junk",
        ],
      ),
    );
    expect(batch.events).toEqual([]);
    expect(batch.skipped.map((s) => s.key)).toHaveLength(2);
    expect(w.leases).toEqual([B, A]);
    // Once readable again and gone, it is removed.
    expect(w.apply(snap([B])).events).toEqual([{ type: "removed", lease: A }]);
  });

  it("a result whose events were all unreadable changes nothing (flannel would remove everything)", () => {
    const w = new LeaseWatcher({ ownLease: own });
    w.apply(snap([A, B]));
    const result: LeaseWatchResult = {
      type: "events",
      events: [],
      revision: 3n,
      skipped: [
        {
          key: "/coreos.com/network/subnets/x",
          error: new FlannelError("SUBNET_KEY_INVALID", "x"),
        },
      ],
    };
    expect(w.apply(result)).toMatchObject({ events: [], revision: 3n });
    expect(w.leases).toEqual([A, B]);
  });

  it("works without an own lease", () => {
    const w = new LeaseWatcher({ ownLease: null });
    expect(w.ownLease).toBeNull();
    expect(w.apply(snap([own, A])).events).toHaveLength(2);
  });
});

// ---- properties -------------------------------------------------------------------------

const SUBNETS = ["10.5.1.0/24", "10.5.2.0/24", "10.5.3.0/24", "10.5.4.0/24", "10.5.10.0/24"];
const V6 = [null, "fd00:0:0:1::/64", "fd00:0:0:2::/64"];
const arbLease = fc
  .record({
    s: fc.constantFrom(...SUBNETS),
    v6: fc.constantFrom(...V6),
    ip: fc.integer({ min: 1, max: 4 }),
    mac: fc.integer({ min: 0, max: 3 }),
  })
  .map(({ s, v6, ip, mac }) => lease(s, attrs(`192.0.2.${ip}`, `02:00:00:00:00:0${mac}`), v6));

const arbResult: fc.Arbitrary<LeaseWatchResult> = fc.oneof(
  fc
    .record({
      leases: fc.array(arbLease, { maxLength: 6 }),
      skipped: fc.array(arbLease, { maxLength: 2 }),
    })
    .map(({ leases, skipped }) =>
      snap(
        leases,
        skipped.map((l) => `/p/subnets/${makeSubnetKey(l.subnet, l.ipv6Subnet)}`),
      ),
    ),
  fc
    .array(
      fc.record({ type: fc.constantFrom("added" as const, "removed" as const), lease: arbLease }),
      { maxLength: 5 },
    )
    .map(evts),
);

const id = (l: Lease): string => `${l.subnet}|${l.ipv6Subnet ?? ""}`;

describe("LeaseWatcher properties", () => {
  it("a backend applying the batches holds exactly the watcher's leases; own lease never shows", () => {
    fc.assert(
      fc.property(
        fc.option(arbLease, { nil: null }),
        fc.array(arbResult, { maxLength: 12 }),
        fc.boolean(),
        (ownLease, results, emitChanged) => {
          const w = new LeaseWatcher({ ownLease, emitChangedInSnapshot: emitChanged });
          const backend = new Map<string, Lease>();
          for (const r of results) {
            const before = new Map(w.leases.map((l) => [id(l), l]));
            const batch = w.apply(r);
            const running = new Map(before);
            for (const e of batch.events) {
              if (ownLease !== null) {
                expect(e.lease.subnet === ownLease.subnet && ownLease.subnet !== "0.0.0.0/0").toBe(
                  false,
                );
                if (ownLease.ipv6Subnet !== null)
                  expect(e.lease.ipv6Subnet).not.toBe(ownLease.ipv6Subnet);
              }
              if (e.type === "added") {
                backend.set(id(e.lease), e.lease);
                running.set(id(e.lease), e.lease);
              } else {
                // A removal of a known lease carries what was known.
                const known = running.get(id(e.lease));
                if (known !== undefined) expect(e.lease).toBe(known);
                backend.delete(id(e.lease));
                running.delete(id(e.lease));
              }
            }
            const now = new Map(w.leases.map((l) => [id(l), l]));
            expect([...backend.keys()].sort()).toEqual([...now.keys()].sort());
            if (emitChanged) {
              for (const [k, l] of now) expect(backend.get(k)?.attrs).toEqual(l.attrs);
            }
            if (r.type === "snapshot") {
              // Every known lease is in the snapshot, or kept because its entry was unreadable.
              const inSnap = new Set(r.leases.map(id));
              const unreadable = new Set(r.skipped.map((s) => s.key.replace("/p/subnets/", "")));
              for (const l of w.leases) {
                const key = makeSubnetKey(l.subnet, l.ipv6Subnet);
                expect(inSnap.has(id(l)) || (unreadable.has(key) && before.has(id(l)))).toBe(true);
              }
              // Unreadable entries never remove what was known.
              for (const [k, l] of before) {
                if (unreadable.has(makeSubnetKey(l.subnet, l.ipv6Subnet)))
                  expect(now.has(k)).toBe(true);
              }
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
