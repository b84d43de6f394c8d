/**
 * `EtcdV2LeaseStore`: flannel v0.11's etcd v2 keys-API layout and lease protocol (v0.11
 * `subnet/etcdv2/registry.go`), the one the install guide uses, against etcd ≥ 3.4 started
 * with `--enable-v2=true`. Its watches are in `lease-watch.ts`; what it shares with the v3
 * store (closing, keepers, the renew/release retry policy) in `../lifecycle.ts`.
 */
import {
  type AcquireLeaseOptions,
  type AllocationStrategy,
  type CallOptions,
  type Clock,
  canonicalCidr,
  FlannelError,
  isFlannelError,
  type KeepLeaseOptions,
  type Lease,
  type LeaseAcquisitionPlan,
  type LeaseAttrs,
  type LeaseJsonShape,
  type LeaseKeeper,
  type LeaseList,
  type LeaseStore,
  type LeaseWatchResult,
  type NetworkConfig,
  networkConfigText,
  parseNetworkConfig,
  planReservation,
  runLeaseAcquisition,
  type SkippedLeaseEntry,
  systemClock,
  type WatchLeasesOptions,
} from "@flannel-sdk/core";
import {
  coveredSubnets,
  decodeEntry,
  decodeLease,
  encodeAttrs,
  heldByUnreadable,
  isCidrText,
  keyOfLease,
  leaseKey,
  normalizeAttrs,
  skippedEntry,
  subnetsOfKey,
} from "../lease-codec.js";
import {
  CONFLICT,
  checkOwner,
  leaseNotFound,
  retryLeaseWrite,
  StoreLifecycle,
} from "../lifecycle.js";
import {
  DEFAULT_ENDPOINTS,
  type EtcdStoreOptions,
  RACE_RETRIES,
  SUBNET_TTL_SECONDS,
} from "../options.js";
import { DEFAULT_PREFIX, type KeyLayout, keyLayout } from "../prefix.js";
import { loadTlsMaterial } from "../tls.js";
import {
  EtcdV2Client,
  V2_KEY_NOT_FOUND,
  V2_NODE_EXIST,
  V2_TEST_FAILED,
  type V2Node,
  v2ErrorCode,
} from "./client.js";
import {
  type V2WatchContext,
  type V2WatchStatus,
  watchOwnV2Lease,
  watchV2Leases,
} from "./lease-watch.js";

/** Options of {@link EtcdV2LeaseStore}. */
export interface EtcdV2LeaseStoreOptions extends EtcdStoreOptions {
  /**
   * The lease JSON written: `"v0.11"` (default; what flannel v0.11 writes and the install guide
   * shows, no `PublicIPv6` when unset) or `"current"` (v0.15+, `"PublicIPv6":null`).
   */
  readonly leaseJson?: LeaseJsonShape;
  /**
   * Longest a watch long-poll waits before asking again (a silent server is noticed then).
   * Default 5 min.
   */
  readonly watchPollMs?: number;
}

/** Options of {@link EtcdV2LeaseStore.watchLeases}. */
export interface EtcdV2WatchLeasesOptions extends WatchLeasesOptions {
  readonly onStatus?: (status: V2WatchStatus) => void;
}

/** A listed node as decoded, with what decoding read of it. */
interface DecodedNode {
  readonly modifiedIndex: number;
  readonly value: string | undefined;
  readonly expiration: string | undefined;
  readonly item: Lease | SkippedLeaseEntry;
}

interface V2Snapshot {
  readonly config: NetworkConfig;
  readonly leases: readonly Lease[];
}

/**
 * flannel's config and lease store over the etcd v2 keys API, as flanneld v0.11 (and the
 * install guide's `etcdctl mk`/`ls`/`get`) use it:
 * - `GET <prefix>/config` for the config; `GET <prefix>/subnets?recursive=true` to list;
 * - create `PUT <prefix>/subnets/<key>?prevExist=false` with `value=<json>&ttl=86400`;
 * - renew `PUT` with a new `ttl` (no `ttl` for a reservation, which stays permanent);
 * - watch `GET …?wait=true&recursive=true&waitIndex=<index+1>`; index cleared (401) → re-list.
 *
 * Unlike flannel v0.11, rewrites and deletions are conditional on the index that was read
 * (`prevIndex`), so a node never overwrites a lease another node took meanwhile (v0.11's
 * previous-subnet takeover of a held subnet, is v0.18's rule here).
 *
 * @example
 * ```ts
 * await using store = new EtcdV2LeaseStore({ endpoints: ["http://127.0.0.1:2379"], prefix: "/kube-centos/network" });
 * await store.putNetworkConfig('{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}');
 * ```
 */
