/**
 * `EtcdLeaseStore`: flannel v0.18+'s etcd v3 layout and lease protocol
 * (`pkg/subnet/etcd/registry.go`), over etcd's JSON gateway or gRPC (`src/v3/connection.ts`).
 * The store wires its parts: the shared snapshot read (`snapshot.ts`), the etcd lease grants
 * (`grants.ts`), the planning turns (`turns.ts`), the group commit of acquisitions (`commit.ts`,
 * `txn-batcher.ts`), renew / release / reserve (`lease-ops.ts`) and the watches
 * (`lease-watch.ts`).
 */
import {
  type AcquireLeaseOptions,
  type AllocationStrategy,
  type CallOptions,
  type Clock,
  FlannelError,
  type KeepLeaseOptions,
  type Lease,
  type LeaseAttrs,
  type LeaseKeeper,
  type LeaseList,
  type LeaseStore,
  type LeaseWatchResult,
  type NetworkConfig,
  networkConfigText,
  parseNetworkConfig,
  runLeaseAcquisition,
  type SkippedLeaseEntry,
  systemClock,
  type WatchLeasesOptions,
} from "@flannel-sdk/core";
import { StoreLifecycle } from "../lifecycle.js";
import {
  DEFAULT_ENDPOINTS,
  type EtcdStoreOptions,
  RACE_RETRIES,
  SUBNET_TTL_SECONDS,
} from "../options.js";
import { DEFAULT_PREFIX, type KeyLayout, keyLayout } from "../prefix.js";
import { loadTlsMaterial } from "../tls.js";
import { commitAcquisition } from "./commit.js";
import { EtcdV3Connection } from "./connection.js";
import { V3LeaseDecoder } from "./decode.js";
import { GrantPool } from "./grants.js";
import { type LeaseOpsContext, releaseLease, renewLease, reserveSubnet } from "./lease-ops.js";
import { toLeaseWatchResult, watchOwnLease } from "./lease-watch.js";
import { type Snapshot, SnapshotCache } from "./snapshot.js";
import type { EtcdV3TransportKind } from "./transport.js";
import { PlanTurns } from "./turns.js";
import { TxnBatcher } from "./txn-batcher.js";
import { RawWatch, type WatchStatus } from "./watch.js";

/** Options of {@link EtcdLeaseStore}. */
export interface EtcdLeaseStoreOptions extends EtcdStoreOptions {
  /**
   * How the store talks to etcd v3. `"http"`: etcd's own JSON gateway on the client port
   * (`POST /v3/kv/range`, `/v3/watch`, …; etcd ≥ 3.4), over Node's `http`/`https` — no gRPC or
   * protobuf modules are loaded, so a watcher or agent process stays small. `"grpc"`: gRPC
   * through npm `etcd3` (loaded on first use; about 26 MB more RSS). The data in etcd is the
   * same either way. Default `"http"`, except with both a client certificate (`tls.cert`) and
   * `auth`, which defaults to `"grpc"`: etcd refuses gateway requests from a client
   * certificate that carries a CommonName while auth is on.
   */
  readonly transport?: EtcdV3TransportKind;
  /**
   * How soon a silent server is noticed by a watch: gRPC pings this often, an HTTP watch that
   * heard nothing this long probes etcd; plus 5 s for the answer. etcd refuses gRPC pings more
   * often than its `--grpc-keepalive-min-time` (5 s). Default 10 s.
   */
  readonly keepaliveMs?: number;
  /** Most HTTP sockets per endpoint (`transport: "http"`). Default 64. */
  readonly maxSockets?: number;
}

/** Options of {@link EtcdLeaseStore.watchLeases}. */
export interface EtcdWatchLeasesOptions extends WatchLeasesOptions {
  /** Connection changes of the watch (disconnected, compacted, …), for logs. */
  readonly onStatus?: (status: WatchStatus) => void;
}

const TTL_LOOKUP_CONCURRENCY = 16;

