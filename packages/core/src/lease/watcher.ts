/**
 * The lease watcher (flannel v0.28 `pkg/lease/lease.go` `LeaseWatcher`, v0.11 `subnet/watch.go`):
 * the set of other nodes' leases, kept from watch results, and the added/removed batches a
 * backend must apply.
 */

import { parseNetOrNull } from "../ip/parse.js";
import { parseSubnetKey } from "../keys/subnet-key.js";
import type { LeaseEvent, LeaseWatchResult, SkippedLeaseEntry } from "../store/types.js";
import type { Lease, LeaseAttrs } from "./types.js";

/** Options of {@link LeaseWatcher}. */
export interface LeaseWatcherOptions {
  /** This node's lease: it never appears in a batch. `null` when the node holds none. */
  readonly ownLease: Lease | null;
  /**
   * Whether a snapshot that carries different attrs for a known lease (a new `VtepMAC`, a new
   * PublicIP) re-emits it as `added`. Default `true`; `false` is flannel's behaviour, which keeps
   * the stale attrs programmed until the next event for that lease.
   */
  readonly emitChangedInSnapshot?: boolean;
}

/** What a backend must do after one watch result. */
export interface LeaseBatch {
  /** `added` (program, replacing what was there) and `removed` (unprogram, with the last attrs). */
  readonly events: readonly LeaseEvent[];
  /** Entries of the result that could not be read; they changed nothing. */
  readonly skipped: readonly SkippedLeaseEntry[];
  /** Revision of the result. */
  readonly revision: bigint;
  /**
   * The subnets the batch touched, as the watcher knew them before it (`before`: every removed
   * lease, the previous version of every replaced one) and after it (`after`: every added one).
   * Planning `before` and `after` alone gives the step from the data plane a backend has to the
   * one it needs, at a cost that does not grow with the leases it did not touch
   * (`NetlinkHandle.applyPlanChange(plan(before), plan(after))`).
   */
  readonly touched: { readonly before: readonly Lease[]; readonly after: readonly Lease[] };
}

/**
 * Turns a store's watch results into the batches a backend needs, keeping the set of remote
 * leases (flannel's `LeaseWatcher`):
 * - the node's own lease is dropped everywhere — also a lease that shares its IPv4 or its IPv6
 *   subnet under another key, so a backend never routes its own subnet away;
 * - `added` replaces the known lease with the same subnets (or adds it) and is forwarded;
 * - `removed` forgets the lease and forwards the **stored** one, with its attrs (an etcd v3
 *   delete carries no value); an unknown removal is forwarded as given, like flannel;
 * - a snapshot is diffed against the known set: known leases missing from it → `removed`
 *   (first), new ones → `added`; known ones with changed attrs → `added` again unless
 *   `emitChangedInSnapshot` is false (flannel never re-emits them);
 * - an entry the store could not read (`skipped`) never removes anything: a known lease whose
 *   key is skipped keeps its last readable version. flannel v0.28 instead treats a result with a
 *   bad entry as an empty snapshot and removes every remote lease.
 *
 * Pure: no I/O, no clock.
 *
 * @example
 * ```ts
 * const watcher = new LeaseWatcher({ ownLease: lease });
 * for await (const result of store.watchLeases({ signal })) {
 *   const { events } = watcher.apply(result);
 *   for (const e of events) e.type === "added" ? program(e.lease) : unprogram(e.lease);
 * }
 * ```
 */
export class LeaseWatcher {
  readonly #own: Lease | null;
  readonly #ownIds: { id: string; v4: string | null; v6: string | null } | null;
  readonly #emitChanged: boolean;
  #known = new Map<string, Lease>();

