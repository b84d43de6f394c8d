import type { NetworkConfig } from "../config/types.js";
import { FlannelError } from "../errors.js";
import { DENSE_LIMIT, DenseSlots } from "./dense.js";
import { type Grid, makeGrid } from "./grid.js";
import { hashIndex, hashIndexSmall } from "./hash.js";
import { SparseSlots } from "./sparse.js";

/**
 * How {@link SubnetAllocator.allocate} picks among the free subnets.
 *
 * - `random` — flannel's choice (`tryAcquireLease`, when it allocates a new subnet): uniformly among the first 100 free
 *   subnets counted from SubnetMin. Racing nodes collide with probability about 1/100.
 * - `sequential` — the lowest free subnet: predictable, compact, but every racing node wants
 *   the same one.
 * - `hashed` — the first free subnet at or after a stable hash of the node's identity
 *   (wrapping to SubnetMin), so racing nodes start far apart and a node that comes back tends
 *   to land where it was.
 */
export type AllocationStrategy = "random" | "sequential" | "hashed";

/** Options of {@link SubnetAllocator}. */
export interface SubnetAllocatorOptions {
  /** Default `"random"` (flannel parity). */
  readonly strategy?: AllocationStrategy;
  /** Source of uniform numbers in [0, 1) for `random`; default `Math.random`. */
  readonly random?: () => number;
  /** Which window to allocate from; default 4 when IPv4 is enabled, else 6. */
  readonly family?: 4 | 6;
  /** The node identity the `hashed` strategy starts from (e.g. its PublicIP). */
  readonly identity?: string;
}

/** Options of one {@link SubnetAllocator.allocate} call. */
export interface AllocateOptions {
  /** Overrides the allocator's `identity` for the `hashed` strategy. */
  readonly identity?: string;
}

/**
 * Hands out subnets of SubnetLen between SubnetMin and SubnetMax (inclusive) that no lease
 * overlaps, for one address family. Pure and synchronous: feed it the leases that exist with
 * {@link SubnetAllocator.occupy}, then {@link SubnetAllocator.allocate} a free subnet; a store
 * still has to win the race to write it.
 *
 * A lease of another length (left over from an older config) takes every candidate it
 * overlaps, as flannel's overlap test does; leases are counted by their CIDR, so releasing one
 * of two overlapping leases frees nothing the other still covers, and occupying the same CIDR
 * twice is the same as once. The cost of an allocation does not grow with the leases held.
 * Windows of up to 2^22 candidates use a bitset; bigger ones (an IPv6 /8 at /64) a sparse map.
 *
 * @example
 * ```ts
 * const alloc = new SubnetAllocator(parseNetworkConfig('{"Network":"10.0.0.0/8"}'), {
 *   strategy: "sequential",
 * });
 * alloc.occupy("10.0.1.0/24");
 * alloc.allocate(); // "10.0.2.0/24"
 * alloc.freeCount; // 65533n
 * ```
 */
export class SubnetAllocator {
  /** The address family allocated. */
  readonly family: 4 | 6;
  /** The strategy in use. */
  readonly strategy: AllocationStrategy;
  /** Prefix length of every subnet handed out. */
  readonly subnetLen: number;
  private readonly grid: Grid;
  private readonly dense: DenseSlots | null;
  private readonly sparse: SparseSlots | null;
  private readonly random: () => number;
  private readonly identity: string | undefined;

  /**
   * @throws FlannelError `INVALID_ARGUMENT` when the family is not enabled in `config` or an
   *   option is invalid; `CONFIG_INVALID` when SubnetMin/SubnetMax are not on a SubnetLen
   *   boundary (a config that did not come from `parseNetworkConfig`).
   */
  constructor(config: NetworkConfig, options: SubnetAllocatorOptions = {}) {
    const family = options.family ?? (config.enableIPv4 ? 4 : 6);
    if (family !== 4 && family !== 6) {
      throw new FlannelError("INVALID_ARGUMENT", `family must be 4 or 6, not ${String(family)}`);
    }
    const strategy = options.strategy ?? "random";
    if (strategy !== "random" && strategy !== "sequential" && strategy !== "hashed") {
      throw new FlannelError(
        "INVALID_ARGUMENT",
        `unknown allocation strategy: ${String(strategy)}`,
      );
    }
    this.family = family;
    this.strategy = strategy;
    this.random = options.random ?? Math.random;
    this.identity = options.identity;
    this.grid = makeGrid(config, family);
    this.subnetLen = this.grid.subnetLen;
    const count = this.grid.count;
    if (count <= BigInt(DENSE_LIMIT)) {
      this.dense = new DenseSlots(Number(count));
      this.sparse = null;
    } else {
      this.dense = null;
      this.sparse = new SparseSlots(count);
    }
  }

  /** Number of candidate subnets in the window (0 when SubnetMin > SubnetMax). */
  get size(): bigint {
    return this.grid.count;
  }

  /** Candidates taken: allocated, or overlapped by an occupied lease. */
  get allocatedCount(): bigint {
    return this.dense ? BigInt(this.dense.occupied) : this.sparse!.occupied;
  }

  /** Candidates still free; always `size - allocatedCount`. */
  get freeCount(): bigint {
    return this.dense ? BigInt(this.dense.free) : this.sparse!.free;
  }

