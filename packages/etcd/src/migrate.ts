/**
 * Moving a flannel network from the etcd v2 keys API (flannel ≤ v0.17, the install guide) to
 * etcd v3 (flannel ≥ v0.18).
 */
import {
  FlannelError,
  parseLeaseAttrs,
  parseNetworkConfig,
  throwIfAborted,
} from "@flannel-sdk/core";
import { subnetsOfKey } from "./lease-codec.js";
import { keyLayout } from "./prefix.js";
import { V2_KEY_NOT_FOUND, type V2Node, v2ErrorCode } from "./v2/client.js";
import { EtcdV2LeaseStore, type EtcdV2LeaseStoreOptions } from "./v2/store.js";
import { EtcdLeaseStore, type EtcdLeaseStoreOptions } from "./v3/store.js";
import { compare, op } from "./v3/wire.js";

/** What happened (or, in a dry run, would happen) to one key. */
export type MigrationAction =
  /** Written to v3 (the config, or a lease with the time it had left). */
  | "created"
  /** v3 already holds the same value: nothing to do (a second run reports only these). */
  | "unchanged"
  /** v3 holds a different value: left alone, reported. */
  | "conflict"
  /** Not copied: unreadable, expired, or (the config) missing or invalid in v2. */
  | "skipped";

/** One key of a {@link MigrationReport}. */
export interface MigrationEntry {
  readonly key: string;
  readonly action: MigrationAction;
  /** Seconds the lease had left in v2 (and gets in v3); `null` for a reservation or the config. */
  readonly ttlSeconds: number | null;
  readonly reason?: string;
}

/** What {@link migrateV2ToV3} did. */
export interface MigrationReport {
  /** True when nothing was written. */
  readonly dryRun: boolean;
  readonly config: MigrationEntry;
  readonly leases: readonly MigrationEntry[];
  /** How many keys got each action (config included). */
  readonly counts: Readonly<Record<MigrationAction, number>>;
}

/** Options of {@link migrateV2ToV3}. */
export interface MigrateV2ToV3Options {
  /** The v2 side: a store, or options to open one (closed afterwards). */
  readonly from: EtcdV2LeaseStore | EtcdV2LeaseStoreOptions;
  /** The v3 side: a store, or options to open one (closed afterwards). */
  readonly to: EtcdLeaseStore | EtcdLeaseStoreOptions;
  /**
   * The prefix on both sides (flanneld `--etcd-prefix`). Default: each store's own prefix, or
   * `/coreos.com/network`. When a store is passed, it must use this prefix.
   */
  readonly prefix?: string;
  /** Report what would happen, write nothing. */
  readonly dryRun?: boolean;
  readonly signal?: AbortSignal;
}

/**
 * Copies a flannel network from the v2 keys API to v3: the config, then every lease with the
 * time it has left (an etcd lease granted for the v2 node's remaining `ttl`; a reservation
 * without one), values byte for byte (flannel v0.18+ reads the v0.11 JSON). Each key is created
 * only where v3 has none (`Version == 0`), so it can run twice without harm, and it never
 * overwrites: a key v3 holds with another value is a `conflict`. v2 is not modified.
 *
 * @throws FlannelError `INVALID_ARGUMENT` (a store with another prefix), `ETCD_*`, `ABORTED`
 * @example
 * ```ts
 * const report = await migrateV2ToV3({
 *   from: { endpoints: ["http://127.0.0.1:2379"] },
 *   to: { endpoints: ["http://127.0.0.1:2379"] },
 *   prefix: "/kube-centos/network",
 *   dryRun: true,
 * });
 * console.table(report.leases);
 * ```
 */
export async function migrateV2ToV3(options: MigrateV2ToV3Options): Promise<MigrationReport> {
  const { signal } = options;
  throwIfAborted(signal);
  const ownFrom = !(options.from instanceof EtcdV2LeaseStore);
  const ownTo = !(options.to instanceof EtcdLeaseStore);
  const from =
    options.from instanceof EtcdV2LeaseStore
      ? options.from
      : new EtcdV2LeaseStore({
          ...options.from,
          ...(options.prefix ? { prefix: options.prefix } : {}),
        });
  let to: EtcdLeaseStore | null = null;
  try {
    to =
      options.to instanceof EtcdLeaseStore
        ? options.to
        : new EtcdLeaseStore({
            ...options.to,
            ...(options.prefix ? { prefix: options.prefix } : {}),
          });
    if (options.prefix !== undefined) {
      const want = keyLayout(options.prefix).config;
      if (from.keys.config !== want || to.keys.config !== want) {
        throw new FlannelError(
          "INVALID_ARGUMENT",
          `the stores use prefixes ${from.keys.prefix} and ${to.keys.prefix}, not ${options.prefix}`,
          { field: "prefix" },
        );
      }
    }
    return await migrate(from, to, options.dryRun ?? false, signal);
  } finally {
    if (ownFrom) await from.close();
    if (ownTo && to) await to.close();
  }
}

