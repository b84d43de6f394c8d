import { ctz, popcount } from "./dense.js";

/**
 * Occupancy of a window far bigger than memory (an IPv6 /8 at /64 has 2^56 candidates).
 *
 * Exact leases are bits in 1024-bit pages created on demand; leases of another length are kept
 * as ranges and merged into sorted disjoint intervals (CIDR ranges nest or are disjoint). A
 * cursor remembers that nothing below it is free, and a search counts free bits a word at a
 * time and jumps over intervals and absent pages, so the cost per allocation does not grow
 * with the number of leases held.
 * @internal
 */
export class SparseSlots {
  readonly n: bigint;
  private readonly pages = new Map<bigint, Uint32Array>();
  private exactCount = 0;
  private readonly ranges = new Map<string, [bigint, bigint]>();
  /** Union of `ranges`: sorted, disjoint, non-adjacent [lo, hi] pairs. */
  private intervals: Array<[bigint, bigint]> = [];
  /** Candidates inside `intervals`. */
  private covered = 0n;
  /** Exact bits inside `intervals` (counted once in `occupied`). */
  private overlap = 0;
  /** No free candidate lies below the cursor. */
  private cursor = 0n;

  constructor(n: bigint) {
    this.n = n;
  }

  get occupied(): bigint {
    return BigInt(this.exactCount - this.overlap) + this.covered;
  }

  get free(): bigint {
    return this.n - this.occupied;
  }

  isExact(i: bigint): boolean {
    const page = this.pages.get(i >> PAGE_SHIFT);
    if (page === undefined) return false;
    const off = Number(i & PAGE_MASK);
    return ((page[off >>> 5]! >>> (off & 31)) & 1) === 1;
  }

  isOccupied(i: bigint): boolean {
    return this.intervalAt(i) >= 0 || this.isExact(i);
  }

  /** True when any candidate in [lo, hi] is taken. */
  anyOccupied(lo: bigint, hi: bigint): boolean {
    const k = this.firstEndingAtOrAfter(lo);
    if (k < this.intervals.length && this.intervals[k]![0] <= hi) return true;
    const first = lo >> PAGE_SHIFT;
    const last = hi >> PAGE_SHIFT;
    if (last - first + 1n <= BigInt(this.pages.size)) {
      for (let p = first; p <= last; p++) if (this.pageHasBits(p, lo, hi)) return true;
      return false;
    }
    for (const p of this.pages.keys()) {
      if (p >= first && p <= last && this.pageHasBits(p, lo, hi)) return true;
    }
    return false;
  }

  /**
   * The `r`-th free candidate at or after `from` (r = 0: the next free one), or -1n.
   */
  selectFrom(from: bigint, r: number): bigint {
    const n = this.n;
    const intervals = this.intervals;
    let j = from;
    let rem = r;
    while (j < n) {
      const k = this.firstEndingAtOrAfter(j);
      let limit = n;
      if (k < intervals.length) {
        const [a, b] = intervals[k]!;
        if (a <= j) {
          j = b + 1n;
          continue;
        }
        limit = a;
      }
      const pageIndex = j >> PAGE_SHIFT;
      const pageEnd = (pageIndex + 1n) << PAGE_SHIFT;
      if (pageEnd < limit) limit = pageEnd;
      const page = this.pages.get(pageIndex);
      if (page === undefined) {
        if (BigInt(rem) < limit - j) return j + BigInt(rem);
        rem -= Number(limit - j);
        j = limit;
        continue;
      }
      // Count free bits word by word over [j, limit) inside this page.
      const base = pageIndex << PAGE_SHIFT;
      const from32 = Number(j - base);
      const to32 = Number(limit - base) - 1;
      for (let w = from32 >>> 5; w <= to32 >>> 5; w++) {
        const zeros = ~page[w]! & wordMask(w, from32, to32);
        const count = popcount(zeros);
        if (rem < count) {
          let z = zeros;
          for (; rem > 0; rem--) z &= z - 1;
          return base + BigInt(w * 32 + ctz(z));
        }
        rem -= count;
      }
      j = limit;
    }
    return -1n;
  }

  /** The `r`-th free candidate from the start of the window. */
  select(r: number): bigint {
    const first = this.selectFrom(this.cursor, 0);
    if (first < 0n) return -1n;
    this.cursor = first;
    return r === 0 ? first : this.selectFrom(first, r);
  }

