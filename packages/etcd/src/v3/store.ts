/**
 * `EtcdLeaseStore`: flannel v0.18+'s etcd v3 layout and lease protocol (reference §2.5), over
 * etcd's JSON gateway or gRPC (`src/v3/connection.ts`).
 */
import {
  type AcquireLeaseOptions,
  type AllocationStrategy,
  type CallOptions,
  type Clock,
  canonicalCidr,
  FlannelError,
  type KeepLeaseOptions,
  type Lease,
  type LeaseAcquisitionPlan,
  type LeaseAcquisitionSnapshot,
  type LeaseAttrs,
  type LeaseEvent,
  LeaseKeeper,
  type LeaseList,
  type LeaseStore,
  type LeaseWatchResult,
  type NetworkConfig,
  type OwnLeaseState,
  parseNetworkConfig,
  planReservation,
  runLeaseAcquisition,
  type SkippedLeaseEntry,
  systemClock,
  throwIfAborted,
  type WatchLeasesOptions,
} from "@flannel-sdk/core";
import {
  coveredSubnets,
  decodeEntry,
  decodeLease,
  encodeAttrs,
  isCanonicalKey,
  isCidrText,
  keyOfLease,
  leaseKey,
  normalizeAttrs,
  sameNode,
  skippedEntry,
  subnetsOfKey,
  UNKNOWN_ATTRS,
} from "../lease-codec.js";
import {
  DEFAULT_ENDPOINTS,
  type EtcdStoreOptions,
  RACE_RETRIES,
  SUBNET_TTL_SECONDS,
} from "../options.js";
import { DEFAULT_PREFIX, type KeyLayout, keyLayout } from "../prefix.js";
import { loadTlsMaterial } from "../tls.js";
import { EtcdV3Connection } from "./connection.js";
import type { EtcdV3TransportKind } from "./transport.js";
import { TxnBatcher } from "./txn-batcher.js";
import { RawWatch, type RawWatchResult, type WatchStatus } from "./watch.js";
import {
  compare,
  type KeyValue,
  op,
  type TxnCompare,
  type TxnRequestOp,
  type TxnResult,
} from "./wire.js";

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

/**
 * One read of config and leases, shared by the acquisitions waiting on it. Lease values are
 * decoded only where a decision needs them: allocation needs only the subnets (from the keys),
 * and a node's own lease can only be a value that contains its PublicIP.
 */
interface Snapshot {
  readonly revision: bigint;
  readonly configText: string | null;
  /** The config parsed once for every acquisition planning on this snapshot (or its error). */
  config?: { value: NetworkConfig } | { error: unknown };
  /** Every key under `subnets/` that names a subnet, in key order. */
  readonly entries: readonly SnapshotEntry[];
  /** `entries` as allocation sees them: subnets held, attrs unknown. */
  readonly held: readonly Lease[];
  /** Every lease decoded (unreadable ones as held), made when a reservation asks. */
  all?: readonly Lease[];
  /** Lease key → etcd lease ID and mod revision, for every key under `subnets/`. */
  readonly raw: ReadonlyMap<string, { lease: bigint; modRevision: bigint }>;
  /** etcd lease ID → how many keys under `subnets/` hang on it. */
  readonly leaseUse: ReadonlyMap<bigint, number>;
}

/** A lease key of a snapshot, its value decoded on first need. */
interface SnapshotEntry {
  readonly kv: KeyValue;
  /** The value may spell an address other than as a dotted quad (see {@link OTHER_SPELLING}). */
  readonly otherSpelling: boolean;
  /** The decoded lease; `null` when the value cannot be read; absent until needed. */
  decoded?: Lease | null;
}

/**
 * A value may name a node's PublicIP without its dotted quad: as an IPv4-mapped address
 * (`::ffff:a00:5` or `0:0:0:0:0:FFFF:a00:5`, which Go reads as 10.0.0.5). Every such spelling
 * holds `ffff`; those values are always decoded. (A JSON escape inside the address makes the
 * lease unreadable to flannel, so it cannot be the node's.)
 */
const OTHER_SPELLING = /ffff/i;