  /**
   * Picks a free subnet by the strategy, marks it taken and returns it as CIDR text
   * (`"10.0.1.0/24"`, `"fc00:0:0:1::/64"`).
   *
   * @throws FlannelError `OUT_OF_SUBNETS` ("out of subnets") when no candidate is free;
   *   `INVALID_ARGUMENT` when `hashed` has no identity or the RNG returns a value outside [0, 1).
   */
  allocate(options?: AllocateOptions): string {
    const dense = this.dense;
    if (dense !== null) {
      const free = dense.free;
      if (free <= 0) throw outOfSubnets();
      let i: number;
      if (this.strategy === "sequential") {
        i = dense.select(0);
      } else if (this.strategy === "random") {
        i = dense.select(this.pick(Math.min(free, 100)));
      } else {
        const h = hashIndexSmall(this.identityFor(options), dense.n);
        const below = dense.rank(h);
        i = dense.select(below < free ? below : 0);
      }
      dense.setExact(i);
      return this.grid.format(i);
    }
    const sparse = this.sparse!;
    const free = sparse.free;
    if (free <= 0n) throw outOfSubnets();
    let i: bigint;
    if (this.strategy === "sequential") {
      i = sparse.select(0);
    } else if (this.strategy === "random") {
      i = sparse.select(this.pick(free < 100n ? Number(free) : 100));
    } else {
      i = sparse.selectFrom(hashIndex(this.identityFor(options), sparse.n), 0);
      if (i < 0n) i = sparse.select(0);
    }
    sparse.setExact(i);
    return this.grid.formatBig(i);
  }

  /**
   * Marks a lease as held: the candidate it is, or every candidate it overlaps when its length
   * differs. A lease outside the window changes nothing. Host bits are ignored.
   *
   * @throws FlannelError `INVALID_CIDR` when `cidr` is not CIDR text of this family.
   */
  occupy(cidr: string): void {
    const at = this.locate(cidr);
    if (at >= 0) {
      this.dense!.setExact(at);
      return;
    }
    if (at === -1) return;
    const range = this.rangeOf(cidr);
    if (range === null) return;
    if (this.dense) {
      if (range.exact) this.dense.setExact(Number(range.lo));
      else this.dense.addRange(range.key, Number(range.lo), Number(range.hi));
    } else if (range.exact) {
      this.sparse!.setExact(range.lo);
    } else {
      this.sparse!.addRange(range.key, range.lo, range.hi);
    }
  }

  /**
   * Forgets a lease. Candidates another held lease still overlaps stay taken; releasing a
   * lease that is not held changes nothing.
   *
   * @throws FlannelError `INVALID_CIDR` when `cidr` is not CIDR text of this family.
   */
  release(cidr: string): void {
    const at = this.locate(cidr);
    if (at >= 0) {
      this.dense!.clearExact(at);
      return;
    }
    if (at === -1) return;
    const range = this.rangeOf(cidr);
    if (range === null) return;
    if (this.dense) {
      if (range.exact) this.dense.clearExact(Number(range.lo));
      else this.dense.removeRange(range.key);
    } else if (range.exact) {
      this.sparse!.clearExact(range.lo);
    } else {
      this.sparse!.removeRange(range.key);
    }
  }

  /**
   * True when `cidr` overlaps a taken candidate of the window, i.e. when allocating it would
   * conflict. A subnet outside the window is never taken.
   *
   * @throws FlannelError `INVALID_CIDR` when `cidr` is not CIDR text of this family.
   */
  has(cidr: string): boolean {
    const at = this.locate(cidr);
    if (at >= 0) return this.dense!.isOccupied(at);
    if (at === -1) return false;
    const range = this.rangeOf(cidr);
    if (range === null) return false;
    if (this.dense) {
      return range.lo === range.hi
        ? this.dense.isOccupied(Number(range.lo))
        : this.dense.anyOccupied(Number(range.lo), Number(range.hi));
    }
    return range.lo === range.hi
      ? this.sparse!.isOccupied(range.lo)
      : this.sparse!.anyOccupied(range.lo, range.hi);
  }

  /** Dense windows: see {@link Grid.locate}; sparse windows always take the general path (-2). */
  private locate(cidr: string): number {
    if (typeof cidr !== "string" || cidr.includes(":") !== (this.family === 6)) {
      throw new FlannelError("INVALID_CIDR", `${String(cidr)} is not an IPv${this.family} CIDR`, {
        details: { input: cidr },
      });
    }
    return this.dense === null ? -2 : this.grid.locate(cidr);
  }

  private rangeOf(cidr: string) {
    return this.grid.rangeOf(cidr);
  }

  private pick(k: number): number {
    const x = this.random();
    if (!(x >= 0 && x < 1)) {
      throw new FlannelError("INVALID_ARGUMENT", `random() returned ${x}, outside [0, 1)`);
    }
    // x * k can round up to k for x just below 1.
    return Math.min(k - 1, Math.floor(x * k));
  }

  private identityFor(options: AllocateOptions | undefined): string {
    const identity = options?.identity ?? this.identity;
    if (identity === undefined) {
      throw new FlannelError("INVALID_ARGUMENT", "the hashed strategy needs an identity");
    }
    return identity;
  }
}

function outOfSubnets(): FlannelError {
  return new FlannelError("OUT_OF_SUBNETS", "out of subnets");
}
