import "../disposable.js";
import type { NetworkConfig } from "../config/types.js";
import type { FlannelError } from "../errors.js";
import type { KeepLeaseOptions, LeaseKeeper } from "../lease/keeper.js";
import type { Lease, LeaseAttrs } from "../lease/types.js";

/** Options every store call accepts. */
export interface CallOptions {
  /** Aborts the call; it then rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
}

/** Options of {@link LeaseStore.acquireLease}. */
export interface AcquireLeaseOptions extends CallOptions {
  /** The IPv4 subnet this node held before (from subnet.env), reused when nobody holds it. */
  readonly previousSubnet?: string | null;
  /** The IPv6 subnet this node held before. */
  readonly previousIPv6Subnet?: string | null;
  /** Receives flanneld's log lines for each decision (`Found lease … reusing`, …). */
  readonly onNote?: (note: string) => void;
}

/**
 * An entry under `subnets/` that is not listed as a lease; reported, never fatal. Its subnet,
 * when its key names one, counts as taken for allocation (host bits masked).
 */
export interface SkippedLeaseEntry {
  /** The store key (full path). */
  readonly key: string;
  /**
   * Why: `SUBNET_KEY_INVALID` (not a subnet key, or one that is not canonical), `LEASE_INVALID`
   * (an unreadable value).
   */
  readonly error: FlannelError;
  /**
   * The lease as read, when the value is readable but the key is not canonical (`10.5.1.17-24`
   * with host bits, `10.5.1.0-024`, an IPv6 part not in Go's canonical text). It carries its
   * stored {@link Lease.key}: `renewLease` and `releaseLease` act on that exact key, so its owner
   * can still keep or free it.
   */
  readonly lease?: Lease;
}

/** The result of {@link LeaseStore.listLeases}. */
export interface LeaseList {
  /** Every live lease, in key order. */
  readonly leases: readonly Lease[];
  /** Store revision of the listing; a watch from `revision + 1` misses nothing. */
  readonly revision: bigint;
  /** Entries that could not be parsed. */
  readonly skipped: readonly SkippedLeaseEntry[];
}

/** One change to the lease set. A `removed` lease carries the last attrs known, if any. */
export type LeaseEvent =
  | { readonly type: "added"; readonly lease: Lease }
  | { readonly type: "removed"; readonly lease: Lease };

/**
 * What a lease watch yields: first a snapshot of every lease, then batches of events; a new
 * snapshot whenever the store lost history (compaction, index cleared) and had to re-list.
 */
export type LeaseWatchResult =
  | {
      readonly type: "snapshot";
      readonly leases: readonly Lease[];
      readonly revision: bigint;
      readonly skipped: readonly SkippedLeaseEntry[];
    }
  | {
      readonly type: "events";
      readonly events: readonly LeaseEvent[];
      readonly revision: bigint;
      readonly skipped: readonly SkippedLeaseEntry[];
    };

/** Options of {@link LeaseStore.watchLeases}. */
export interface WatchLeasesOptions extends CallOptions {}

/**
 * Where flannel keeps its network config and leases. Implemented by `MemoryLeaseStore` (core),
 * `EtcdLeaseStore` and `EtcdV2LeaseStore` (`@flannel-sdk/etcd`); all pass the same contract suite
 * (`@flannel-sdk/core/testing`).
 */
export interface LeaseStore extends AsyncDisposable {
  /** @throws FlannelError `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `ABORTED`, `STORE_CLOSED` */
  getNetworkConfig(options?: CallOptions): Promise<NetworkConfig>;
  /** Validates, then writes. @throws FlannelError `CONFIG_INVALID`, `ABORTED`, `STORE_CLOSED` */
  putNetworkConfig(config: string | object, options?: CallOptions): Promise<NetworkConfig>;
  /**
   * Acquires a lease for a node with flannel v0.28's algorithm: reuse the lease of the same
   * PublicIP when compatible; reuse `previousSubnet` when nobody holds it; else allocate. 24 h TTL.
   * @throws FlannelError `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `LEASE_INVALID` (unwritable attrs), `MAX_RETRIES`, `ABORTED`, `STORE_CLOSED`
   */
  acquireLease(attrs: LeaseAttrs, options?: AcquireLeaseOptions): Promise<Lease>;
  /** Rewrites the lease with a fresh TTL (a reservation stays permanent). @throws FlannelError `LEASE_NOT_FOUND`, `ABORTED`, `STORE_CLOSED` */
  renewLease(lease: Lease, options?: CallOptions): Promise<Lease>;
  /**
   * Deletes the lease (given as a `Lease`, or as a subnet key such as `10.5.1.0-24`); releasing
   * an absent lease is not an error. @throws FlannelError `ABORTED`, `STORE_CLOSED`
   */
  releaseLease(lease: Lease | string, options?: CallOptions): Promise<void>;
  /**
   * Writes a lease that never expires for the node with `attrs.publicIP` (flannel's reservation).
   * @throws FlannelError `LEASE_CONFLICT` (held by another node), `CONFIG_INVALID`, `CONFIG_NOT_FOUND`, `LEASE_INVALID`, `ABORTED`, `STORE_CLOSED`
   */
  reserveSubnet(
    subnet: string,
    attrs: LeaseAttrs,
    options?: CallOptions & { ipv6Subnet?: string | null },
  ): Promise<Lease>;
  /** @throws FlannelError `ABORTED`, `STORE_CLOSED` */
  listLeases(options?: CallOptions): Promise<LeaseList>;
  /** A snapshot first, then event batches, until the signal aborts or the store closes. */
  watchLeases(options?: WatchLeasesOptions): AsyncIterable<LeaseWatchResult>;
  /**
   * Keeps a lease the way flanneld does: renews it at expiration minus `renewMargin`, retries
   * every `retryInterval` after a failed renewal, watches its key, and reports `renewed`,
   * `renewFailed` and `lost` (also when the store goes silent: the expiration is kept by the
   * clock). {@link LeaseStore.close} stops every keeper of the store.
   * @throws FlannelError `INVALID_ARGUMENT` (bad margin or interval), `ABORTED`, `STORE_CLOSED`
   */
  keepLease(lease: Lease, options?: KeepLeaseOptions): LeaseKeeper;
  /** Ends every watch, keeper and timer; the process can exit. Idempotent. */
  close(): Promise<void>;
}