/**
 * flannel's config and lease store on etcd v3, with exactly the data flanneld v0.18+ reads and
 * writes, so a flanneld and this store can share one etcd:
 * - `<prefix>/config`: the network config JSON;
 * - `<prefix>/subnets/<a.b.c.d-len[&v6-len]>`: the lease JSON (core's `formatLeaseAttrs`, Go's
 *   field order), attached to an etcd lease of 24 h; a key with no etcd lease is a reservation;
 * - create-if-absent as `Txn(If Version(key) == 0, Then Put(key, json, lease))`.
 *
 * Where it differs from flanneld (docs/decisions.md): a lost create race is retried (bounded,
 * jittered); acquisition reads config and leases in one request and never asks each lease's TTL
 * (3 requests whatever the number of leases); a reservation stays one; renewal revokes the
 * replaced etcd lease; deletions and rewrites are conditional on the revision that was read.
 *
 * @example
 * ```ts
 * await using store = new EtcdLeaseStore({ endpoints: ["https://localhost:2379"], prefix: "/kube-centos/network",
 *   tls: { ca: "/etc/kubernetes/ssl/ca.pem", cert: "/etc/kubernetes/ssl/kubernetes.pem", key: "/etc/kubernetes/ssl/kubernetes-key.pem" } });
 * const lease = await store.acquireLease({ publicIP: "172.16.97.244", publicIPv6: null, backendType: "vxlan",
 *   backendData: { VNI: 1, VtepMAC: "3a:b9:84:c3:57:7c" }, backendV6Data: null });
 * await using keeper = store.keepLease(lease, { renewMargin: 60 * 60_000 });
 * ```
 */
export class EtcdLeaseStore implements LeaseStore {
  /** The keys this store uses. */
  readonly keys: KeyLayout;
  /** The underlying etcd v3 connection, for operations this store does not model. */
  readonly connection: EtcdV3Connection;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #strategy: AllocationStrategy;
  readonly #attempts: number;
  readonly #life = new StoreLifecycle();
  readonly #decoder: V3LeaseDecoder;
  readonly #cache: SnapshotCache;
  readonly #grants: GrantPool;
  readonly #turns = new PlanTurns();
  /** The acquisitions' writes, committed together when they go out in one turn. */
  readonly #batcher: TxnBatcher;
  readonly #ops: LeaseOpsContext;
  /** Acquisitions running; close() aborts them and waits for them to settle. */
  readonly #acquiring = new Set<Promise<unknown>>();
  /** Aborted by close(): cuts running acquisitions short. */
  readonly #closing = new AbortController();

  /**
   * @throws FlannelError `ETCD_TLS` (unreadable certificate files), `INVALID_ARGUMENT` (no or
   *   mixed endpoints)
   */
  constructor(options: EtcdLeaseStoreOptions = {}) {
    this.keys = keyLayout(options.prefix ?? DEFAULT_PREFIX);
    const ttl = options.leaseTTL ?? SUBNET_TTL_SECONDS;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random;
    this.#strategy = options.strategy ?? "hashed";
    this.#attempts = options.raceRetries ?? RACE_RETRIES;
    this.connection = new EtcdV3Connection({
      endpoints: options.endpoints ?? DEFAULT_ENDPOINTS,
      ...(options.tls ? { tls: loadTlsMaterial(options.tls) } : {}),
      ...(options.auth ? { auth: options.auth } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.keepaliveMs ? { keepaliveMs: options.keepaliveMs } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
    });
    this.#batcher = new TxnBatcher(this.connection);
    this.#decoder = new V3LeaseDecoder(this.keys, ttl, this.#clock);
    const configNotFound = () => this.#configNotFound();
    this.#cache = new SnapshotCache(this.connection, this.keys, this.#decoder, configNotFound);
    this.#grants = new GrantPool(this.connection, ttl, this.#clock, this.#decoder);
    this.#ops = {
      connection: this.connection,
      keys: this.keys,
      ttl,
      clock: this.#clock,
      decoder: this.#decoder,
      grants: this.#grants,
      cache: this.#cache,
      attempts: this.#attempts,
      configNotFound,
    };
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#life.closed;
  }

