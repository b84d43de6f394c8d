/**
 * The v2 store's watches: the long-poll lease watch (`GET …?wait=true&recursive=true&waitIndex=`;
 * index cleared, 401 → re-list) and one lease's own key for its keeper.
 */
import {
  Backoff,
  type Clock,
  FlannelError,
  type Lease,
  type LeaseEvent,
  type LeaseList,
  type LeaseWatchResult,
  type OwnLeaseState,
  type SkippedLeaseEntry,
  sleep,
} from "@flannel-sdk/core";
import {
  coveredSubnets,
  isCanonicalKey,
  keyOfLease,
  skippedEntry,
  subnetsOfKey,
  UNKNOWN_ATTRS,
} from "../lease-codec.js";
import { ownLeaseState } from "../lifecycle.js";
import type { KeyLayout } from "../prefix.js";
import {
  type EtcdV2Client,
  V2_EVENT_INDEX_CLEARED,
  V2_KEY_NOT_FOUND,
  type V2Node,
  v2ErrorCode,
} from "./client.js";

/** A v2 change, as a watch sees it. */
export type V2WatchStatus =
  | { readonly type: "disconnected"; readonly error: FlannelError; readonly retryInMs: number }
  | { readonly type: "indexCleared"; readonly retryInMs: number };

/** What the v2 watches need of their store. @internal */
export interface V2WatchContext {
  readonly client: EtcdV2Client;
  readonly keys: KeyLayout;
  /** Longest a long poll waits before asking again. */
  readonly pollMs: number;
  readonly clock: Clock;
  readonly random: (() => number) | undefined;
  closed(): boolean;
  /** Lists the leases (an empty list when the directory does not exist yet). */
  list(signal: AbortSignal | undefined): Promise<LeaseList>;
  /** A node as a lease. @throws FlannelError `SUBNET_KEY_INVALID`, `LEASE_INVALID` */
  lease(node: V2Node): Lease;
  /** A node as a lease, or why it is not listed. */
  entry(node: V2Node): Lease | SkippedLeaseEntry;
}

const REMOVED_ACTIONS = new Set(["delete", "expire", "compareAndDelete"]);

/**
 * The lease watch of the v2 store until `signal` aborts (see `EtcdV2LeaseStore.watchLeases`).
 * @internal
 */
export async function* watchV2Leases(
  ctx: V2WatchContext,
  signal: AbortSignal,
  onStatus: ((status: V2WatchStatus) => void) | undefined,
): AsyncGenerator<LeaseWatchResult> {
  const stop = { signal };
  const backoff = new Backoff({ ...(ctx.random ? { random: ctx.random } : {}) });
  const known = new Map<string, Lease>();
  const pause = async (ms: number) => {
    try {
      await sleep(ms, { signal: stop.signal, clock: ctx.clock });
      return true;
    } catch {
      return false;
    }
  };
  {
    let cursor: bigint | null = null;
    while (!stop.signal.aborted) {
      if (cursor === null) {
        let list: LeaseList;
        try {
          list = await ctx.list(stop.signal);
        } catch (e) {
          if (stop.signal.aborted || ctx.closed()) return;
          if (!isRetryable(e)) throw e;
          const wait = backoff.next();
          onStatus?.({ type: "disconnected", error: e as FlannelError, retryInMs: wait });
          if (!(await pause(wait))) return;
          continue;
        }
        known.clear();
        for (const l of list.leases) known.set(keyOfLease(ctx.keys, l), l);
        cursor = list.revision;
        yield { type: "snapshot", ...list };
        continue;
      }
      let res: Awaited<ReturnType<EtcdV2Client["get"]>>;
      try {
        res = await ctx.client.get(ctx.keys.subnetsDir, {
          wait: true,
          recursive: true,
          waitIndex: cursor + 1n,
          signal: stop.signal,
          timeoutMs: ctx.pollMs,
        });
      } catch (e) {
        if (stop.signal.aborted || ctx.closed()) return;
        if (v2ErrorCode(e) === V2_EVENT_INDEX_CLEARED) {
          const wait = backoff.next();
          onStatus?.({ type: "indexCleared", retryInMs: wait });
          if (!(await pause(wait))) return;
          cursor = null;
          continue;
        }
        if (!isRetryable(e)) throw e;
        const error = e as FlannelError;
        if (error.details.timedOut === true) continue;
        const wait = backoff.next();
        onStatus?.({ type: "disconnected", error, retryInMs: wait });
        if (!(await pause(wait))) return;
        continue;
      }
      backoff.reset();
      cursor = BigInt(res.node.modifiedIndex);
      const batch = toEvent(ctx, res.action, res.node, res.prevNode, known);
      if (batch.events.length > 0 || batch.skipped.length > 0) {
        yield { type: "events", events: batch.events, skipped: batch.skipped, revision: cursor };
      }
    }
  }
}

