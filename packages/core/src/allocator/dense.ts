/**
 * Occupancy of a window small enough for a bitset (up to {@link DENSE_LIMIT} candidates).
 *
 * Two bitsets: `exact` marks candidates leased as themselves, `occ` marks every candidate that
 * is taken (exact, or overlapped by a lease of another length). A Fenwick tree over the free
 * count of each 32-bit word of `occ` answers "the r-th free candidate" and "how many are free
 * below i" in O(log words), so allocation stays flat however full the window is (flannel's
 * walk re-scans every lease for every candidate).
 * @internal
 */

/** Windows up to this many candidates use a bitset (1 MiB of bits, two copies). */
export const DENSE_LIMIT = 1 << 22;

/** @internal */
export class DenseSlots {
  readonly n: number;
  /** Taken candidates (exact or overlapped). */
  occupied = 0;
  private readonly words: number;
  private readonly occ: Uint32Array;
  private readonly exact: Uint32Array;
  private readonly fen: Int32Array;
  private readonly top: number;
  /** Leases of another length: key → candidate range. Rare; kept apart from the bits. */
  private readonly ranges = new Map<string, [number, number]>();

  constructor(n: number) {
    this.n = n;
    const words = Math.ceil(n / 32);
    this.words = words;
    this.occ = new Uint32Array(words);
    this.exact = new Uint32Array(words);
    this.fen = new Int32Array(words + 1);
    let top = 1;
    while (top * 2 <= words) top *= 2;
    this.top = words === 0 ? 0 : top;
    // Bits past n in the last word are permanently taken, so they are never handed out.
    const tail = n & 31;
    if (tail !== 0) this.occ[words - 1] = ~((1 << tail) - 1) >>> 0;
    const fen = this.fen;
    for (let w = 0; w < words; w++) fen[w + 1] = 32 - popcount(this.occ[w]!);
    for (let i = 1; i <= words; i++) {
      const j = i + (i & -i);
      if (j <= words) fen[j]! += fen[i]!;
    }
  }

  get free(): number {
    return this.n - this.occupied;
  }

  isOccupied(i: number): boolean {
    return ((this.occ[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  /** True when any candidate in [lo, hi] is taken. */
  anyOccupied(lo: number, hi: number): boolean {
    for (let w = lo >>> 5; w <= hi >>> 5; w++) {
      if ((this.occ[w]! & rangeMask(w, lo, hi)) !== 0) return true;
    }
    return false;
  }

  /** The `r`-th free candidate (0-based, r < free). */
  select(r: number): number {
    const fen = this.fen;
    const words = this.words;
    let pos = 0;
    let rem = r;
    for (let step = this.top; step > 0; step >>>= 1) {
      const next = pos + step;
      if (next <= words && fen[next]! <= rem) {
        pos = next;
        rem -= fen[next]!;
      }
    }
    let zeros = ~this.occ[pos]!;
    for (; rem > 0; rem--) zeros &= zeros - 1;
    return pos * 32 + ctz(zeros);
  }

  /** Number of free candidates below `i`. */
  rank(i: number): number {
    const w = i >>> 5;
    let sum = 0;
    for (let k = w; k > 0; k -= k & -k) sum += this.fen[k]!;
    const bit = i & 31;
    return bit === 0 ? sum : sum + popcount(~this.occ[w]! & ((1 << bit) - 1));
  }

  /** Marks candidate `i` as leased as itself. */
  setExact(i: number): void {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    this.exact[w]! |= bit;
    if ((this.occ[w]! & bit) === 0) {
      this.occ[w]! |= bit;
      this.occupied++;
      this.fenAdd(w, -1);
    }
  }

  clearExact(i: number): void {
    const w = i >>> 5;
    const bit = 1 << (i & 31);
    if ((this.exact[w]! & bit) === 0) return;
    this.exact[w]! &= ~bit;
    if (this.ranges.size !== 0 && this.covered(i)) return;
    this.occ[w]! &= ~bit;
    this.occupied--;
    this.fenAdd(w, 1);
  }

  isExact(i: number): boolean {
    return ((this.exact[i >>> 5]! >>> (i & 31)) & 1) === 1;
  }

  hasRange(key: string): boolean {
    return this.ranges.has(key);
  }

  addRange(key: string, lo: number, hi: number): void {
    if (this.ranges.has(key)) return;
    this.ranges.set(key, [lo, hi]);
    for (let w = lo >>> 5; w <= hi >>> 5; w++) {
      const added = rangeMask(w, lo, hi) & ~this.occ[w]!;
      if (added === 0) continue;
      this.occ[w]! |= added;
      const count = popcount(added);
      this.occupied += count;
      this.fenAdd(w, -count);
    }
  }

  removeRange(key: string): void {
    const range = this.ranges.get(key);
    if (range === undefined) return;
    this.ranges.delete(key);
    const [lo, hi] = range;
    // Rebuild [lo, hi] from the exact bits and the leases still held: ranges of CIDRs are
    // nested or disjoint, so whatever another lease covers stays taken.
    for (let w = lo >>> 5; w <= hi >>> 5; w++) {
      const mask = rangeMask(w, lo, hi);
      let keep = this.exact[w]! & mask;
      for (const [a, b] of this.ranges.values()) {
        if (b >= w * 32 && a <= w * 32 + 31) keep |= rangeMask(w, a, b) & mask;
      }
      const before = this.occ[w]!;
      const after = ((before & ~mask) | keep) >>> 0;
      if (after === before) continue;
      this.occ[w] = after;
      const freed = popcount(before) - popcount(after);
      this.occupied -= freed;
      this.fenAdd(w, freed);
    }
  }

  private covered(i: number): boolean {
    for (const [a, b] of this.ranges.values()) if (i >= a && i <= b) return true;
    return false;
  }

  private fenAdd(w: number, delta: number): void {
    const fen = this.fen;
    for (let k = w + 1; k <= this.words; k += k & -k) fen[k]! += delta;
  }
}

/** Bits of word `w` that fall in [lo, hi]. */
function rangeMask(w: number, lo: number, hi: number): number {
  const first = w * 32;
  const from = lo > first ? lo - first : 0;
  const to = hi < first + 31 ? hi - first : 31;
  if (from > to) return 0;
  const upper = to === 31 ? 0xffffffff : (1 << (to + 1)) - 1;
  return (upper & ~((1 << from) - 1)) >>> 0;
}

/** @internal */
export function popcount(x: number): number {
  let v = x - ((x >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24;
}

/** Index of the lowest set bit (x ≠ 0). @internal */
export function ctz(x: number): number {
  return 31 - Math.clz32(x & -x);
}
