/**
 * The embedded lease store: flannel's etcd layout and lease protocol, in memory.
 */

import type { AllocationStrategy } from "../allocator/subnet-allocator.js";
import { type Clock, systemClock } from "../clock.js";
import { parseNetworkConfig } from "../config/parse.js";
import { networkConfigText } from "../config/text.js";
import type { NetworkConfig } from "../config/types.js";
import { DEFAULT_ETCD_PREFIX } from "../defaults.js";
import { FlannelError, throwIfAborted } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { makeSubnetKey, parseSubnetKey } from "../keys/subnet-key.js";
import {
  isSameNode,
  type LeaseAcquisitionPlan,
  NO_IPV4_SUBNET,
  normalizeLeaseAttrs,
  SUBNET_TTL_SECONDS,
} from "../lease/acquire.js";
import { runLeaseAcquisition } from "../lease/acquire-loop.js";
import { type KeepLeaseOptions, LeaseKeeper, type OwnLeaseState } from "../lease/keeper.js";
import { planReservation } from "../lease/reserve.js";
import type { Lease, LeaseAttrs } from "../lease/types.js";
import type {
  AcquireLeaseOptions,
  CallOptions,
  LeaseEvent,
  LeaseList,
  LeaseStore,
  LeaseWatchResult,
  WatchLeasesOptions,
} from "./types.js";

/** Options of {@link MemoryLeaseStore}. */
export interface MemoryLeaseStoreOptions {
  /**
   * The network config the store starts with, as if written with `etcdctl put`: a JSON string
   * (kept as is), a {@link NetworkConfig} such as `parseNetworkConfig` returns (written in
   * flannel's spelling, `formatNetworkConfig`), or another object (serialized). It is validated
   * when read, like any store's.
   */
  readonly config?: string | object;
  /**
   * Drives lease expiry: milliseconds since the epoch (`() => number`), or a {@link Clock},
   * whose timers then also drive {@link MemoryLeaseStore.keepLease} (so keepers are testable
   * without waiting). Default the system clock.
   * With an injected clock the store sets no expiry timer of its own: expired leases go at the
   * next call or {@link MemoryLeaseStore.collectExpired}.
   */
  readonly clock?: Clock | (() => number);
  /** RNG in [0, 1) for the `random` allocation strategy. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * How new subnets are picked. Default `"hashed"` (from a hash of the node's PublicIP: nodes
   * acquiring together rarely collide, and a node gets its old subnet back after an expiry);
   * `"random"` is flanneld's own choice. Same default as the etcd stores.
   */
  readonly strategy?: AllocationStrategy;
  /** Key prefix used in reported keys (`<prefix>/subnets/<key>`). Default `/coreos.com/network`. */
  readonly prefix?: string;
}

interface Entry {
  readonly subnet: string;
  readonly ipv6Subnet: string | null;
  readonly attrs: LeaseAttrs;
  /** ms since the epoch; null = reservation. */
  readonly expiresAt: number | null;
  readonly revision: bigint;
  /** What callers get (built once per write). */
  readonly lease: Lease;
}

// setTimeout's delay is a signed 32-bit millisecond count.
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * An in-memory {@link LeaseStore} with flannel's semantics: the embedded store for the demo and
 * for consumers' unit tests, and the reference the etcd stores are held to (it passes the
 * contract suite of `@flannel-sdk/core/testing`).
 *
 * - Keys and order are etcd's: `<prefix>/subnets/10.5.1.0-24`, listed in byte order.
 * - Every write (config, lease put, delete, expiry) bumps a `bigint` revision, as etcd's does.
 * - Leases live 24 h by the injectable clock; a reservation never expires, and stays one when
 *   its node reuses it. Expired leases vanish before any call and watchers get `removed`.
 * - Acquisition runs the same {@link runLeaseAcquisition} loop as the etcd stores, with real
 *   interleaving between listing and writing, so concurrent callers race and retry as they would
 *   against etcd. A create loses the race when the key exists, when any lease holds either
 *   subnet, or when the same node got a lease meanwhile (so one node never ends up with two).
 * - No Node built-ins. With the default clock a timer fires at the next expiry while a watch is
 *   open (so a watcher sees expiries on time); `close()` clears it and ends every watch.
 *
 * @example
 * ```ts
 * await using store = new MemoryLeaseStore({ config: { Network: "10.5.0.0/16", Backend: { Type: "vxlan" } } });
 * const lease = await store.acquireLease({ publicIP: "192.168.1.10", publicIPv6: null, backendType: "vxlan",
 *   backendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" }, backendV6Data: null });
 * lease.subnet; // e.g. "10.5.42.0/24"
 * ```
 */
