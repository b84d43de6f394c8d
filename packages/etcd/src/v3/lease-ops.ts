/**
 * The v3 store's writes of one lease outside acquisition: renew (a fresh etcd lease, the old one
 * revoked), release (a conditional delete) and reserve (a key with no etcd lease). Renew and
 * release follow the etcd stores' one retry policy (`retryLeaseWrite`).
 */
import {
  type Clock,
  canonicalCidr,
  FlannelError,
  type Lease,
  type LeaseAttrs,
  parseNetworkConfig,
  planReservation,
  throwIfAborted,
} from "@flannel-sdk/core";
import {
  coveredSubnets,
  encodeAttrs,
  isCidrText,
  keyOfLease,
  leaseKey,
  normalizeAttrs,
  subnetsOfKey,
} from "../lease-codec.js";
import { CONFLICT, checkOwner, leaseNotFound, retryLeaseWrite } from "../lifecycle.js";
import type { KeyLayout } from "../prefix.js";
import type { EtcdV3Connection } from "./connection.js";
import type { V3LeaseDecoder } from "./decode.js";
import type { GrantPool } from "./grants.js";
import type { SnapshotCache } from "./snapshot.js";
import { compare, op, type TxnCompare, type TxnRequestOp, type TxnResult } from "./wire.js";

/** What the lease operations work with. @internal */
export interface LeaseOpsContext {
  readonly connection: EtcdV3Connection;
  readonly keys: KeyLayout;
  readonly ttl: number;
  readonly clock: Clock;
  readonly decoder: V3LeaseDecoder;
  readonly grants: GrantPool;
  readonly cache: SnapshotCache;
  /** Attempts of a reservation before `MAX_RETRIES`. */
  readonly attempts: number;
  readonly configNotFound: () => FlannelError;
}

/**
 * Rewrites the lease on a fresh etcd lease and revokes the one it hung on; a reservation stays
 * one. Conditional on the key not changing between read and write.
 * @throws FlannelError `LEASE_NOT_FOUND`, `LEASE_INVALID`, `MAX_RETRIES`, `ETCD_*`, `ABORTED`
 * @internal
 */
export function renewLease(
  ctx: LeaseOpsContext,
  lease: Lease,
  signal: AbortSignal | undefined,
): Promise<Lease> {
  const { connection, keys } = ctx;
  const key = keyOfLease(keys, lease);
  const attrs = normalizeAttrs(lease.attrs);
  const value = encodeAttrs(attrs, "current");
  return retryLeaseWrite("renewing", key, async () => {
    const { kvs } = await connection.range(key, { signal });
    const kv = kvs[0];
    if (kv === undefined) throw leaseNotFound(key);
    checkOwner(keys, key, kv.value.toString(), attrs);
    const reservation = kv.lease === 0n;
    let id = 0n;
    let expiresAt: number | null = null;
    if (!reservation) {
      // Not abortable: a Grant cut off on its way would leave a lease whose ID nobody knows.
      const granted = await connection.grant(ctx.ttl);
      id = granted.id;
      expiresAt = ctx.clock.now() + granted.ttl * 1000;
      if (signal?.aborted) {
        await connection.revoke(id).catch(() => undefined);
        throwIfAborted(signal);
      }
    }
    let res: TxnResult;
    try {
      res = await connection.txn(
        [compare.modRevision(key, kv.modRevision)],
        [op.put(key, value, id)],
        [],
        signal,
      );
    } catch (e) {
      await connection.revoke(id).catch(() => undefined);
      throw e;
    }
    if (!res.succeeded) {
      await connection.revoke(id).catch(() => undefined);
      return CONFLICT;
    }
    if (!reservation) {
      ctx.decoder.timed(id, expiresAt!);
      await ctx.grants.forget(kv.lease);
    }
    return {
      subnet: lease.subnet,
      ipv6Subnet: lease.ipv6Subnet,
      attrs,
      expiration: expiresAt === null ? null : new Date(expiresAt),
      revision: res.revision,
      ...(lease.key === undefined ? {} : { key: lease.key }),
    };
  });
}

/**
 * Deletes a lease and revokes its etcd lease: a `Lease` only while it is still its node's; a
 * string (subnet key, full key, CIDR of either family) whatever holds it. Absent is fine.
 * @throws FlannelError `SUBNET_KEY_INVALID`, `INVALID_CIDR`, `MAX_RETRIES`, `ETCD_*`, `ABORTED`
 * @internal
 */
