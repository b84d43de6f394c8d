/**
 * How the v3 store reads a key-value under `subnets/` as a lease: the value decoded by the
 * shared lease codec, the expiration from the etcd lease the key hangs on — timed once per etcd
 * lease by the local clock (flannel never refreshes an etcd lease, so a lease's end never moves).
 */
import type { Clock, Lease, SkippedLeaseEntry } from "@flannel-sdk/core";
import { decodeEntry } from "../lease-codec.js";
import type { KeyLayout } from "../prefix.js";
import type { KeyValue } from "./wire.js";

/** The v3 store's lease decoding and its table of etcd lease expirations. @internal */
export class V3LeaseDecoder {
  readonly #keys: KeyLayout;
  readonly #ttl: number;
  readonly #clock: Clock;
  /** etcd lease ID → expiration (ms, local clock). */
  readonly #expirations = new Map<bigint, number>();
  #lastExpiration: Date | null = null;

  constructor(keys: KeyLayout, ttlSeconds: number, clock: Clock) {
    this.#keys = keys;
    this.#ttl = ttlSeconds;
    this.#clock = clock;
  }

  /** Records when an etcd lease ends (ms since the epoch, local clock). */
  timed(id: bigint, expiresAt: number): void {
    this.#expirations.set(id, expiresAt);
  }

  /** True when the end of this etcd lease is known. */
  isTimed(id: bigint): boolean {
    return this.#expirations.has(id);
  }

  /** Forgets an etcd lease (revoked). */
  forget(id: bigint): void {
    this.#expirations.delete(id);
  }

  /** Drops the ends of etcd leases no listed key hangs on, once the table has grown. */
  prune(live: ReadonlySet<bigint>): void {
    if (this.#expirations.size <= 4 * live.size + 64) return;
    for (const id of this.#expirations.keys()) if (!live.has(id)) this.#expirations.delete(id);
  }

  /** The expiration of a key on this etcd lease; `null` for none (a reservation). */
  expirationOf(leaseId: bigint): Date | null {
    if (leaseId === 0n) return null;
    // Not timed yet: every flannel lease is granted for the full TTL just before its write,
    // so now + TTL is the latest it can end (and exact for a write seen as it happens).
    const at = this.#expirations.get(leaseId) ?? this.#clock.now() + this.#ttl * 1000;
    // Leases decoded together mostly end at the same millisecond (one snapshot, one shared
    // Grant): they share one Date (≈ 130 bytes each, 1.3 MB for a 10,000-lease snapshot).
    if (this.#lastExpiration?.getTime() !== at) this.#lastExpiration = new Date(at);
    return this.#lastExpiration;
  }

  /** A stored lease, or why it cannot be read. */
  decode(kv: KeyValue): Lease | SkippedLeaseEntry {
    return decodeEntry(
      this.#keys,
      kv.key,
      kv.value.toString(),
      this.expirationOf(kv.lease),
      kv.modRevision,
    );
  }

  /** Every key-value decoded, the unreadable ones apart. */
  decodeAll(kvs: readonly KeyValue[]): { leases: Lease[]; skipped: SkippedLeaseEntry[] } {
    const leases: Lease[] = [];
    const skipped: SkippedLeaseEntry[] = [];
    for (const kv of kvs) {
      const item = this.decode(kv);
      if ("error" in item) skipped.push(item);
      else leases.push(item);
    }
    return { leases, skipped };
  }
}