  constructor(options: LeaseWatcherOptions) {
    this.#own = options.ownLease;
    this.#emitChanged = options.emitChangedInSnapshot ?? true;
    if (this.#own === null) this.#ownIds = null;
    else {
      const v4 = canonicalNet(this.#own.subnet, 4);
      const v6 = this.#own.ipv6Subnet === null ? null : canonicalNet(this.#own.ipv6Subnet, 6);
      this.#ownIds = {
        id: identity(this.#own.subnet, this.#own.ipv6Subnet),
        v4: v4 === "0.0.0.0/0" ? null : v4,
        v6,
      };
    }
  }

  /** This node's lease, as given. */
  get ownLease(): Lease | null {
    return this.#own;
  }

  /** The remote leases known now (as the backend should have them programmed). */
  get leases(): readonly Lease[] {
    return [...this.#known.values()];
  }

  /**
   * Applies one watch result and returns what changed.
   * @example
   * ```ts
   * watcher.apply({ type: "snapshot", leases, revision: 7n, skipped: [] }).events;
   * ```
   */
  apply(result: LeaseWatchResult): LeaseBatch {
    const was = new Map<string, Lease | undefined>();
    const touch = (id: string) => {
      if (!was.has(id)) was.set(id, this.#known.get(id));
    };
    const events =
      result.type === "snapshot" ? this.#reset(result, touch) : this.#update(result.events, touch);
    const before: Lease[] = [];
    const after: Lease[] = [];
    for (const [id, old] of was) {
      if (old !== undefined) before.push(old);
      const now = this.#known.get(id);
      if (now !== undefined) after.push(now);
    }
    return {
      events,
      skipped: result.skipped,
      revision: result.revision,
      touched: { before, after },
    };
  }

  #isOwn(lease: Lease): boolean {
    const own = this.#ownIds;
    if (own === null) return false;
    if (identity(lease.subnet, lease.ipv6Subnet) === own.id) return true;
    if (own.v4 !== null && canonicalNet(lease.subnet, 4) === own.v4) return true;
    return (
      own.v6 !== null && lease.ipv6Subnet !== null && canonicalNet(lease.ipv6Subnet, 6) === own.v6
    );
  }

  #reset(
    result: Extract<LeaseWatchResult, { type: "snapshot" }>,
    touch: (id: string) => void,
  ): LeaseEvent[] {
    const next = new Map<string, Lease>();
    for (const lease of result.leases) {
      if (this.#isOwn(lease)) continue;
      const id = identity(lease.subnet, lease.ipv6Subnet);
      next.delete(id);
      next.set(id, lease);
    }
    const unreadable = new Set<string>();
    for (const entry of result.skipped) {
      const id = identityOfKey(entry.key);
      if (id !== null) unreadable.add(id);
    }
    const removed: LeaseEvent[] = [];
    const kept = new Map<string, Lease>();
    for (const [id, lease] of this.#known) {
      if (next.has(id)) continue;
      if (unreadable.has(id)) kept.set(id, lease);
      else {
        touch(id);
        removed.push({ type: "removed", lease });
      }
    }
    const added: LeaseEvent[] = [];
    for (const [id, lease] of next) {
      const old = this.#known.get(id);
      if (old === undefined || (this.#emitChanged && !sameAttrs(old.attrs, lease.attrs))) {
        touch(id);
        added.push({ type: "added", lease });
      }
    }
    for (const [id, lease] of kept) next.set(id, lease);
    this.#known = next;
    return [...removed, ...added];
  }

  #update(events: readonly LeaseEvent[], touch: (id: string) => void): LeaseEvent[] {
    const out: LeaseEvent[] = [];
    for (const event of events) {
      if (this.#isOwn(event.lease)) continue;
      const id = identity(event.lease.subnet, event.lease.ipv6Subnet);
      touch(id);
      if (event.type === "added") {
        this.#known.set(id, event.lease);
        out.push(event);
      } else {
        const stored = this.#known.get(id);
        this.#known.delete(id);
        out.push(stored === undefined ? event : { type: "removed", lease: stored });
      }
    }
    return out;
  }
}

function canonicalNet(text: string, family: 4 | 6): string {
  return parseNetOrNull(text, family)?.network().toString() ?? text;
}

function identity(subnet: string, ipv6Subnet: string | null): string {
  return `${canonicalNet(subnet, 4)}|${ipv6Subnet === null ? "" : canonicalNet(ipv6Subnet, 6)}`;
}

function identityOfKey(key: string): string | null {
  try {
    const { subnet, ipv6Subnet } = parseSubnetKey(key);
    return identity(subnet, ipv6Subnet);
  } catch {
    return null;
  }
}

function sameAttrs(a: LeaseAttrs, b: LeaseAttrs): boolean {
  return (
    a.publicIP === b.publicIP &&
    a.publicIPv6 === b.publicIPv6 &&
    a.backendType === b.backendType &&
    sameJson(a.backendData, b.backendData) &&
    sameJson(a.backendV6Data, b.backendV6Data)
  );
}

function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  // A reordered object counts as changed; re-emitting it is harmless.
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    const k = ka[i]!;
    if (k !== kb[i]) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false;
  }
  return true;
}