export async function releaseLease(
  ctx: LeaseOpsContext,
  lease: Lease | string,
  signal: AbortSignal | undefined,
): Promise<void> {
  const { connection, keys } = ctx;
  if (typeof lease !== "string") {
    const key = keyOfLease(keys, lease);
    const attrs = normalizeAttrs(lease.attrs);
    await retryLeaseWrite("releasing", key, async () => {
      const { kvs } = await connection.range(key, { signal });
      const kv = kvs[0];
      if (kv === undefined) return;
      try {
        checkOwner(keys, key, kv.value.toString(), attrs);
      } catch {
        return; // another node's now: not ours to release
      }
      const res = await connection.txn(
        [compare.modRevision(key, kv.modRevision)],
        [op.delete(key)],
        [],
        signal,
      );
      if (!res.succeeded) return CONFLICT;
      await ctx.grants.forget(kv.lease);
    });
    return;
  }
  let targets: string[];
  if (isCidrText(lease)) {
    const net = canonicalCidr(lease, { mask: true });
    const { kvs } = await connection.range(keys.subnets, { prefix: true, signal });
    targets = [];
    for (const kv of kvs) {
      // Every entry whose key covers it, in whatever spelling (host bits masked).
      const s = coveredSubnets(keys, kv.key);
      if (s !== null && (s.subnet === net || s.ipv6Subnet === net)) targets.push(kv.key);
    }
  } else {
    const key = lease.startsWith("/") ? lease : keys.subnets + lease;
    subnetsOfKey(keys, key);
    targets = [key];
  }
  for (const key of targets) {
    const deleted = await connection.txn([], [op.delete(key, true)], [], signal);
    for (const prev of deleted.responses[0]?.response_delete_range?.prev_kvs ?? []) {
      await ctx.grants.forget(prev.lease);
    }
  }
}

/**
 * Writes a reservation: the lease key with no etcd lease; core's `planReservation` decides what
 * else to delete. Conditional on every key it touches.
 * @throws FlannelError `LEASE_CONFLICT`, `CONFIG_INVALID`, `CONFIG_NOT_FOUND`, `LEASE_INVALID`,
 *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`
 * @internal
 */
export async function reserveSubnet(
  ctx: LeaseOpsContext,
  subnet: string,
  ipv6Subnet: string | null,
  attrs: LeaseAttrs,
  signal: AbortSignal | undefined,
): Promise<Lease> {
  const { connection, keys } = ctx;
  for (let attempt = 0; attempt < ctx.attempts; attempt++) {
    const snapshot = await ctx.cache.read(signal);
    if (snapshot.configText === null) throw ctx.configNotFound();
    const plan = planReservation({
      config: parseNetworkConfig(snapshot.configText),
      leases: ctx.cache.allLeases(snapshot),
      subnet,
      ipv6Subnet,
      attrs,
    });
    const key = leaseKey(keys, plan.subnet, plan.ipv6Subnet);
    const compares: TxnCompare[] = [];
    const ops: TxnRequestOp[] = [];
    for (const old of plan.delete) {
      const oldKey = keyOfLease(keys, old);
      compares.push(compare.modRevision(oldKey, snapshot.raw.get(oldKey)?.modRevision ?? 0n));
      ops.push(op.delete(oldKey));
    }
    const existing = snapshot.raw.get(key);
    compares.push(compare.modRevision(key, existing?.modRevision ?? 0n));
    ops.push(op.put(key, encodeAttrs(plan.attrs, "current"), 0n));
    const res = await connection.txn(compares, ops, [], signal);
    if (!res.succeeded) continue;
    for (const old of plan.delete) {
      await ctx.grants.forget(snapshot.raw.get(keyOfLease(keys, old))?.lease ?? 0n);
    }
    if (existing) await ctx.grants.forget(existing.lease);
    return {
      subnet: plan.subnet,
      ipv6Subnet: plan.ipv6Subnet,
      attrs: plan.attrs,
      expiration: null,
      revision: res.revision,
    };
  }
  throw new FlannelError("MAX_RETRIES", "the leases kept changing while reserving a subnet", {
    retryable: true,
  });
}