/** A granted etcd lease: its ID and when it ends by the local clock. */
interface Granted {
  readonly id: bigint;
  readonly expiresAt: number;
}

/** A Grant shared by the acquisitions that started while it was on its way. */
interface SharedGrant {
  readonly promise: Promise<Granted>;
  /** Still joinable (the Grant has not answered yet). */
  open: boolean;
  /** Acquisitions holding it now. */
  holders: number;
  /** Keys written with it; -1 once revoked unused. */
  used: number;
}

/** A create this store is committing, or committed after the newest snapshot it has read. */
interface LocalWrite {
  readonly lease: Lease;
  /** Revision of the commit; `null` while in flight. */
  revision: bigint | null;
}

const TTL_LOOKUP_CONCURRENCY = 16;
const PLANS_PER_TURN = 8;

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
  readonly #ttl: number;
  readonly #clock: Clock;
  readonly #random: (() => number) | undefined;
  readonly #strategy: AllocationStrategy;
  readonly #attempts: number;
  /** etcd lease ID → expiration (ms, local clock). flannel never refreshes an etcd lease. */
  readonly #expirations = new Map<bigint, number>();
  #lastExpiration: Date | null = null;
  readonly #watches = new Set<AbortController>();
  readonly #keepers = new Set<LeaseKeeper>();
  readonly #localWrites = new Set<LocalWrite>();
  #openGrant: SharedGrant | null = null;
  /** Every grant this store asked for that is not known to be revoked. */
  readonly #grants = new Set<SharedGrant>();
  /** Revocations of unused grants on their way; close() waits for them. */
  readonly #revocations = new Set<Promise<void>>();
  /** Acquisitions running; close() aborts them and waits for them to settle. */
  readonly #acquiring = new Set<Promise<unknown>>();
  /** Aborted by close(): cuts running acquisitions short. */
  readonly #closing = new AbortController();
  readonly #turns: (() => void)[] = [];
  /** The acquisitions' writes, committed together when they go out in one turn. */
  readonly #batcher: TxnBatcher;
  #readInFlight: Promise<Snapshot> | null = null;
  #queuedRead: Promise<Snapshot> | null = null;
  #closed = false;

  /**
   * @throws FlannelError `ETCD_TLS` (unreadable certificate files), `INVALID_ARGUMENT` (no or
   *   mixed endpoints)
   */
  constructor(options: EtcdLeaseStoreOptions = {}) {
    this.keys = keyLayout(options.prefix ?? DEFAULT_PREFIX);
    this.#ttl = options.leaseTTL ?? SUBNET_TTL_SECONDS;
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
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #begin(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
  }

  #configNotFound(): FlannelError {
    return new FlannelError(
      "CONFIG_NOT_FOUND",
      "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
      { details: { key: this.keys.config } },
    );
  }

  #expirationOf(leaseId: bigint): Date | null {
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
  #decodeOne(kv: KeyValue): Lease | SkippedLeaseEntry {
    return decodeEntry(
      this.keys,
      kv.key,
      kv.value.toString(),
      this.#expirationOf(kv.lease),
      kv.modRevision,
    );
  }

  #decodeAll(kvs: readonly KeyValue[]): { leases: Lease[]; skipped: SkippedLeaseEntry[] } {
    const leases: Lease[] = [];
    const skipped: SkippedLeaseEntry[] = [];
    for (const kv of kvs) {
      const item = this.#decodeOne(kv);
      if ("error" in item) skipped.push(item);
      else leases.push(item);
    }
    return { leases, skipped };
  }

  /**
   * Reads and validates `<prefix>/config`.
   * @throws FlannelError `CONFIG_NOT_FOUND` (with flannel's hint about the v3 API),
   *   `CONFIG_INVALID`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async getNetworkConfig(options: CallOptions = {}): Promise<NetworkConfig> {
    this.#begin(options.signal);
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
    this.#begin(options.signal);
    const text = typeof config === "string" ? config : JSON.stringify(config);
    const parsed = parseNetworkConfig(text);
    await this.connection.put(this.keys.config, text, options.signal);
    return parsed;
  }

  /** One shared read of config and leases that starts after the caller asked. */
  #snapshot(signal: AbortSignal | undefined): Promise<Snapshot> {
    let read: Promise<Snapshot>;
    if (this.#readInFlight === null) {
      read = this.#startRead();
    } else {
      // A read already running may predate this call: wait for the next one.
      this.#queuedRead ??= this.#readInFlight
        .catch(() => undefined)
        .then(() => {
          this.#queuedRead = null;
          return this.#startRead();
        });
      read = this.#queuedRead;
    }
    if (signal === undefined) return read;
    return new Promise((resolve, reject) => {
      const onAbort = () =>
        reject(new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason }));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      read.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  #startRead(): Promise<Snapshot> {
    const read = (async (): Promise<Snapshot> => {
      const res = await this.connection.txn(
        [],
        [op.get(this.keys.config), op.getPrefix(this.keys.subnets)],
      );
      const configKv = res.responses[0]?.response_range?.kvs[0];
      const kvs = res.responses[1]?.response_range?.kvs ?? [];
      const raw = new Map<string, { lease: bigint; modRevision: bigint }>();
      const leaseUse = new Map<bigint, number>();
      for (const kv of kvs) {
        raw.set(kv.key, { lease: kv.lease, modRevision: kv.modRevision });
        leaseUse.set(kv.lease, (leaseUse.get(kv.lease) ?? 0) + 1);
      }
      const entries: SnapshotEntry[] = [];
      const held: Lease[] = [];
      for (const kv of kvs) {
        // What the key covers, however it is spelled (host bits masked).
        const subnets = coveredSubnets(this.keys, kv.key);
        if (subnets === null) continue; // not a lease key: holds nothing
        entries.push({ kv, otherSpelling: OTHER_SPELLING.test(kv.value.toString("latin1")) });
        held.push({
          ...subnets,
          attrs: UNKNOWN_ATTRS,
          expiration: this.#expirationOf(kv.lease),
          revision: kv.modRevision,
        });
      }
      for (const w of this.#localWrites) {
        if (w.revision !== null && w.revision <= res.revision) this.#localWrites.delete(w);
      }
      return {
        revision: res.revision,
        configText: configKv ? configKv.value.toString() : null,
        entries,
        held,
        raw,
        leaseUse,
      };
    })();
    this.#readInFlight = read;
    const clear = () => {
      if (this.#readInFlight === read) this.#readInFlight = null;
    };
    read.then(clear, clear);
    return read;
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
      this.#begin(options.signal);
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
    const options = {
      ...callerOptions,
      signal: AbortSignal.any(
        callerOptions.signal
          ? [callerOptions.signal, this.#closing.signal]
          : [this.#closing.signal],
      ),
    };
    let grant: SharedGrant | null = null;
    let used = false;
    const getGrant = (): Promise<Granted> => {
      if (grant === null) {
        const joined = this.#joinGrant();
        grant = joined;
        // A failed grant is asked again by the next attempt.
        joined.promise.catch(() => {
          if (grant === joined) {
            grant = null;
            this.#leaveGrant(joined, false);
          }
        });
      }
      return grant.promise;
    };
    let snapshotRead: Snapshot | null = null;
    try {
      return await runLeaseAcquisition(
        {
          snapshot: async (signal) => {
            // The etcd lease is granted while the read runs: it is needed unless the node
            // reuses a reservation.
            void getGrant().catch(() => undefined);
            const snapshot = await this.#snapshot(signal);
            await this.#planTurn();
            snapshotRead = snapshot;
            return this.#acquisitionView(snapshot, attrs);
          },
          commit: async (plan, signal) => {
            const result = await this.#commit(plan, snapshotRead!, getGrant, signal);
            if (result !== null && result.expiration !== null) used = true;
            return result;
          },
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
    } catch (e) {
      if (this.#closing.signal.aborted && !callerOptions.signal?.aborted) {
        throw new FlannelError("STORE_CLOSED", "the etcd store was closed while acquiring", {
          cause: e,
        });
      }
      throw e;
    } finally {
      const held: SharedGrant | null = grant;
      grant = null;
      if (held !== null) this.#leaveGrant(held, used);
    }
  }

  /**
   * The etcd lease an acquisition writes its key with. Acquisitions that start while a grant is
   * on its way share it (one Grant for a burst, as etcd's own group commit shares an fsync):
   * their keys then end together, 24 h after the grant, exactly as if granted one by one.
   */
  #joinGrant(): SharedGrant {
    let shared = this.#openGrant;
    if (shared === null) {
      const created: SharedGrant = {
        promise: (async () => {
          const { id, ttl } = await this.connection.grant(this.#ttl);
          const expiresAt = this.#clock.now() + ttl * 1000;
          this.#expirations.set(id, expiresAt);
          return { id, expiresAt };
        })(),
        open: true,
        holders: 0,
        used: 0,
      };
      this.#grants.add(created);
      const close = () => {
        created.open = false;
        if (this.#openGrant === created) this.#openGrant = null;
        this.#maybeRevokeGrant(created);
      };
      created.promise.then(close, close);
      this.#openGrant = created;
      shared = created;
    }
    shared.holders++;
    return shared;
  }

  #leaveGrant(shared: SharedGrant, used: boolean): void {
    shared.holders--;
    if (used) shared.used++;
    this.#maybeRevokeGrant(shared);
  }

  #maybeRevokeGrant(shared: SharedGrant): void {
    if (shared.open || shared.holders > 0) return;
    // Settled and left by every acquisition: attached to keys, or revoked now (once).
    this.#grants.delete(shared);
    if (shared.used !== 0) return;
    shared.used = -1;
    const revocation = shared.promise
      .then(({ id }) => {
        this.#expirations.delete(id);
        return this.connection.revoke(id);
      })
      .catch(() => undefined);
    this.#revocations.add(revocation);
    void revocation.then(() => this.#revocations.delete(revocation));
  }

  /** The decoded lease of a snapshot entry, or `null` when its value cannot be read. */
  #entryLease(entry: SnapshotEntry): Lease | null {
    if (entry.decoded === undefined) {
      const item = this.#decodeOne(entry.kv);
      entry.decoded = "error" in item ? null : item;
    }
    return entry.decoded;
  }

  /**
   * The snapshot's leases as the acquisition for `attrs` needs them: every subnet held, and the
   * values that may be this node's decoded (all of them for a node without an IPv4 identity).
   */
  #leasesFor(snapshot: Snapshot, attrs: LeaseAttrs): Lease[] {
    const needle = attrs.publicIP === "0.0.0.0" ? null : attrs.publicIP;
    const leases = snapshot.held.slice();
    snapshot.entries.forEach((entry, i) => {
      if (needle !== null && !entry.otherSpelling && !entry.kv.value.includes(needle)) return;
      leases[i] = this.#entryLease(entry) ?? leases[i]!;
    });
    return leases;
  }

  /** Every lease of the snapshot decoded; an unreadable value still holds its subnet. */
  #allLeases(snapshot: Snapshot): readonly Lease[] {
    snapshot.all ??= snapshot.entries.map((e, i) => this.#entryLease(e) ?? snapshot.held[i]!);
    return snapshot.all;
  }

  #acquisitionView(snapshot: Snapshot, attrs: LeaseAttrs): LeaseAcquisitionSnapshot {
    if (snapshot.configText === null) throw this.#configNotFound();
    if (snapshot.config === undefined) {
      try {
        snapshot.config = { value: parseNetworkConfig(snapshot.configText) };
      } catch (error) {
        snapshot.config = { error };
      }
    }
    if ("error" in snapshot.config) throw snapshot.config.error;
    const config = snapshot.config.value;
    const localWrites = this.#localWrites;
    const leasesFor = () => this.#leasesFor(snapshot, attrs);
    return {
      config,
      // Read when the plan is made, in the same synchronous step as the commit registers its
      // subnet: so concurrent acquisitions in one store never pick the same subnet.
      get leases(): readonly Lease[] {
        const extra: Lease[] = [];
        for (const w of localWrites) {
          // Creates of this store the snapshot does not show yet count as held. (One the
          // snapshot already shows may appear twice: that changes no decision.)
          if (w.revision === null || w.revision > snapshot.revision) extra.push(w.lease);
        }
        const leases = leasesFor();
        return extra.length === 0 ? leases : leases.concat(extra);
      },
    };
  }

  /**
   * Lets acquisitions waiting on one snapshot plan a few at a time, one batch per event-loop
   * turn, so the txns of the first ones go out while the rest still plan.
   */
  #planTurn(): Promise<void> {
    return new Promise((resolve) => {
      this.#turns.push(resolve);
      if (this.#turns.length === 1) setImmediate(() => this.#runTurns());
    });
  }

  #runTurns(): void {
    const batch = this.#turns.splice(0, PLANS_PER_TURN);
    for (const resolve of batch) resolve();
    if (this.#turns.length > 0) setImmediate(() => this.#runTurns());
  }

  async #commit(
    plan: LeaseAcquisitionPlan,
    snapshot: Snapshot,
    getGrant: () => Promise<Granted>,
    signal: AbortSignal | undefined,
  ): Promise<Lease | null> {
    const compares: TxnCompare[] = [];
    const ops: TxnRequestOp[] = [];
    for (const old of plan.delete) {
      const key = keyOfLease(this.keys, old);
      compares.push(compare.modRevision(key, old.revision ?? 0n));
      ops.push(op.delete(key));
    }
    const write = plan.write;
    const key = leaseKey(this.keys, write.subnet, write.ipv6Subnet);
    const value = encodeAttrs(write.attrs, "current");
    // Count the subnet as held before the first await: acquisitions of this store planning on
    // the same snapshot must not pick it too.
    const local: LocalWrite = {
      lease: {
        subnet: write.subnet,
        ipv6Subnet: write.ipv6Subnet,
        attrs: write.attrs,
        expiration: null,
      },
      revision: null,
    };
    if (write.mode === "create") this.#localWrites.add(local);
    let leaseId = 0n;
    let expiresAt: number | null = null;
    if (write.ttlSeconds !== null) {
      try {
        const granted = await getGrant();
        leaseId = granted.id;
        expiresAt = granted.expiresAt;
      } catch (e) {
        this.#localWrites.delete(local);
        throw e;
      }
    }
    const lease: Lease = {
      subnet: write.subnet,
      ipv6Subnet: write.ipv6Subnet,
      attrs: write.attrs,
      expiration: expiresAt === null ? null : new Date(expiresAt),
    };
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
      result = await this.#batcher.txn(compares, ops, signal);
    } catch (e) {
      this.#localWrites.delete(local);
      throw e;
    }
    if (!result.succeeded) {
      this.#localWrites.delete(local);
      return null;
    }
    local.revision = result.revision;
    // The node's own leases the plan deleted: their etcd leases now carry nothing of theirs.
    for (const old of plan.delete) {
      await this.#forgetLease(snapshot.raw.get(keyOfLease(this.keys, old))?.lease ?? 0n);
    }
    if (
      previousLeaseId !== 0n &&
      previousLeaseId !== leaseId &&
      snapshot.leaseUse.get(previousLeaseId) === 1
    ) {
      // The key now hangs on the new etcd lease, and no other key used the old one: revoke it
      // rather than let it linger for a day.
      this.#expirations.delete(previousLeaseId);
      await this.connection.revoke(previousLeaseId).catch(() => undefined);
    }
    return { ...lease, revision: result.revision };
  }

  /**
   * Rewrites the lease with the given attrs on a fresh etcd lease (24 h) and revokes the etcd
   * lease it hung on; a reservation is rewritten without one and stays permanent. Conditional on
   * the key not changing between read and write.
   *
   * @throws FlannelError `LEASE_NOT_FOUND` (gone, or now held by another node), `LEASE_INVALID`,
   *   `MAX_RETRIES`, `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async renewLease(lease: Lease, options: CallOptions = {}): Promise<Lease> {
    this.#begin(options.signal);
    const signal = options.signal;
    const key = keyOfLease(this.keys, lease);
    const attrs = normalizeAttrs(lease.attrs);
    const value = encodeAttrs(attrs, "current");
    for (let attempt = 0; attempt < 5; attempt++) {
      const { kvs } = await this.connection.range(key, { signal });
      const kv = kvs[0];
      if (kv === undefined) {
        throw new FlannelError("LEASE_NOT_FOUND", `lease ${key} not found`, { details: { key } });
      }
      this.#checkOwner(key, kv, attrs);
      const reservation = kv.lease === 0n;
      let id = 0n;
      let expiresAt: number | null = null;
      if (!reservation) {
        // Not abortable: a Grant cut off on its way would leave a lease whose ID nobody knows.
        const granted = await this.connection.grant(this.#ttl);
        id = granted.id;
        expiresAt = this.#clock.now() + granted.ttl * 1000;
        if (signal?.aborted) {
          await this.connection.revoke(id).catch(() => undefined);
          throwIfAborted(signal);
        }
      }
      let res: TxnResult;
      try {
        res = await this.connection.txn(
          [compare.modRevision(key, kv.modRevision)],
          [op.put(key, value, id)],
          [],
          signal,
        );
      } catch (e) {
        await this.connection.revoke(id).catch(() => undefined);
        throw e;
      }
      if (!res.succeeded) {
        await this.connection.revoke(id).catch(() => undefined);
        continue;
      }
      if (!reservation) {
        this.#expirations.set(id, expiresAt!);
        await this.#forgetLease(kv.lease);
      }
      return {
        subnet: lease.subnet,
        ipv6Subnet: lease.ipv6Subnet,
        attrs,
        expiration: expiresAt === null ? null : new Date(expiresAt),
        revision: res.revision,
        ...(lease.key === undefined ? {} : { key: lease.key }),
      };
    }
    throw new FlannelError("MAX_RETRIES", `lease ${key} kept changing while renewing it`, {
      retryable: true,
      details: { key },
    });
  }

  #checkOwner(key: string, kv: KeyValue, attrs: LeaseAttrs): void {
    let stored: LeaseAttrs;
    try {
      stored = decodeLease(this.keys, key, kv.value.toString(), null, kv.modRevision).attrs;
    } catch (e) {
      throw new FlannelError("LEASE_NOT_FOUND", `lease ${key} holds an unreadable value`, {
        cause: e,
        details: { key },
      });
    }
    if (!sameNode(attrs, stored)) {
      throw new FlannelError("LEASE_NOT_FOUND", `lease ${key} is now held by ${stored.publicIP}`, {
        details: { key, holder: stored.publicIP },
      });
    }
  }

  /**
   * Deletes a lease and revokes its etcd lease. Given a `Lease`, only while it still belongs to
   * that lease's node; given a string — a subnet key (`10.5.1.0-24`), a full key, or a CIDR of
   * either family — whatever holds it. Releasing an absent lease is not an error.
   *
   * @throws FlannelError `SUBNET_KEY_INVALID` / `INVALID_CIDR` for an unreadable string,
   *   `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async releaseLease(lease: Lease | string, options: CallOptions = {}): Promise<void> {
    this.#begin(options.signal);
    const signal = options.signal;
    if (typeof lease !== "string") {
      const key = keyOfLease(this.keys, lease);
      for (let attempt = 0; attempt < 5; attempt++) {
        const { kvs } = await this.connection.range(key, { signal });
        const kv = kvs[0];
        if (kv === undefined) return;
        try {
          this.#checkOwner(key, kv, normalizeAttrs(lease.attrs));
        } catch {
          return;
        }
        const res = await this.connection.txn(
          [compare.modRevision(key, kv.modRevision)],
          [op.delete(key)],
          [],
          signal,
        );
        if (res.succeeded) {
          await this.#forgetLease(kv.lease);
          return;
        }
      }
      return;
    }
    let keys: string[];
    if (isCidrText(lease)) {
      const net = canonicalCidr(lease, { mask: true });
      const { kvs } = await this.connection.range(this.keys.subnets, { prefix: true, signal });
      keys = [];
      for (const kv of kvs) {
        // Every entry whose key covers it, in whatever spelling (host bits masked).
        const s = coveredSubnets(this.keys, kv.key);
        if (s !== null && (s.subnet === net || s.ipv6Subnet === net)) keys.push(kv.key);
      }
    } else {
      const key = lease.startsWith("/") ? lease : this.keys.subnets + lease;
      subnetsOfKey(this.keys, key);
      keys = [key];
    }
    for (const key of keys) {
      const deleted = await this.connection.txn([], [op.delete(key, true)], [], signal);
      for (const prev of deleted.responses[0]?.response_delete_range?.prev_kvs ?? []) {
        await this.#forgetLease(prev.lease);
      }
    }
  }

  /**
   * Revokes an etcd lease no key hangs on any more. One may still carry other keys (written by
   * a burst of acquisitions that shared a Grant): then it is left alone. Best effort.
   */
  async #forgetLease(id: bigint, signal?: AbortSignal): Promise<void> {
    if (id === 0n) return;
    try {
      const keys = await this.connection.leaseKeys(id, signal);
      if (keys === null || keys.length > 0) return;
      this.#expirations.delete(id);
      await this.connection.revoke(id);
    } catch {
      // it expires by itself
    }
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
    this.#begin(options.signal);
    const signal = options.signal;
    for (let attempt = 0; attempt < this.#attempts; attempt++) {
      const snapshot = await this.#snapshot(signal);
      if (snapshot.configText === null) throw this.#configNotFound();
      const plan = planReservation({
        config: parseNetworkConfig(snapshot.configText),
        leases: this.#allLeases(snapshot),
        subnet,
        ipv6Subnet: options.ipv6Subnet ?? null,
        attrs,
      });
      const key = leaseKey(this.keys, plan.subnet, plan.ipv6Subnet);
      const compares: TxnCompare[] = [];
      const ops: TxnRequestOp[] = [];
      for (const old of plan.delete) {
        const oldKey = keyOfLease(this.keys, old);
        compares.push(compare.modRevision(oldKey, snapshot.raw.get(oldKey)?.modRevision ?? 0n));
        ops.push(op.delete(oldKey));
      }
      const existing = snapshot.raw.get(key);
      compares.push(compare.modRevision(key, existing?.modRevision ?? 0n));
      ops.push(op.put(key, encodeAttrs(plan.attrs, "current"), 0n));
      const res = await this.connection.txn(compares, ops, [], signal);
      if (!res.succeeded) continue;
      for (const old of plan.delete) {
        await this.#forgetLease(snapshot.raw.get(keyOfLease(this.keys, old))?.lease ?? 0n);
      }
      if (existing) await this.#forgetLease(existing.lease);
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

  /**
   * Lists every lease under `<prefix>/subnets/`, in key order. Expirations are exact: the etcd
   * leases this store has not timed yet are asked for their TTL (once each; flannel never
   * refreshes an etcd lease). Unreadable entries are reported in `skipped`.
   *
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async listLeases(options: CallOptions = {}): Promise<LeaseList> {
    this.#begin(options.signal);
    const signal = options.signal;
    const { kvs, revision } = await this.connection.rangePrefixPaged(this.keys.subnets, {
      signal,
    });
    const unknown = [
      ...new Set(kvs.map((kv) => kv.lease).filter((id) => id !== 0n && !this.#expirations.has(id))),
    ];
    let next = 0;
    const worker = async () => {
      while (next < unknown.length) {
        const id = unknown[next++]!;
        const asked = this.#clock.now();
        const ttl = await this.connection.timeToLive(id, signal);
        // A lease that just expired (TTL -1) ends now; the key goes with it.
        this.#expirations.set(id, asked + Math.max(0, ttl) * 1000);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(TTL_LOOKUP_CONCURRENCY, unknown.length) }, worker),
    );
    const live = new Set(kvs.map((kv) => kv.lease));
    if (this.#expirations.size > 4 * live.size + 64) {
      for (const id of this.#expirations.keys()) if (!live.has(id)) this.#expirations.delete(id);
    }
    const { leases, skipped } = this.#decodeAll(kvs);
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
    this.#begin(undefined);
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (options.signal?.aborted) return;
    options.signal?.addEventListener("abort", onAbort, { once: true });
    this.#watches.add(stop);
    const raw = new RawWatch<Lease | SkippedLeaseEntry>({
      connection: this.connection,
      key: this.keys.subnets,
      prefix: true,
      decode: (kv) => this.#decodeOne(kv),
      signal: stop.signal,
      clock: this.#clock,
      ...(this.#random ? { random: this.#random } : {}),
      ...(options.onStatus ? { onStatus: options.onStatus } : {}),
    });
    try {
      for await (const result of raw) yield this.#toWatchResult(result);
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      this.#watches.delete(stop);
      await raw.return();
    }
  }

  #toWatchResult(result: RawWatchResult<Lease | SkippedLeaseEntry>): LeaseWatchResult {
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
        const item = this.#decodeOne(ev.kv);
        if ("error" in item) skipped.push(item);
        else events.push({ type: "added", lease: item });
        continue;
      }
      // A non-canonical subnet key was never a lease: its end changes no lease.
      if (coveredSubnets(this.keys, key) !== null && !isCanonicalKey(this.keys, key)) continue;
      // The removed lease as it was (etcd's prev_kv), else just the subnets its key names.
      let lease: Lease | undefined;
      if (ev.prevKv) {
        try {
          lease = decodeLease(this.keys, key, ev.prevKv.value.toString(), null, ev.kv.modRevision);
        } catch {
          // fall through to the bare key
        }
      }
      if (lease === undefined) {
        try {
          const s = subnetsOfKey(this.keys, key);
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
   * Keeps a lease: renews it at expiration minus `renewMargin` (flanneld's
   * `--subnet-lease-renew-margin`), retries every `retryInterval` on error, watches its key, and
   * reports `renewed`, `renewFailed` and `lost` (also when etcd goes silent: the expiration is
   * kept by the local clock). {@link close} stops every keeper.
   */
  keepLease(lease: Lease, options: KeepLeaseOptions = {}): LeaseKeeper {
    this.#begin(options.signal);
    const keeper = new LeaseKeeper(
      lease,
      {
        renew: (l, signal) => this.renewLease(l, { signal }),
        watchOwn: (l, signal) => this.#watchOwn(l, signal),
      },
      { clock: this.#clock, ...options },
    );
    this.#keepers.add(keeper);
    void keeper.done.then(() => this.#keepers.delete(keeper));
    return keeper;
  }

  async *#watchOwn(lease: Lease, signal: AbortSignal): AsyncGenerator<OwnLeaseState> {
    const key = keyOfLease(this.keys, lease);
    const raw = new RawWatch({
      connection: this.connection,
      key,
      prefix: false,
      signal,
      clock: this.#clock,
    });
    const state = (kv: KeyValue | undefined): OwnLeaseState => {
      if (kv === undefined) return { type: "absent" };
      try {
        const seen = {
          ...decodeLease(
            this.keys,
            key,
            kv.value.toString(),
            this.#expirationOf(kv.lease),
            kv.modRevision,
          ),
          ...(lease.key === undefined ? {} : { key: lease.key }),
        };
        return sameNode(lease.attrs, seen.attrs)
          ? { type: "present", lease: seen }
          : { type: "taken", lease: seen };
      } catch {
        return { type: "absent" };
      }
    };
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

  /**
   * Ends every watch and keeper, cuts running acquisitions short (they reject with
   * `STORE_CLOSED`), revokes every etcd lease this store granted that no key hangs on (waiting for
   * Grants still on their way), and closes the connection; the process can exit. Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    for (const keeper of [...this.#keepers]) await keeper.close();
    for (const stop of this.#watches) stop.abort();
    this.#watches.clear();
    // No grant may outlive the store unattached: let the aborted acquisitions leave theirs, let
    // every Grant on its way answer (one cut off would leave a lease whose ID nobody knows),
    // then wait for the revocations of those no key hangs on.
    await Promise.allSettled([...this.#acquiring]);
    await Promise.allSettled([...this.#grants].map((g) => g.promise));
    await Promise.allSettled([...this.#revocations]);
    this.connection.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