async function migrate(
  from: EtcdV2LeaseStore,
  to: EtcdLeaseStore,
  dryRun: boolean,
  signal: AbortSignal | undefined,
): Promise<MigrationReport> {
  const v3 = to.connection;
  const configEntry = await migrateConfig(from, to, dryRun, signal);
  let nodes: readonly V2Node[] = [];
  try {
    nodes =
      (
        await from.client.get(from.keys.subnetsDir, {
          recursive: true,
          quorum: true,
          ...(signal ? { signal } : {}),
        })
      ).node.nodes ?? [];
  } catch (e) {
    if (v2ErrorCode(e) !== V2_KEY_NOT_FOUND) throw e;
  }
  const leases: MigrationEntry[] = [];
  for (const node of [...nodes].sort((a, b) => (a.key < b.key ? -1 : 1))) {
    throwIfAborted(signal);
    const name = node.key.slice(from.keys.subnets.length);
    const key = to.keys.subnets + name;
    const ttl = node.ttl ?? null;
    try {
      if (node.dir) throw new Error("a directory");
      subnetsOfKey(from.keys, node.key);
      parseLeaseAttrs(node.value ?? "");
    } catch (e) {
      leases.push({
        key,
        action: "skipped",
        ttlSeconds: ttl,
        reason: `unreadable: ${e instanceof Error ? e.message : String(e)}`,
      });
      continue;
    }
    if (ttl !== null && ttl <= 0) {
      leases.push({ key, action: "skipped", ttlSeconds: ttl, reason: "expired" });
      continue;
    }
    const value = node.value ?? "";
    const existing = (await v3.range(key, { ...(signal ? { signal } : {}) })).kvs[0];
    if (existing !== undefined) {
      const same = existing.value.toString() === value;
      leases.push({
        key,
        action: same ? "unchanged" : "conflict",
        ttlSeconds: ttl,
        ...(same ? {} : { reason: "v3 holds another value for this key; left as it is" }),
      });
      continue;
    }
    if (dryRun) {
      leases.push({ key, action: "created", ttlSeconds: ttl });
      continue;
    }
    const id = ttl === null ? 0n : (await v3.grant(ttl, signal)).id;
    const res = await v3.txn([compare.version(key, 0n)], [op.put(key, value, id)], [], signal);
    if (res.succeeded) {
      leases.push({ key, action: "created", ttlSeconds: ttl });
    } else {
      await v3.revoke(id).catch(() => undefined);
      leases.push({
        key,
        action: "conflict",
        ttlSeconds: ttl,
        reason: "written in v3 by someone else meanwhile; left as it is",
      });
    }
  }
  const counts: Record<MigrationAction, number> = {
    created: 0,
    unchanged: 0,
    conflict: 0,
    skipped: 0,
  };
  for (const entry of [configEntry, ...leases]) counts[entry.action]++;
  return { dryRun, config: configEntry, leases, counts };
}

async function migrateConfig(
  from: EtcdV2LeaseStore,
  to: EtcdLeaseStore,
  dryRun: boolean,
  signal: AbortSignal | undefined,
): Promise<MigrationEntry> {
  const key = to.keys.config;
  let text: string;
  try {
    text =
      (await from.client.get(from.keys.config, { quorum: true, ...(signal ? { signal } : {}) }))
        .node.value ?? "";
  } catch (e) {
    if (v2ErrorCode(e) !== V2_KEY_NOT_FOUND) throw e;
    return { key, action: "skipped", ttlSeconds: null, reason: "no config in v2" };
  }
  let parsed: unknown;
  try {
    parsed = parseNetworkConfig(text);
  } catch (e) {
    return {
      key,
      action: "skipped",
      ttlSeconds: null,
      reason: `the v2 config is invalid: ${e instanceof Error ? e.message : String(e)}`,
    };
  }
  const existing = (await to.connection.range(key, { ...(signal ? { signal } : {}) })).kvs[0];
  if (existing !== undefined) {
    const current = existing.value.toString();
    let same = current === text;
    if (!same) {
      try {
        same = JSON.stringify(parseNetworkConfig(current)) === JSON.stringify(parsed);
      } catch {
        same = false;
      }
    }
    return same
      ? { key, action: "unchanged", ttlSeconds: null }
      : {
          key,
          action: "conflict",
          ttlSeconds: null,
          reason: "v3 holds another config; left as it is",
        };
  }
  if (dryRun) return { key, action: "created", ttlSeconds: null };
  const res = await to.connection.txn([compare.version(key, 0n)], [op.put(key, text)], [], signal);
  return res.succeeded
    ? { key, action: "created", ttlSeconds: null }
    : { key, action: "conflict", ttlSeconds: null, reason: "written in v3 meanwhile" };
}
