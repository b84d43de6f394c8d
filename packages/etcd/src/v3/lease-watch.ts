/**
 * What the v3 store's watches yield: raw watch results turned into lease events (`watchLeases`),
 * and the states of one lease's own key for its keeper (`keepLease`).
 */
import type {
  Clock,
  Lease,
  LeaseEvent,
  LeaseWatchResult,
  OwnLeaseState,
  SkippedLeaseEntry,
} from "@flannel-sdk/core";
import {
  coveredSubnets,
  decodeLease,
  isCanonicalKey,
  keyOfLease,
  skippedEntry,
  subnetsOfKey,
  UNKNOWN_ATTRS,
} from "../lease-codec.js";
import { ownLeaseState } from "../lifecycle.js";
import type { KeyLayout } from "../prefix.js";
import type { EtcdV3Connection } from "./connection.js";
import type { V3LeaseDecoder } from "./decode.js";
import { RawWatch, type RawWatchResult } from "./watch.js";
import type { KeyValue } from "./wire.js";

/**
 * A raw watch result of the `subnets/` prefix as a lease watch result. A `removed` lease carries
 * its last value (etcd `prev_kv`), else the subnets its key names.
 * @internal
 */
export function toLeaseWatchResult(
  keys: KeyLayout,
  decoder: V3LeaseDecoder,
  result: RawWatchResult<Lease | SkippedLeaseEntry>,
): LeaseWatchResult {
  if (result.type === "snapshot") {
    const leases: Lease[] = [];
    const skipped: SkippedLeaseEntry[] = [];
    for (const item of result.items) {
      if ("error" in item) skipped.push(item);
      else leases.push(item);
    }
    return { type: "snapshot", leases, revision: result.revision, skipped };
  }
  const events: LeaseEvent[] = [];
  const skipped: SkippedLeaseEntry[] = [];
  for (const ev of result.events) {
    const key = ev.kv.key;
    if (ev.type === "put") {
      const item = decoder.decode(ev.kv);
      if ("error" in item) skipped.push(item);
      else events.push({ type: "added", lease: item });
      continue;
    }
    // A non-canonical subnet key was never a lease: its end changes no lease.
    if (coveredSubnets(keys, key) !== null && !isCanonicalKey(keys, key)) continue;
    // The removed lease as it was (etcd's prev_kv), else just the subnets its key names.
    let lease: Lease | undefined;
    if (ev.prevKv) {
      try {
        lease = decodeLease(keys, key, ev.prevKv.value.toString(), null, ev.kv.modRevision);
      } catch {
        // fall through to the bare key
      }
    }
    if (lease === undefined) {
      try {
        const s = subnetsOfKey(keys, key);
        lease = { ...s, attrs: UNKNOWN_ATTRS, expiration: null };
      } catch (e) {
        skipped.push(skippedEntry(key, e));
        continue;
      }
    }
    events.push({ type: "removed", lease: { ...lease, revision: ev.kv.modRevision } });
  }
  return { type: "events", events, revision: result.revision, skipped };
}

/**
 * The states of one lease's own key, for its keeper, until `signal` aborts.
 * @internal
 */
export async function* watchOwnLease(
  connection: EtcdV3Connection,
  keys: KeyLayout,
  decoder: V3LeaseDecoder,
  clock: Clock,
  lease: Lease,
  signal: AbortSignal,
): AsyncGenerator<OwnLeaseState> {
  const key = keyOfLease(keys, lease);
  const raw = new RawWatch({ connection, key, prefix: false, signal, clock });
  const state = (kv: KeyValue | undefined): OwnLeaseState =>
    kv === undefined
      ? { type: "absent" }
      : ownLeaseState(lease, () =>
          decodeLease(
            keys,
            key,
            kv.value.toString(),
            decoder.expirationOf(kv.lease),
            kv.modRevision,
          ),
        );
  try {
    for await (const result of raw) {
      if (result.type === "snapshot") {
        yield state(result.items.find((kv) => kv.key === key));
        continue;
      }
      for (const ev of result.events) {
        if (ev.kv.key !== key) continue;
        yield ev.type === "delete" ? { type: "absent" } : state(ev.kv);
      }
    }
  } finally {
    await raw.return();
  }
}