  setExact(i: bigint): void {
    const key = i >> PAGE_SHIFT;
    let page = this.pages.get(key);
    if (page === undefined) {
      page = new Uint32Array(PAGE_WORDS + 1);
      this.pages.set(key, page);
    }
    const off = Number(i & PAGE_MASK);
    const bit = 1 << (off & 31);
    if ((page[off >>> 5]! & bit) !== 0) return;
    page[off >>> 5]! |= bit;
    page[PAGE_WORDS]!++;
    this.exactCount++;
    if (this.intervalAt(i) >= 0) this.overlap++;
  }

  clearExact(i: bigint): void {
    const key = i >> PAGE_SHIFT;
    const page = this.pages.get(key);
    if (page === undefined) return;
    const off = Number(i & PAGE_MASK);
    const bit = 1 << (off & 31);
    if ((page[off >>> 5]! & bit) === 0) return;
    page[off >>> 5]! &= ~bit;
    if (--page[PAGE_WORDS]! === 0) this.pages.delete(key);
    this.exactCount--;
    if (this.intervalAt(i) >= 0) this.overlap--;
    else if (i < this.cursor) this.cursor = i;
  }

  hasRange(key: string): boolean {
    return this.ranges.has(key);
  }

  addRange(key: string, lo: bigint, hi: bigint): void {
    if (this.ranges.has(key)) return;
    this.ranges.set(key, [lo, hi]);
    this.rebuild();
  }

  removeRange(key: string): void {
    const range = this.ranges.get(key);
    if (range === undefined) return;
    this.ranges.delete(key);
    this.rebuild();
    if (range[0] < this.cursor) this.cursor = range[0];
  }

  /** Recomputes the intervals and the counts that depend on them (leases of other lengths are rare). */
  private rebuild(): void {
    const sorted = [...this.ranges.values()].sort((x, y) =>
      x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0,
    );
    const merged: Array<[bigint, bigint]> = [];
    for (const [a, b] of sorted) {
      const last = merged[merged.length - 1];
      if (last !== undefined && a <= last[1] + 1n) {
        if (b > last[1]) last[1] = b;
      } else {
        merged.push([a, b]);
      }
    }
    this.intervals = merged;
    let covered = 0n;
    for (const [a, b] of merged) covered += b - a + 1n;
    this.covered = covered;
    let overlap = 0;
    for (const [p, page] of this.pages) {
      const base = p << PAGE_SHIFT;
      const end = base + PAGE_BITS - 1n;
      for (let k = this.firstEndingAtOrAfter(base); k < merged.length; k++) {
        const [a, b] = merged[k]!;
        if (a > end) break;
        const from = Number((a > base ? a : base) - base);
        const to = Number((b < end ? b : end) - base);
        for (let w = from >>> 5; w <= to >>> 5; w++) {
          overlap += popcount(page[w]! & wordMask(w, from, to));
        }
      }
    }
    this.overlap = overlap;
  }

  private pageHasBits(p: bigint, lo: bigint, hi: bigint): boolean {
    const page = this.pages.get(p);
    if (page === undefined) return false;
    const base = p << PAGE_SHIFT;
    const from = lo > base ? Number(lo - base) : 0;
    const to = hi < base + PAGE_BITS - 1n ? Number(hi - base) : PAGE_WORDS * 32 - 1;
    for (let w = from >>> 5; w <= to >>> 5; w++) {
      if ((page[w]! & wordMask(w, from, to)) !== 0) return true;
    }
    return false;
  }

  /** Index of the interval containing `i`, or -1. */
  private intervalAt(i: bigint): number {
    const k = this.firstEndingAtOrAfter(i);
    return k < this.intervals.length && this.intervals[k]![0] <= i ? k : -1;
  }

  /** Index of the first interval whose end is ≥ i (binary search). */
  private firstEndingAtOrAfter(i: bigint): number {
    const intervals = this.intervals;
    let lo = 0;
    let hi = intervals.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (intervals[mid]![1] < i) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

const PAGE_SHIFT = 10n;
const PAGE_BITS = 1n << PAGE_SHIFT;
const PAGE_MASK = PAGE_BITS - 1n;
const PAGE_WORDS = 32;

/** Bits of word `w` whose page offsets fall in [from, to]. */
function wordMask(w: number, from: number, to: number): number {
  const first = w * 32;
  const lo = from > first ? from - first : 0;
  const hi = to < first + 31 ? to - first : 31;
  if (lo > hi) return 0;
  const upper = hi === 31 ? 0xffffffff : (1 << (hi + 1)) - 1;
  return (upper & ~((1 << lo) - 1)) >>> 0;
}