function toEvent(
  ctx: V2WatchContext,
  action: string,
  node: V2Node,
  prevNode: V2Node | undefined,
  known: Map<string, Lease>,
): { events: LeaseEvent[]; skipped: SkippedLeaseEntry[] } {
  const key = node.key;
  if (key === ctx.keys.subnetsDir) return { events: [], skipped: [] };
  if (REMOVED_ACTIONS.has(action)) {
    let lease = known.get(key);
    known.delete(key);
    // A non-canonical entry was never a lease: its end changes no lease.
    if (
      lease === undefined &&
      coveredSubnets(ctx.keys, key) !== null &&
      !isCanonicalKey(ctx.keys, key)
    ) {
      return { events: [], skipped: [] };
    }
    if (lease === undefined && prevNode?.value !== undefined) {
      try {
        lease = ctx.lease(prevNode);
      } catch {
        // fall back to the bare key
      }
    }
    if (lease === undefined) {
      try {
        lease = { ...subnetsOfKey(ctx.keys, key), attrs: UNKNOWN_ATTRS, expiration: null };
      } catch (e) {
        return { events: [], skipped: [skippedEntry(key, e)] };
      }
    }
    return {
      events: [{ type: "removed", lease: { ...lease, revision: BigInt(node.modifiedIndex) } }],
      skipped: [],
    };
  }
  try {
    if (node.dir) {
      throw new FlannelError("SUBNET_KEY_INVALID", `not a subnet key: ${key} (a directory)`);
    }
    const item = ctx.entry(node);
    if ("error" in item) {
      // No lease (garbage, a non-canonical key): reported; a lease known here keeps its last version.
      return { events: [], skipped: [item] };
    }
    known.set(key, item);
    return { events: [{ type: "added", lease: item }], skipped: [] };
  } catch (e) {
    return { events: [], skipped: [skippedEntry(key, e)] };
  }
}

/**
 * The states of one lease's own key, for its keeper, until `signal` aborts.
 * @internal
 */
export async function* watchOwnV2Lease(
  ctx: V2WatchContext,
  lease: Lease,
  signal: AbortSignal,
): AsyncGenerator<OwnLeaseState> {
  const key = keyOfLease(ctx.keys, lease);
  const backoff = new Backoff({ ...(ctx.random ? { random: ctx.random } : {}) });
  const classify = (node: V2Node) => ownLeaseState(lease, () => ctx.lease(node));
  let cursor: bigint | null = null;
  while (!signal.aborted && !ctx.closed()) {
    try {
      if (cursor === null) {
        try {
          const res = await ctx.client.get(key, { quorum: true, signal });
          cursor = res.etcdIndex;
          yield classify(res.node);
        } catch (e) {
          if (v2ErrorCode(e) !== V2_KEY_NOT_FOUND) throw e;
          yield { type: "absent" };
          return;
        }
        continue;
      }
      const res = await ctx.client.get(key, {
        wait: true,
        waitIndex: cursor + 1n,
        signal,
        timeoutMs: ctx.pollMs,
      });
      backoff.reset();
      cursor = BigInt(res.node.modifiedIndex);
      yield REMOVED_ACTIONS.has(res.action) ? { type: "absent" } : classify(res.node);
    } catch (e) {
      if (signal.aborted || ctx.closed()) return;
      if (v2ErrorCode(e) === V2_EVENT_INDEX_CLEARED) {
        cursor = null;
        continue;
      }
      if (!isRetryable(e)) return;
      if ((e as FlannelError).details.timedOut === true) continue;
      try {
        await sleep(backoff.next(), { signal, clock: ctx.clock });
      } catch {
        return;
      }
    }
  }
}

function isRetryable(e: unknown): boolean {
  return e instanceof FlannelError && e.retryable;
}