export class MemoryLeaseStore implements LeaseStore {
  readonly #clock: () => number;
  /** Time and timers of the keepers. */
  readonly #timers: Clock;
  readonly #timersAllowed: boolean;
  readonly #random: (() => number) | undefined;
  readonly #strategy: AllocationStrategy;
  readonly #prefix: string;
  #config: string | null;
  readonly #entries = new Map<string, Entry>();
  /** The keys of #entries in etcd's (byte) order, kept sorted on insert and delete. */
  readonly #keys: string[] = [];
  /** No lease expires before this (ms); lets most calls skip the expiry scan. */
  #nextExpiry = Number.POSITIVE_INFINITY;
  #revision = 1n;
  readonly #watches = new Set<Watch>();
  readonly #keepers = new Set<LeaseKeeper>();
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * @throws FlannelError `INVALID_ARGUMENT` when `config` is neither a string nor an object;
   *   `CONFIG_INVALID` for a `NetworkConfig` flanneld would refuse.
   */
  constructor(options: MemoryLeaseStoreOptions = {}) {
    const clock = options.clock;
    // A bare `now` function keeps the system's timers, measured against that `now`.
    this.#timers =
      typeof clock === "function" ? { ...systemClock, now: clock } : (clock ?? systemClock);
    const timers = this.#timers;
    this.#clock = clock === undefined ? Date.now : () => timers.now();
    this.#timersAllowed = clock === undefined;
    this.#random = options.random;
    this.#strategy = options.strategy ?? "hashed";
    this.#prefix = (options.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, "");
    this.#config = options.config === undefined ? null : networkConfigText(options.config);
  }

  /** The store's current revision (the last write's). */
  get revision(): bigint {
    return this.#revision;
  }

  /** True once {@link MemoryLeaseStore.close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Removes every lease whose expiration has passed by the store's clock, telling the watchers
   * (`removed`). Every other call does this first; call it after advancing an injected clock when
   * nothing else touches the store.
   *
   * @returns the leases that expired.
   * @throws FlannelError `STORE_CLOSED`
   * @example
   * ```ts
   * now += 24 * 3600_000 + 1;
   * store.collectExpired(); // [the lease nobody renewed]
   * ```
   */
  collectExpired(): Lease[] {
    this.#checkOpen();
    return this.#sweep();
  }

  /** @inheritdoc */
  async getNetworkConfig(options?: CallOptions): Promise<NetworkConfig> {
    this.#begin(options);
    return this.#readConfig();
  }

  /** @inheritdoc */
  async putNetworkConfig(config: string | object, options?: CallOptions): Promise<NetworkConfig> {
    this.#begin(options);
    const text = networkConfigText(config);
    const parsed = parseNetworkConfig(text);
    this.#config = text;
    this.#revision++;
    return parsed;
  }

