/**
 * The write of one v3 acquisition: the plan's deletions and its put in one conditional txn,
 * handed to the store's group commit (`TxnBatcher`: the txns of one turn go out as one etcd
 * txn). A create registers its subnet as held before its first await, so acquisitions of this
 * store planning on the same snapshot never pick it too.
 */
import type { Lease, LeaseAcquisitionPlan } from "@flannel-sdk/core";
import { encodeAttrs, keyOfLease, leaseKey } from "../lease-codec.js";
import type { KeyLayout } from "../prefix.js";
import type { GrantHold, GrantPool } from "./grants.js";
import type { LocalWrite, Snapshot, SnapshotCache } from "./snapshot.js";
import type { TxnBatcher } from "./txn-batcher.js";
import { compare, op, type TxnCompare, type TxnRequestOp, type TxnResult } from "./wire.js";

/** What {@link commitAcquisition} works with. @internal */
export interface CommitContext {
  readonly keys: KeyLayout;
  readonly batcher: TxnBatcher;
  readonly cache: SnapshotCache;
  readonly grants: GrantPool;
}

/**
 * Commits an acquisition plan made on `snapshot`; `null` when a condition failed (a lost race).
 * @throws FlannelError `ETCD_*`, `ABORTED`
 * @internal
 */
export async function commitAcquisition(
  ctx: CommitContext,
  plan: LeaseAcquisitionPlan,
  snapshot: Snapshot,
  grant: GrantHold,
  signal: AbortSignal | undefined,
): Promise<Lease | null> {
  const { keys, cache } = ctx;
  const compares: TxnCompare[] = [];
  const ops: TxnRequestOp[] = [];
  for (const old of plan.delete) {
    const key = keyOfLease(keys, old);
    compares.push(compare.modRevision(key, old.revision ?? 0n));
    ops.push(op.delete(key));
  }
  const write = plan.write;
  const key = leaseKey(keys, write.subnet, write.ipv6Subnet);
  const value = encodeAttrs(write.attrs, "current");
  const local: LocalWrite = {
    lease: {
      subnet: write.subnet,
      ipv6Subnet: write.ipv6Subnet,
      attrs: write.attrs,
      expiration: null,
    },
    revision: null,
  };
  if (write.mode === "create") cache.localWrites.add(local);
  let leaseId = 0n;
  let expiresAt: number | null = null;
  if (write.ttlSeconds !== null) {
    try {
      const granted = await grant.get();
      leaseId = granted.id;
      expiresAt = granted.expiresAt;
    } catch (e) {
      cache.localWrites.delete(local);
      throw e;
    }
  }
  let previousLeaseId = 0n;
  if (write.mode === "update") {
    compares.push(compare.modRevision(key, write.lease.revision ?? 0n));
    previousLeaseId = snapshot.raw.get(key)?.lease ?? 0n;
  } else {
    compares.push(compare.version(key, 0n));
  }
  ops.push(op.put(key, value, leaseId));
  let result: TxnResult;
  try {
    result = await ctx.batcher.txn(compares, ops, signal);
  } catch (e) {
    cache.localWrites.delete(local);
    throw e;
  }
  if (!result.succeeded) {
    cache.localWrites.delete(local);
    return null;
  }
  local.revision = result.revision;
  if (expiresAt !== null) grant.markUsed();
  // The node's own leases the plan deleted: their etcd leases now carry nothing of theirs.
  for (const old of plan.delete) {
    await ctx.grants.forget(snapshot.raw.get(keyOfLease(keys, old))?.lease ?? 0n);
  }
  if (
    previousLeaseId !== 0n &&
    previousLeaseId !== leaseId &&
    snapshot.leaseUse.get(previousLeaseId) === 1
  ) {
    // The key now hangs on the new etcd lease, and no other key used the old one: revoke it
    // rather than let it linger for a day.
    await ctx.grants.revoke(previousLeaseId);
  }
  return {
    subnet: write.subnet,
    ipv6Subnet: write.ipv6Subnet,
    attrs: write.attrs,
    expiration: expiresAt === null ? null : new Date(expiresAt),
    revision: result.revision,
  };
}