export class EtcdV2LeaseStore implements LeaseStore {
  /** The keys this store uses. */
  readonly keys: KeyLayout;
  /** The underlying v2 keys-API client, for operations this store does not model. */
  readonly client: EtcdV2Client;
  readonly #ttl: number;
  readonly #shape: LeaseJsonShape;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #strategy: AllocationStrategy;
  readonly #attempts: number;
  readonly #pollMs: number;
  readonly #life = new StoreLifecycle();
  readonly #watchContext: V2WatchContext;
  /**
   * The entries of the last listing by key: a start-up lists twice (the acquisition, then the
   * watch's snapshot) and a re-list after a cleared index re-reads mostly the same nodes.
   */
  #decoded = new Map<string, DecodedNode>();

  /** @throws FlannelError `ETCD_TLS`, `INVALID_ARGUMENT` */
  constructor(options: EtcdV2LeaseStoreOptions = {}) {
    this.keys = keyLayout(options.prefix ?? DEFAULT_PREFIX);
    this.#ttl = options.leaseTTL ?? SUBNET_TTL_SECONDS;
    this.#shape = options.leaseJson ?? "v0.11";
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random;
    this.#strategy = options.strategy ?? "hashed";
    this.#attempts = options.raceRetries ?? RACE_RETRIES;
    this.#pollMs = options.watchPollMs ?? 300_000;
    this.client = new EtcdV2Client({
      endpoints: options.endpoints ?? DEFAULT_ENDPOINTS,
      ...(options.tls ? { tls: loadTlsMaterial(options.tls) } : {}),
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.requestTimeoutMs ? { timeoutMs: options.requestTimeoutMs } : {}),
    });
    this.#watchContext = {
      client: this.client,
      keys: this.keys,
      pollMs: this.#pollMs,
      clock: this.#clock,
      random: this.#random,
      closed: () => this.#life.closed,
      list: (signal) => this.#list(signal),
      lease: (node) => this.#lease(node),
      entry: (node) => this.#entry(node),
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  #configNotFound(cause?: unknown): FlannelError {
    return new FlannelError(
      "CONFIG_NOT_FOUND",
      `flannel config not found at ${this.keys.config} in the etcd v2 keys API. Was it written with the v3 API (etcdctl put)? flannel ≤ v0.17 and this store read the v2 API: ETCDCTL_API=2 etcdctl mk ${this.keys.config} '<config JSON>'`,
      { cause, details: { key: this.keys.config } },
    );
  }

  #lease(node: V2Node): Lease {
    return decodeLease(
      this.keys,
      node.key,
      node.value ?? "",
      node.expiration ? new Date(node.expiration) : null,
      BigInt(node.modifiedIndex),
    );
  }

  /** A lease, or why it is not listed (see `decodeEntry`). */
  #entry(node: V2Node): Lease | SkippedLeaseEntry {
    return decodeEntry(
      this.keys,
      node.key,
      node.value ?? "",
      node.expiration ? new Date(node.expiration) : null,
      BigInt(node.modifiedIndex),
    );
  }

  /**
   * The nodes in key order: etcd sorts them when asked (`sorted=true`), so this only checks,
   * and sorts a copy when they are not (a server that ignored the flag).
   */
  #inKeyOrder(nodes: readonly V2Node[]): readonly V2Node[] {
    for (let i = 1; i < nodes.length; i++) {
      if (!(nodes[i - 1]!.key < nodes[i]!.key)) {
        return [...nodes].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      }
    }
    return nodes;
  }

  #decodeNodes(nodes: readonly V2Node[]): { leases: Lease[]; skipped: SkippedLeaseEntry[] } {
    const leases: Lease[] = [];
    const skipped: SkippedLeaseEntry[] = [];
    const previous = this.#decoded;
    const decoded = new Map<string, DecodedNode>();
    for (const node of this.#inKeyOrder(nodes)) {
      if (node.dir) {
        skipped.push(
          skippedEntry(
            node.key,
            new FlannelError("SUBNET_KEY_INVALID", `not a subnet key: ${node.key} (a directory)`),
          ),
        );
        continue;
      }
      // Decoding is a pure function of the node: an unchanged node keeps its decoded entry.
      const last = previous.get(node.key);
      const item =
        last !== undefined &&
        last.modifiedIndex === node.modifiedIndex &&
        last.value === node.value &&
        last.expiration === node.expiration
          ? last.item
          : this.#entry(node);
      decoded.set(node.key, {
        modifiedIndex: node.modifiedIndex,
        value: node.value,
        expiration: node.expiration,
        item,
      });
      if ("error" in item) skipped.push(item);
      else leases.push(item);
    }
    this.#decoded = decoded;
    return { leases, skipped };
  }

  /**
   * Reads and validates `<prefix>/config`.
   * @throws FlannelError `CONFIG_NOT_FOUND` (with a hint about the v2/v3 API mix-up),
   *   `CONFIG_INVALID`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async getNetworkConfig(options: CallOptions = {}): Promise<NetworkConfig> {
    this.#life.begin(options.signal);
    try {
      const res = await this.client.get(this.keys.config, { quorum: true, signal: options.signal });
      return parseNetworkConfig(res.node.value ?? "");
    } catch (e) {
      if (v2ErrorCode(e) === V2_KEY_NOT_FOUND) throw this.#configNotFound(e);
      throw e;
    }
  }

  /**
   * Validates, then writes `<prefix>/config` (a string as given, an object as JSON).
   * @throws FlannelError `CONFIG_INVALID`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async putNetworkConfig(
    config: string | object,
    options: CallOptions = {},
  ): Promise<NetworkConfig> {
    this.#life.begin(options.signal);
    const text = networkConfigText(config);
    const parsed = parseNetworkConfig(text);
    await this.client.set(this.keys.config, text, { signal: options.signal });
    return parsed;
  }

  async #list(signal: AbortSignal | undefined): Promise<LeaseList> {
    try {
      const res = await this.client.get(this.keys.subnetsDir, {
        recursive: true,
        sorted: true,
        quorum: true,
        signal,
      });
      const { leases, skipped } = this.#decodeNodes(res.node.nodes ?? []);
      return { leases, skipped, revision: res.etcdIndex };
    } catch (e) {
      if (v2ErrorCode(e) === V2_KEY_NOT_FOUND) {
        // No subnets directory yet: an empty list, at the index of the error (flannel's cursor).
        const index = (e as FlannelError).details.index;
        return { leases: [], skipped: [], revision: BigInt(typeof index === "number" ? index : 0) };
      }
      throw e;
    }
  }

  /**
   * Lists every lease under `<prefix>/subnets`, in key order, with exact expirations (the v2
   * node's `expiration`; none for a reservation). Unreadable entries are reported in `skipped`.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async listLeases(options: CallOptions = {}): Promise<LeaseList> {
    this.#life.begin(options.signal);
    return this.#list(options.signal);
  }

  /**
   * Acquires a lease with flannel v0.28's algorithm (core's `planLeaseAcquisition`), written the
   * v2 way: `prevExist=false` creates with `ttl=86400`; a lost race is retried with jitter.
   * @throws FlannelError `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `LEASE_INVALID`,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async acquireLease(attrs: LeaseAttrs, options: AcquireLeaseOptions = {}): Promise<Lease> {
    this.#life.begin(options.signal);
    return runLeaseAcquisition(
      {
        snapshot: (signal) => this.#snapshot(signal),
        commit: (plan, signal) => this.#commit(plan, signal),
      },
      attrs,
      {
        ...options,
        attempts: this.#attempts,
        clock: this.#clock,
        strategy: this.#strategy,
        ...(this.#random ? { random: this.#random } : {}),
      },
    );
  }

  async #snapshot(signal: AbortSignal | undefined): Promise<V2Snapshot> {
    const [config, list] = await Promise.all([
      this.getNetworkConfig(signal ? { signal } : {}),
      this.#list(signal),
    ]);
    const held = heldByUnreadable(this.keys, list.skipped, () => 0n);
    return { config, leases: held.length === 0 ? list.leases : list.leases.concat(held) };
  }

  async #commit(
    plan: LeaseAcquisitionPlan,
    signal: AbortSignal | undefined,
  ): Promise<Lease | null> {
    if (!(await this.#deleteAsRead(plan.delete, signal))) return null;
    const write = plan.write;
    const key = leaseKey(this.keys, write.subnet, write.ipv6Subnet);
    const value = encodeAttrs(write.attrs, this.#shape);
    const ttl = write.ttlSeconds === null ? null : this.#ttl;
    try {
      const res = await this.client.set(key, value, {
        ttl,
        ...(write.mode === "create"
          ? { prevExist: false }
          : { prevIndex: Number(write.lease.revision ?? 0n) }),
        signal,
      });
      return this.#written(write.subnet, write.ipv6Subnet, write.attrs, res.node);
    } catch (e) {
      const code = v2ErrorCode(e);
      if (code === V2_NODE_EXIST || code === V2_TEST_FAILED || code === V2_KEY_NOT_FOUND) {
        return null;
      }
      throw e;
    }
  }

  /**
   * Deletes leases as they were read (`prevIndex`); one already gone is fine. `false` when one
   * changed since the read (a lost race: the caller starts over).
   */
  async #deleteAsRead(leases: readonly Lease[], signal: AbortSignal | undefined): Promise<boolean> {
    for (const old of leases) {
      try {
        await this.client.delete(keyOfLease(this.keys, old), {
          prevIndex: Number(old.revision ?? 0n),
          signal,
        });
      } catch (e) {
        const code = v2ErrorCode(e);
        if (code === V2_TEST_FAILED) return false;
        if (code !== V2_KEY_NOT_FOUND) throw e;
      }
    }
    return true;
  }

  #written(
    subnet: string,
    ipv6Subnet: string | null,
    attrs: LeaseAttrs,
    node: V2Node,
    key?: string,
  ): Lease {
    return {
      subnet,
      ipv6Subnet,
      attrs,
      expiration: node.expiration ? new Date(node.expiration) : null,
      revision: BigInt(node.modifiedIndex),
      ...(key === undefined ? {} : { key }),
    };
  }

  /**
   * Rewrites the lease with a fresh TTL (`PUT … ttl=86400`, conditional on its index); a
   * reservation is rewritten without TTL and stays permanent.
   * @throws FlannelError `LEASE_NOT_FOUND` (gone, or now held by another node), `LEASE_INVALID`,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async renewLease(lease: Lease, options: CallOptions = {}): Promise<Lease> {
    this.#life.begin(options.signal);
    const signal = options.signal;
    const key = keyOfLease(this.keys, lease);
    const attrs = normalizeAttrs(lease.attrs);
    return retryLeaseWrite("renewing", key, async () => {
      const node = await this.#ownNode(key, attrs, signal);
      try {
        const res = await this.client.set(key, encodeAttrs(attrs, this.#shape), {
          ttl: node.expiration ? this.#ttl : null,
          prevIndex: node.modifiedIndex,
          signal,
        });
        return this.#written(lease.subnet, lease.ipv6Subnet, attrs, res.node, lease.key);
      } catch (e) {
        const code = v2ErrorCode(e);
        // Rewritten or deleted since the read: the next read decides.
        if (code === V2_TEST_FAILED || code === V2_KEY_NOT_FOUND) return CONFLICT;
        throw e;
      }
    });
  }

  /** The node stored at `key`, checked to be the lease of the node with `attrs`. */
  async #ownNode(key: string, attrs: LeaseAttrs, signal: AbortSignal | undefined): Promise<V2Node> {
    let node: V2Node;
    try {
      node = (await this.client.get(key, { quorum: true, signal })).node;
    } catch (e) {
      if (v2ErrorCode(e) === V2_KEY_NOT_FOUND) throw leaseNotFound(key, e);
      throw e;
    }
    checkOwner(this.keys, key, node.value ?? "", attrs);
    return node;
  }

  /**
   * Deletes a lease: given a `Lease`, only while it still belongs to that lease's node; given a
   * string (subnet key, full key, or CIDR), whatever holds it. An absent lease is not an error.
   * @throws FlannelError `SUBNET_KEY_INVALID` / `INVALID_CIDR`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async releaseLease(lease: Lease | string, options: CallOptions = {}): Promise<void> {
    this.#life.begin(options.signal);
    const signal = options.signal;
    const remove = async (key: string, prevIndex?: number) => {
      try {
        await this.client.delete(key, { ...(prevIndex ? { prevIndex } : {}), signal });
        return true;
      } catch (e) {
        const code = v2ErrorCode(e);
        if (code === V2_KEY_NOT_FOUND) return true;
        if (code === V2_TEST_FAILED) return false;
        throw e;
      }
    };
    if (typeof lease !== "string") {
      const key = keyOfLease(this.keys, lease);
      const attrs = normalizeAttrs(lease.attrs);
      await retryLeaseWrite("releasing", key, async () => {
        let node: V2Node;
        try {
          node = await this.#ownNode(key, attrs, signal);
        } catch (e) {
          // Gone, or another node's now: nothing of ours to release.
          if (isFlannelError(e, "LEASE_NOT_FOUND")) return;
          throw e;
        }
        if (!(await remove(key, node.modifiedIndex))) return CONFLICT;
      });
      return;
    }
    if (isCidrText(lease)) {
      const net = canonicalCidr(lease, { mask: true });
      const { leases, skipped } = await this.#list(signal);
      // Every entry whose key covers it, in whatever spelling (host bits masked).
      for (const key of [
        ...leases.map((l) => keyOfLease(this.keys, l)),
        ...skipped.map((s) => s.key),
      ]) {
        const s = coveredSubnets(this.keys, key);
        if (s !== null && (s.subnet === net || s.ipv6Subnet === net)) await remove(key);
      }
      return;
    }
    const key = lease.startsWith("/") ? lease : this.keys.subnets + lease;
    subnetsOfKey(this.keys, key);
    await remove(key);
  }

  /**
   * Writes a reservation (a lease key without TTL) for the node with `attrs.publicIP`; core's
   * `planReservation` decides what else to delete.
   * @throws FlannelError `LEASE_CONFLICT`, `CONFIG_INVALID`, `CONFIG_NOT_FOUND`, `LEASE_INVALID`,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async reserveSubnet(
    subnet: string,
    attrs: LeaseAttrs,
    options: CallOptions & { ipv6Subnet?: string | null } = {},
  ): Promise<Lease> {
    this.#life.begin(options.signal);
    const signal = options.signal;
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      const snapshot = await this.#snapshot(signal);
      const plan = planReservation({
        config: snapshot.config,
        leases: snapshot.leases,
        subnet,
        ipv6Subnet: options.ipv6Subnet ?? null,
        attrs,
      });
      if (!(await this.#deleteAsRead(plan.delete, signal))) continue;
      const key = leaseKey(this.keys, plan.subnet, plan.ipv6Subnet);
      const existing = snapshot.leases.find(
        (l) => l.subnet === plan.subnet && l.ipv6Subnet === plan.ipv6Subnet,
      );
      try {
        const res = await this.client.set(key, encodeAttrs(plan.attrs, this.#shape), {
          ttl: null,
          ...(existing ? { prevIndex: Number(existing.revision ?? 0n) } : { prevExist: false }),
          signal,
        });
        return this.#written(plan.subnet, plan.ipv6Subnet, plan.attrs, res.node);
      } catch (e) {
        const code = v2ErrorCode(e);
        if (code === V2_TEST_FAILED || code === V2_NODE_EXIST || code === V2_KEY_NOT_FOUND) {
          continue;
        }
        throw e;
      }
    }
    throw new FlannelError("MAX_RETRIES", "the leases kept changing while reserving a subnet", {
      retryable: true,
    });
  }

  /**
   * Watches the leases: a snapshot, then one batch per v2 event (`delete`/`expire` → removed,
   * any other action → added). Index cleared (401, the wait index fell out of etcd's
   * 1000-event history) → re-list and yield a new snapshot; other errors → retry the same index
   * after a backoff (100 ms → 5 s). Unreadable entries are reported in `skipped`. Ends without
   * error when the signal aborts or the store closes.
   */
  watchLeases(options: EtcdV2WatchLeasesOptions = {}): AsyncIterable<LeaseWatchResult> {
    return { [Symbol.asyncIterator]: () => this.#watchLeases(options) };
  }

  async *#watchLeases(options: EtcdV2WatchLeasesOptions): AsyncGenerator<LeaseWatchResult> {
    this.#life.begin(undefined);
    if (options.signal?.aborted) return;
    const watch = this.#life.watch(options.signal);
    try {
      yield* watchV2Leases(this.#watchContext, watch.stop, options.onStatus);
    } finally {
      watch.end();
    }
  }

  /**
   * Keeps a lease: renews it at expiration minus `renewMargin`, retries every `retryInterval`,
   * watches its key, reports `renewed` / `renewFailed` / `lost`. {@link close} stops it.
   */
  keepLease(lease: Lease, options: KeepLeaseOptions = {}): LeaseKeeper {
    return this.#life.keep(
      lease,
      {
        renew: (l, signal) => this.renewLease(l, { signal }),
        watchOwn: (l, signal) => watchOwnV2Lease(this.#watchContext, l, signal),
      },
      options,
      this.#clock,
    );
  }

  /** Ends every watch and keeper and aborts requests in flight. Idempotent. */
  async close(): Promise<void> {
    if (await this.#life.close()) {
      this.client.close();
      this.#decoded = new Map();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