  /**
   * Acquires a lease with flannel v0.28's algorithm (see `planLeaseAcquisition`).
   * @throws FlannelError `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `LEASE_INVALID`,
   * `MAX_RETRIES`, `ABORTED`, `STORE_CLOSED`
   */
  async acquireLease(attrs: LeaseAttrs, options?: AcquireLeaseOptions): Promise<Lease> {
    this.#begin(options);
    return runLeaseAcquisition(
      {
        snapshot: async () => {
          this.#checkOpen();
          this.#sweep();
          return { config: this.#readConfig(), leases: this.#sortedLeases() };
        },
        commit: async (plan) => this.#commit(plan),
      },
      attrs,
      {
        ...options,
        strategy: this.#strategy,
        // Every racer is in this process and the next read sees the winner: no pause.
        backoff: false,
        ...(this.#random === undefined ? {} : { random: this.#random }),
      },
    );
  }

  // The write of one attempt; the read was a turn earlier, so concurrent acquisitions race.
  async #commit(plan: LeaseAcquisitionPlan): Promise<Lease | null> {
    this.#checkOpen();
    this.#sweep();
    for (const lease of plan.delete) this.#delete(keyOf(lease.subnet, lease.ipv6Subnet));
    const write = plan.write;
    if (write.mode === "update") {
      const entry = this.#entries.get(keyOf(write.subnet, write.ipv6Subnet));
      if (entry === undefined || !isSameNode(entry.attrs, write.attrs)) return null;
    } else {
      // Lost race: the subnet was taken, or a concurrent call of the same node got a lease
      // first (the retry then reuses that one instead of making a second).
      if (this.#conflicts(write.subnet, write.ipv6Subnet)) return null;
      for (const entry of this.#entries.values()) {
        if (isSameNode(entry.attrs, write.attrs)) return null;
      }
    }
    return this.#put(write.subnet, write.ipv6Subnet, write.attrs, write.ttlSeconds);
  }

  /**
   * Rewrites the lease with a fresh 24 h TTL and the lease's attrs; a reservation stays
   * permanent.
   * @throws FlannelError `LEASE_NOT_FOUND` (expired, released, or now held by another node),
   * `LEASE_INVALID`, `ABORTED`, `STORE_CLOSED`
   */
  async renewLease(lease: Lease, options?: CallOptions): Promise<Lease> {
    this.#begin(options);
    // A lease read under a non-canonical key (`lease.key`, from an etcd store) is never here.
    const key = lease.key ?? keyOf(lease.subnet, lease.ipv6Subnet);
    const entry = this.#entries.get(key);
    const attrs = normalizeLeaseAttrs(lease.attrs);
    if (entry === undefined || !isSameNode(entry.attrs, attrs)) {
      throw new FlannelError(
        "LEASE_NOT_FOUND",
        entry === undefined
          ? `lease ${key} not found`
          : `lease ${key} is now held by ${entry.attrs.publicIP}`,
        {
          details: {
            key: this.#path(key),
            ...(entry === undefined ? {} : { holder: entry.attrs.publicIP }),
          },
        },
      );
    }
    return this.#put(
      entry.subnet,
      entry.ipv6Subnet,
      attrs,
      entry.expiresAt === null ? null : SUBNET_TTL_SECONDS,
    );
  }

  /**
   * Deletes a lease. Given a `Lease`, only while it still belongs to that lease's node (a subnet
   * someone else took meanwhile is left alone); given a string — a subnet key
   * (`10.5.1.0-24`, a full `<prefix>/subnets/…` path) or an IPv4/IPv6 CIDR — whatever holds it.
   * Releasing an absent lease is not an error.
   * @throws FlannelError `SUBNET_KEY_INVALID` / `INVALID_CIDR` for an unreadable string,
   * `ABORTED`, `STORE_CLOSED`
   */
  async releaseLease(lease: Lease | string, options?: CallOptions): Promise<void> {
    this.#begin(options);
    if (typeof lease !== "string") {
      const key = lease.key ?? keyOf(lease.subnet, lease.ipv6Subnet);
      const entry = this.#entries.get(key);
      if (entry !== undefined && isSameNode(entry.attrs, lease.attrs)) {
        this.#delete(key);
      }
      return;
    }
    if (lease.includes("/") && !lease.includes("subnets/")) {
      const family = lease.includes(":") ? 6 : 4;
      const cidr = (family === 4 ? IP4Net.parse(lease) : IP6Net.parse(lease)).network().toString();
      for (const [key, entry] of [...this.#entries]) {
        if ((family === 4 ? entry.subnet : entry.ipv6Subnet) === cidr) this.#delete(key);
      }
      return;
    }
    const { subnet, ipv6Subnet } = parseSubnetKey(lease);
    // This store writes only canonical keys: a non-canonical one (`10.5.1.17-24`) is absent.
    let key: string;
    try {
      key = keyOf(subnet, ipv6Subnet);
    } catch {
      return;
    }
    if (key === lease.slice(lease.lastIndexOf("/") + 1)) this.#delete(key);
  }

  /**
   * Writes a reservation (no TTL) for the node with `attrs.publicIP`; see `planReservation`.
   * @throws FlannelError `LEASE_CONFLICT`, `CONFIG_INVALID`, `CONFIG_NOT_FOUND`, `LEASE_INVALID`,
   * `ABORTED`, `STORE_CLOSED`
   */
  async reserveSubnet(
    subnet: string,
    attrs: LeaseAttrs,
    options?: CallOptions & { ipv6Subnet?: string | null },
  ): Promise<Lease> {
    this.#begin(options);
    const plan = planReservation({
      config: this.#readConfig(),
      leases: this.#sortedLeases(),
      subnet,
      ipv6Subnet: options?.ipv6Subnet ?? null,
      attrs,
    });
    for (const lease of plan.delete) this.#delete(keyOf(lease.subnet, lease.ipv6Subnet));
    return this.#put(plan.subnet, plan.ipv6Subnet, plan.attrs, null);
  }

  /** @inheritdoc */
  async listLeases(options?: CallOptions): Promise<LeaseList> {
    this.#begin(options);
    return { leases: this.#sortedLeases(), revision: this.#revision, skipped: [] };
  }

  /**
   * Yields a snapshot (taken when iteration starts), then one batch per write. Ends, without
   * error, when the signal aborts, the store closes or the loop breaks.
   * @throws FlannelError `STORE_CLOSED` (from the first `next()`) on a closed store
   */
  watchLeases(options?: WatchLeasesOptions): AsyncIterable<LeaseWatchResult> {
    return {
      [Symbol.asyncIterator]: (): AsyncIterator<LeaseWatchResult> => {
        if (this.#closed) return failingIterator(closedError());
        const signal = options?.signal;
        const onAbort = (): void => watch.end();
        const watch = new Watch(() => {
          signal?.removeEventListener("abort", onAbort);
          this.#watches.delete(watch);
          this.#schedule();
        });
        if (signal?.aborted) {
          watch.end();
          return watch;
        }
        this.#sweep();
        this.#watches.add(watch);
        watch.push({
          type: "snapshot",
          leases: this.#sortedLeases(),
          revision: this.#revision,
          skipped: [],
        });
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#schedule();
        return watch;
      },
    };
  }

  /**
   * Keeps a lease: renews it at expiration minus `renewMargin` on the store's clock (an injected
   * {@link Clock} drives it without waiting), retries every `retryInterval`, watches its key, and
   * reports `renewed`, `renewFailed` and `lost`. {@link MemoryLeaseStore.close} stops it.
   * @throws FlannelError `INVALID_ARGUMENT`, `ABORTED`, `STORE_CLOSED`
   * @example
   * ```ts
   * await using keeper = store.keepLease(lease, { renewMargin: 60 * 60_000 });
   * const lost = await keeper.done; // the `lost` event, or null after close
   * ```
   */
  keepLease(lease: Lease, options: KeepLeaseOptions = {}): LeaseKeeper {
    this.#begin(options);
    const keeper = new LeaseKeeper(
      lease,
      {
        renew: (l, signal) => this.renewLease(l, { signal }),
        watchOwn: (l, signal) => this.#watchOwn(l, signal),
      },
      { clock: this.#timers, ...options },
    );
    this.#keepers.add(keeper);
    void keeper.done.then(() => this.#keepers.delete(keeper));
    return keeper;
  }

  async *#watchOwn(lease: Lease, signal: AbortSignal): AsyncGenerator<OwnLeaseState> {
    const key = lease.key ?? keyOf(lease.subnet, lease.ipv6Subnet);
    const state = (found: Lease | undefined): OwnLeaseState =>
      found === undefined
        ? { type: "absent" }
        : isSameNode(found.attrs, lease.attrs)
          ? { type: "present", lease: found }
          : { type: "taken", lease: found };
    const own = (l: Lease) => keyOf(l.subnet, l.ipv6Subnet) === key;
    for await (const result of this.watchLeases({ signal })) {
      if (result.type === "snapshot") {
        yield state(result.leases.find(own));
        continue;
      }
      for (const event of result.events) {
        if (own(event.lease)) yield state(event.type === "added" ? event.lease : undefined);
      }
    }
  }

  /** Ends every watch and keeper and clears the expiry timer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const keeper of [...this.#keepers]) await keeper.close();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const watch of [...this.#watches]) watch.end();
    this.#watches.clear();
  }

  /** Same as {@link MemoryLeaseStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw closedError();
  }

  #begin(options: CallOptions | undefined): void {
    throwIfAborted(options?.signal);
    this.#checkOpen();
    this.#sweep();
  }

  #readConfig(): NetworkConfig {
    if (this.#config === null) {
      throw new FlannelError(
        "CONFIG_NOT_FOUND",
        "flannel config not found in the store: write it with putNetworkConfig",
        { details: { key: `${this.#prefix}/config` } },
      );
    }
    return parseNetworkConfig(this.#config);
  }

  #path(key: string): string {
    return `${this.#prefix}/subnets/${key}`;
  }

  #sortedLeases(): Lease[] {
    return this.#keys.map((k) => this.#entries.get(k)!.lease);
  }

  #conflicts(subnet: string, ipv6Subnet: string | null): boolean {
    if (this.#entries.has(keyOf(subnet, ipv6Subnet))) return true;
    const hasV4 = subnet !== NO_IPV4_SUBNET;
    for (const entry of this.#entries.values()) {
      if (hasV4 && entry.subnet === subnet) return true;
      if (ipv6Subnet !== null && entry.ipv6Subnet === ipv6Subnet) return true;
    }
    return false;
  }

  #put(
    subnet: string,
    ipv6Subnet: string | null,
    attrs: LeaseAttrs,
    ttlSeconds: number | null,
  ): Lease {
    const revision = ++this.#revision;
    const expiresAt = ttlSeconds === null ? null : this.#clock() + ttlSeconds * 1000;
    const lease: Lease = {
      subnet,
      ipv6Subnet,
      attrs,
      expiration: expiresAt === null ? null : new Date(expiresAt),
      revision,
    };
    const key = keyOf(subnet, ipv6Subnet);
    if (!this.#entries.has(key)) this.#keys.splice(this.#keyIndex(key), 0, key);
    this.#entries.set(key, { subnet, ipv6Subnet, attrs, expiresAt, revision, lease });
    if (expiresAt !== null && expiresAt < this.#nextExpiry) this.#nextExpiry = expiresAt;
    this.#emit([{ type: "added", lease }], revision);
    this.#schedule();
    return lease;
  }

  // Where `key` is or would go in #keys (binary search).
  #keyIndex(key: string): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#keys[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #forget(key: string): void {
    this.#entries.delete(key);
    const i = this.#keyIndex(key);
    if (this.#keys[i] === key) this.#keys.splice(i, 1);
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#forget(key);
    const revision = ++this.#revision;
    this.#emit([{ type: "removed", lease: entry.lease }], revision);
    this.#schedule();
  }

  #sweep(): Lease[] {
    const now = this.#clock();
    if (now < this.#nextExpiry) return [];
    const expired: Lease[] = [];
    let next = Number.POSITIVE_INFINITY;
    for (const [key, entry] of [...this.#entries]) {
      if (entry.expiresAt === null) continue;
      if (entry.expiresAt <= now) {
        this.#forget(key);
        this.#revision++;
        expired.push(entry.lease);
      } else if (entry.expiresAt < next) next = entry.expiresAt;
    }
    this.#nextExpiry = next;
    if (expired.length > 0) {
      this.#emit(
        expired.map((lease) => ({ type: "removed", lease })),
        this.#revision,
      );
      this.#schedule();
    }
    return expired;
  }

  #emit(events: LeaseEvent[], revision: bigint): void {
    if (this.#watches.size === 0) return;
    const result: LeaseWatchResult = { type: "events", events, revision, skipped: [] };
    for (const watch of this.#watches) watch.push(result);
  }

  // One timer, at the next expiry, only while someone watches and only on the real clock.
  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed || !this.#timersAllowed || this.#watches.size === 0) return;
    const next = this.#nextExpiry;
    if (next === Number.POSITIVE_INFINITY) return;
    const delay = Math.min(Math.max(0, next - this.#clock()), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      if (this.#sweep().length === 0) this.#schedule();
    }, delay);
  }
}

function closedError(): FlannelError {
  return new FlannelError("STORE_CLOSED", "the lease store is closed");
}

function keyOf(subnet: string, ipv6Subnet: string | null): string {
  return makeSubnetKey(subnet, ipv6Subnet);
}

function failingIterator(error: FlannelError): AsyncIterator<LeaseWatchResult> {
  return {
    next: () => Promise.reject(error),
    return: () => Promise.resolve({ done: true, value: undefined }),
  };
}

/** One open watch: a queue of results and the readers waiting for them. */
class Watch implements AsyncIterableIterator<LeaseWatchResult> {
  readonly #queue: LeaseWatchResult[] = [];
  readonly #waiting: ((result: IteratorResult<LeaseWatchResult>) => void)[] = [];
  #done = false;

  constructor(readonly onEnd: () => void) {}

  push(result: LeaseWatchResult): void {
    if (this.#done) return;
    const reader = this.#waiting.shift();
    if (reader !== undefined) reader({ done: false, value: result });
    else this.#queue.push(result);
  }

  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    for (const reader of this.#waiting.splice(0)) reader({ done: true, value: undefined });
    this.onEnd();
  }

  next(): Promise<IteratorResult<LeaseWatchResult>> {
    const value = this.#queue.shift();
    if (value !== undefined) return Promise.resolve({ done: false, value });
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  return(): Promise<IteratorResult<LeaseWatchResult>> {
    this.end();
    return Promise.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<LeaseWatchResult> {
    return this;
  }
}