  #configNotFound(): FlannelError {
    return new FlannelError(
      "CONFIG_NOT_FOUND",
      "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
      { details: { key: this.keys.config } },
    );
  }

  /**
   * Reads and validates `<prefix>/config`.
   * @throws FlannelError `CONFIG_NOT_FOUND` (with flannel's hint about the v3 API),
   *   `CONFIG_INVALID`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async getNetworkConfig(options: CallOptions = {}): Promise<NetworkConfig> {
    this.#life.begin(options.signal);
    const { kvs } = await this.connection.range(this.keys.config, { signal: options.signal });
    if (kvs.length === 0) throw this.#configNotFound();
    return parseNetworkConfig(kvs[0]!.value.toString());
  }

  /**
   * Validates the config, then writes it to `<prefix>/config` (a string as given, an object as
   * JSON). An invalid config is never written.
   * @throws FlannelError `CONFIG_INVALID`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async putNetworkConfig(
    config: string | object,
    options: CallOptions = {},
  ): Promise<NetworkConfig> {
    this.#life.begin(options.signal);
    const text = networkConfigText(config);
    const parsed = parseNetworkConfig(text);
    await this.connection.put(this.keys.config, text, options.signal);
    return parsed;
  }

  /**
   * Acquires a lease with flannel v0.28's algorithm (core's `planLeaseAcquisition`): reuse this
   * node's lease (by PublicIP) when it fits the config, else the previous subnet when nobody
   * holds it, else a free one. Costs three requests, whatever the number of leases: one read of
   * config and leases, one lease grant (made while reading), one conditional txn; acquisitions
   * running at once in one store share the read and the grant, and never race each other for a
   * subnet (a lost race against another process is retried with jitter).
   *
   * @throws FlannelError `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `LEASE_INVALID`,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  acquireLease(attrs: LeaseAttrs, options: AcquireLeaseOptions = {}): Promise<Lease> {
    try {
      this.#life.begin(options.signal);
    } catch (e) {
      return Promise.reject(e);
    }
    const acquiring = this.#acquire(attrs, options);
    this.#acquiring.add(acquiring);
    const settled = () => this.#acquiring.delete(acquiring);
    acquiring.then(settled, settled);
    return acquiring;
  }

  async #acquire(attrs: LeaseAttrs, callerOptions: AcquireLeaseOptions): Promise<Lease> {
    // close() aborts a running acquisition, so it can revoke the grant the acquisition holds.
    // (A signal of its own: a thousand acquisitions do not pile listeners on the store's one.)
    const signal = AbortSignal.any(
      callerOptions.signal ? [callerOptions.signal, this.#closing.signal] : [this.#closing.signal],
    );
    const grant = this.#grants.hold();
    let snapshotRead: Snapshot | null = null;
    try {
      return await runLeaseAcquisition(
        {
          snapshot: async (signal) => {
            // The etcd lease is granted while the read runs: it is needed unless the node
            // reuses a reservation.
            void grant.get().catch(() => undefined);
            const snapshot = await this.#cache.read(signal);
            await this.#turns.next();
            snapshotRead = snapshot;
            return this.#cache.acquisitionView(snapshot, attrs);
          },
          commit: (plan, signal) =>
            commitAcquisition(
              { keys: this.keys, batcher: this.#batcher, cache: this.#cache, grants: this.#grants },
              plan,
              snapshotRead!,
              grant,
              signal,
            ),
        },
        attrs,
        {
          ...callerOptions,
          signal,
          attempts: this.#attempts,
          clock: this.#clock,
          strategy: this.#strategy,
          ...(this.#random ? { random: this.#random } : {}),
        },
      );
    } catch (e) {
      if (this.#closing.signal.aborted && !callerOptions.signal?.aborted) {
        throw new FlannelError("STORE_CLOSED", "the etcd store was closed while acquiring", {
          cause: e,
        });
      }
      throw e;
    } finally {
      grant.release();
    }
  }

  /**
   * Rewrites the lease with the given attrs on a fresh etcd lease (24 h) and revokes the etcd
   * lease it hung on; a reservation is rewritten without one and stays permanent. Conditional on
   * the key not changing between read and write; a lost condition is retried with a fresh read,
   * up to 5 times (the etcd stores' one retry policy, docs/decisions.md); any other error is
   * thrown at once (`keepLease` tries again after `retryInterval`, as flanneld does).
   *
   * @throws FlannelError `LEASE_NOT_FOUND` (gone; or now held by another node, then with
   *   `details.holder`), `LEASE_INVALID`, `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async renewLease(lease: Lease, options: CallOptions = {}): Promise<Lease> {
    this.#life.begin(options.signal);
    return renewLease(this.#ops, lease, options.signal);
  }

  /**
   * Deletes a lease and revokes its etcd lease. Given a `Lease`, only while it still belongs to
   * that lease's node (a conditional delete, retried like {@link renewLease}); given a string — a
   * subnet key (`10.5.1.0-24`), a full key, or a CIDR of either family — whatever holds it.
   * Releasing an absent lease is not an error.
   *
   * @throws FlannelError `SUBNET_KEY_INVALID` / `INVALID_CIDR` for an unreadable string,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async releaseLease(lease: Lease | string, options: CallOptions = {}): Promise<void> {
    this.#life.begin(options.signal);
    await releaseLease(this.#ops, lease, options.signal);
  }

  /**
   * Writes a reservation: the lease key with no etcd lease, so it never expires, for the node
   * with `attrs.publicIP`, who reuses it (and keeps it permanent) when it starts. The node's
   * other overlapping leases are deleted; core's `planReservation` decides.
   *
   * @throws FlannelError `LEASE_CONFLICT` (held by another node), `CONFIG_INVALID` (does not fit
   *   the config), `CONFIG_NOT_FOUND`, `LEASE_INVALID`, `MAX_RETRIES`, `ETCD_*`, `ABORTED`,
   *   `STORE_CLOSED`
   */
  async reserveSubnet(
    subnet: string,
    attrs: LeaseAttrs,
    options: CallOptions & { ipv6Subnet?: string | null } = {},
  ): Promise<Lease> {
    this.#life.begin(options.signal);
    return reserveSubnet(this.#ops, subnet, options.ipv6Subnet ?? null, attrs, options.signal);
  }

  /**
   * Lists every lease under `<prefix>/subnets/`, in key order. Expirations are exact: the etcd
   * leases this store has not timed yet are asked for their TTL (once each; flannel never
   * refreshes an etcd lease). Unreadable entries are reported in `skipped`.
   *
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async listLeases(options: CallOptions = {}): Promise<LeaseList> {
    this.#life.begin(options.signal);
    const signal = options.signal;
    const { kvs, revision } = await this.connection.rangePrefixPaged(this.keys.subnets, {
      signal,
    });
    const unknown = [
      ...new Set(kvs.map((kv) => kv.lease).filter((id) => id !== 0n && !this.#decoder.isTimed(id))),
    ];
    let next = 0;
    const worker = async () => {
      while (next < unknown.length) {
        const id = unknown[next++]!;
        const asked = this.#clock.now();
        const ttl = await this.connection.timeToLive(id, signal);
        // A lease that just expired (TTL -1) ends now; the key goes with it.
        this.#decoder.timed(id, asked + Math.max(0, ttl) * 1000);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(TTL_LOOKUP_CONCURRENCY, unknown.length) }, worker),
    );
    this.#decoder.prune(new Set(kvs.map((kv) => kv.lease)));
    const { leases, skipped } = this.#decoder.decodeAll(kvs);
    return { leases, revision, skipped };
  }

  /**
   * Watches the leases: a snapshot first, then batches of `added` / `removed`. Resumes from the
   * last revision + 1 after a disconnect; after a compaction it re-lists and yields a new
   * snapshot (backoff 100 ms → 5 s, never a hot loop). An unreadable key or value is reported in
   * `skipped` and changes nothing else. A `removed` lease carries its last value (etcd
   * `prev_kv`). Expirations are not asked per lease (see {@link listLeases}); a lease this store
   * has not timed carries now + TTL, the latest it can end. Ends without error when the signal
   * aborts or the store closes; throws `ETCD_PERMISSION_DENIED` / `ETCD_AUTH_FAILED`.
   */
  watchLeases(options: EtcdWatchLeasesOptions = {}): AsyncIterable<LeaseWatchResult> {
    return {
      [Symbol.asyncIterator]: () => this.#watchLeases(options),
    };
  }

  async *#watchLeases(options: EtcdWatchLeasesOptions): AsyncGenerator<LeaseWatchResult> {
    this.#life.begin(undefined);
    if (options.signal?.aborted) return;
    const watch = this.#life.watch(options.signal);
    const raw = new RawWatch<Lease | SkippedLeaseEntry>({
      connection: this.connection,
      key: this.keys.subnets,
      prefix: true,
      decode: (kv) => this.#decoder.decode(kv),
      signal: watch.stop,
      clock: this.#clock,
      ...(this.#random ? { random: this.#random } : {}),
      ...(options.onStatus ? { onStatus: options.onStatus } : {}),
    });
    try {
      for await (const result of raw) yield toLeaseWatchResult(this.keys, this.#decoder, result);
    } finally {
      watch.end();
      await raw.return();
    }
  }

  /**
   * Keeps a lease: renews it at expiration minus `renewMargin` (flanneld's
   * `--subnet-lease-renew-margin`), retries every `retryInterval` on error, watches its key, and
   * reports `renewed`, `renewFailed` and `lost` (also when etcd goes silent: the expiration is
   * kept by the local clock). {@link close} stops every keeper.
   * @throws FlannelError `INVALID_ARGUMENT`, `ABORTED`, `STORE_CLOSED`
   */
  keepLease(lease: Lease, options: KeepLeaseOptions = {}): LeaseKeeper {
    return this.#life.keep(
      lease,
      {
        renew: (l, signal) => this.renewLease(l, { signal }),
        watchOwn: (l, signal) =>
          watchOwnLease(this.connection, this.keys, this.#decoder, this.#clock, l, signal),
      },
      options,
      this.#clock,
    );
  }

  /**
   * Ends every watch and keeper, cuts running acquisitions short (they reject with
   * `STORE_CLOSED`), revokes every etcd lease this store granted that no key hangs on (waiting for
   * Grants still on their way), and closes the connection; the process can exit. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#life.closed) return;
    this.#closing.abort();
    await this.#life.close();
    // No grant may outlive the store unattached: let the aborted acquisitions leave theirs, let
    // every Grant on its way answer, then wait for the revocations of those no key hangs on.
    await Promise.allSettled([...this.#acquiring]);
    await this.#grants.settle();
    this.connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
