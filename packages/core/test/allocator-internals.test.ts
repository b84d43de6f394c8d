import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DenseSlots } from "../src/allocator/dense.js";
import { makeGrid } from "../src/allocator/grid.js";
import { hashIndex, hashIndexSmall } from "../src/allocator/hash.js";
import { SparseSlots } from "../src/allocator/sparse.js";
import { formatIPv6, IP6Net, type NetworkConfig } from "../src/index.js";

// The two occupancy structures must agree on every query; the sparse one is normally used only
// past 2^22 candidates, so here both run on the same small windows (several sparse pages).

const arbSlots = fc.integer({ min: 0, max: 3500 }).chain((n) =>
  fc.tuple(
    fc.constant(n),
    fc.array(
      fc.oneof(
        fc.record({ op: fc.constantFrom("set" as const, "clear" as const), i: fc.nat() }),
        fc.record({
          op: fc.constantFrom("add" as const, "remove" as const),
          key: fc.integer({ min: 0, max: 6 }),
          lo: fc.nat(),
          len: fc.integer({ min: 1, max: 1500 }),
        }),
      ),
      { maxLength: 200 },
    ),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 150 })), { maxLength: 20 }),
  ),
);

describe("DenseSlots and SparseSlots agree", () => {
  it("on counts, membership and selection through random operations", () => {
    fc.assert(
      fc.property(arbSlots, ([n, ops, queries]) => {
        const dense = new DenseSlots(n);
        const sparse = new SparseSlots(BigInt(n));
        const ranges = new Map<string, [number, number]>();
        const check = () => {
          expect(sparse.occupied).toBe(BigInt(dense.occupied));
          let naive = 0;
          for (let i = 0; i < n; i++) {
            const taken = dense.isOccupied(i);
            expect(sparse.isOccupied(BigInt(i))).toBe(taken);
            if (taken) naive++;
          }
          expect(dense.occupied).toBe(naive);
          const free = n - naive;
          for (const [at, r] of queries) {
            if (n === 0) break;
            const from = at % n;
            if (r < free) expect(sparse.select(r)).toBe(BigInt(dense.select(r)));
            const below = dense.rank(from);
            const expected = below + r < free ? dense.select(below + r) : -1;
            expect(sparse.selectFrom(BigInt(from), r)).toBe(BigInt(expected));
            const hi = Math.min(n - 1, from + r);
            let any = false;
            for (let i = from; i <= hi; i++) any ||= dense.isOccupied(i);
            expect(dense.anyOccupied(from, hi)).toBe(any);
            expect(sparse.anyOccupied(BigInt(from), BigInt(hi))).toBe(any);
          }
        };
        for (const o of ops) {
          if (n === 0) break;
          if (o.op === "set" || o.op === "clear") {
            const i = o.i % n;
            if (o.op === "set") {
              dense.setExact(i);
              sparse.setExact(BigInt(i));
            } else {
              dense.clearExact(i);
              sparse.clearExact(BigInt(i));
            }
          } else if (o.op === "add" || o.op === "remove") {
            const key = String(o.key);
            if (o.op === "add") {
              // CIDR ranges nest or are disjoint: keep the generated ones that way.
              const lo = o.lo % n;
              const hi = Math.min(n - 1, lo + o.len - 1);
              const clash = [...ranges.values()].some(
                ([a, b]) => a <= hi && lo <= b && !(a <= lo && hi <= b) && !(lo <= a && b <= hi),
              );
              if (ranges.has(key) || clash) continue;
              ranges.set(key, [lo, hi]);
              dense.addRange(key, lo, hi);
              sparse.addRange(key, BigInt(lo), BigInt(hi));
            } else {
              ranges.delete(key);
              dense.removeRange(key);
              sparse.removeRange(key);
            }
          }
        }
        check();
      }),
      { numRuns: 120 },
    );
  });
});

function v6(min: string, max: string, len: number): NetworkConfig {
  return {
    enableIPv4: false,
    enableIPv6: true,
    enableNFTables: false,
    network: null,
    subnetLen: 0,
    subnetMin: null,
    subnetMax: null,
    ipv6Network: "::/0",
    ipv6SubnetLen: len,
    ipv6SubnetMin: min,
    ipv6SubnetMax: max,
    backend: { type: "udp", port: 8285 },
  };
}

describe("IPv6 candidate printing", () => {
  it("the word-arithmetic fast path equals bigint arithmetic, carries included", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
        fc.integer({ min: 1, max: 128 }),
        fc.integer({ min: 0, max: (1 << 22) - 1 }),
        fc.constantFrom(0n, (1n << 32n) - 1n, (1n << 64n) - 1n, (1n << 96n) - 1n),
        (ip, len, i, fill) => {
          const shift = BigInt(128 - len);
          // Set low bits above the step so that adding i carries across 32-bit words.
          const min = ((ip | (fill << shift)) >> shift) << shift;
          const span = (1n << BigInt(len)) - (min >> shift);
          if (span <= 0n) return;
          const max = min + ((span - 1n) << shift);
          const grid = makeGrid(v6(formatIPv6(min), formatIPv6(max), len), 6);
          const k = BigInt(i) % grid.count;
          expect(grid.format(Number(k))).toBe(grid.formatBig(k));
          expect(grid.formatBig(k)).toBe(new IP6Net(min + (k << shift), len).toString());
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe("identity hash", () => {
  it("the number version equals the bigint version", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.integer({ min: 1, max: 2 ** 37 - 1 }),
        (id, n) => {
          expect(BigInt(hashIndexSmall(id, n))).toBe(hashIndex(id, BigInt(n)));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
