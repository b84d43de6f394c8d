/**
 * The v3 store's shared read of config and leases: one txn reads both; acquisitions that ask
 * while a read runs wait for the next one and share it. Lease values are decoded only where a
 * decision needs them: allocation needs only the subnets (from the keys), and a node's own lease
 * can only be a value that contains its PublicIP.
 */
import {
  FlannelError,
  type Lease,
  type LeaseAcquisitionSnapshot,
  type LeaseAttrs,
  type NetworkConfig,
  parseNetworkConfig,
} from "@flannel-sdk/core";
import { coveredSubnets, UNKNOWN_ATTRS } from "../lease-codec.js";
import type { KeyLayout } from "../prefix.js";
import type { EtcdV3Connection } from "./connection.js";
import type { V3LeaseDecoder } from "./decode.js";
import { type KeyValue, op } from "./wire.js";

/** One read of config and leases, shared by the acquisitions waiting on it. @internal */
export interface Snapshot {
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

/** A create this store is committing, or committed after the newest snapshot it has read. @internal */
export interface LocalWrite {
  readonly lease: Lease;
  /** Revision of the commit; `null` while in flight. */
  revision: bigint | null;
}

/**
 * A value may name a node's PublicIP without its dotted quad: as an IPv4-mapped address
 * (`::ffff:a00:5` or `0:0:0:0:0:FFFF:a00:5`, which Go reads as 10.0.0.5). Every such spelling
 * holds `ffff`; those values are always decoded. (A JSON escape inside the address makes the
 * lease unreadable to flannel, so it cannot be the node's.)
 */
const OTHER_SPELLING = /ffff/i;

/** The shared snapshot reads of one store, and the creates they do not show yet. @internal */
export class SnapshotCache {
  readonly #connection: EtcdV3Connection;
  readonly #keys: KeyLayout;
  readonly #decoder: V3LeaseDecoder;
  readonly #configNotFound: () => FlannelError;
  /** Creates of this store a snapshot may not show yet: they count as held. */
  readonly localWrites = new Set<LocalWrite>();
  #readInFlight: Promise<Snapshot> | null = null;
  #queuedRead: Promise<Snapshot> | null = null;

  constructor(
    connection: EtcdV3Connection,
    keys: KeyLayout,
    decoder: V3LeaseDecoder,
    configNotFound: () => FlannelError,
  ) {
    this.#connection = connection;
    this.#keys = keys;
    this.#decoder = decoder;
    this.#configNotFound = configNotFound;
  }

  /** One shared read of config and leases that starts after the caller asked. */
  read(signal: AbortSignal | undefined): Promise<Snapshot> {
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
      const res = await this.#connection.txn(
        [],
        [op.get(this.#keys.config), op.getPrefix(this.#keys.subnets)],
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
        const subnets = coveredSubnets(this.#keys, kv.key);
        if (subnets === null) continue; // not a lease key: holds nothing
        entries.push({ kv, otherSpelling: OTHER_SPELLING.test(kv.value.toString("latin1")) });
        held.push({
          ...subnets,
          attrs: UNKNOWN_ATTRS,
          expiration: this.#decoder.expirationOf(kv.lease),
          revision: kv.modRevision,
        });
      }
      for (const w of this.localWrites) {
        if (w.revision !== null && w.revision <= res.revision) this.localWrites.delete(w);
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

  /** The decoded lease of a snapshot entry, or `null` when its value cannot be read. */
  #entryLease(entry: SnapshotEntry): Lease | null {
    if (entry.decoded === undefined) {
      const item = this.#decoder.decode(entry.kv);
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
  allLeases(snapshot: Snapshot): readonly Lease[] {
    snapshot.all ??= snapshot.entries.map((e, i) => this.#entryLease(e) ?? snapshot.held[i]!);
    return snapshot.all;
  }

  /**
   * What the acquisition loop plans on.
   * @throws FlannelError `CONFIG_NOT_FOUND`, `CONFIG_INVALID`
   */
  acquisitionView(snapshot: Snapshot, attrs: LeaseAttrs): LeaseAcquisitionSnapshot {
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
    const localWrites = this.localWrites;
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
}
