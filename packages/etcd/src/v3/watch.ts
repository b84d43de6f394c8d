/**
 * A resumable etcd v3 watch of one key or prefix, as an async iterator of raw results. The state
 * machine (docs/etcd-watch.md):
 *
 *   LIST ──snapshot──▶ WATCH(from R+1) ──events──▶ WATCH(from header+1)
 *     ▲                  │ stream error / silent server (gRPC keepalive)
 *     │                  └──▶ wait backoff ──▶ WATCH(from last header+1)
 *     │                  │ canceled with compact_revision
 *     └── wait backoff ◀─┘
 *
 * Backoff is 100 ms doubling to 5 s with jitter, reset once a stream delivers events or progress
 * (or stayed up 5 s), so repeated compactions or failures never spin. Errors that retrying cannot
 * fix (permission denied, authentication, TLS) end the iteration by throwing.
 */
import {
  Backoff,
  type Clock,
  FlannelError,
  isFlannelError,
  sleep,
  systemClock,
} from "@flannel-sdk/core";
import { toEtcdError } from "../errors.js";
import type { EtcdV3Connection } from "./connection.js";
import type { WatchHandle } from "./transport.js";
import type { KeyValue, RawEvent, WatchResponse } from "./wire.js";

/** What {@link RawWatch} yields: snapshots of decoded items `T`, then raw change batches. */
export type RawWatchResult<T = KeyValue> =
  | {
      readonly type: "snapshot";
      /** Each listed key-value through the watch's `decode`, in key order. */
      readonly items: readonly T[];
      readonly revision: bigint;
      /** Why a (new) snapshot: the first listing, or history lost to compaction. */
      readonly reason: "initial" | "compacted";
    }
  | { readonly type: "events"; readonly events: readonly RawEvent[]; readonly revision: bigint };

/** A change of the watch's connection state, for logs and tests. */
export type WatchStatus =
  | { readonly type: "connected"; readonly fromRevision: bigint }
  | { readonly type: "disconnected"; readonly error: FlannelError; readonly retryInMs: number }
  | { readonly type: "compacted"; readonly compactRevision: bigint; readonly retryInMs: number }
  | { readonly type: "relistFailed"; readonly error: FlannelError; readonly retryInMs: number };

/** Options of {@link RawWatch}. */
export interface RawWatchOptions<T = KeyValue> {
  /**
   * Turns each listed key-value into what the snapshot keeps, page by page as the listing
   * arrives, so the raw pages never sit in memory whole. Default: the key-value itself.
   */
  readonly decode?: (kv: KeyValue) => T;
  readonly connection: EtcdV3Connection;
  /** The key, or the prefix with `prefix: true`. */
  readonly key: string;
  readonly prefix: boolean;
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
  readonly random?: () => number;
  /** Backoff bounds. Default 100 ms → 5 s. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly onStatus?: (status: WatchStatus) => void;
  /** Queue length at which the stream is paused until the consumer catches up. Default 64. */
  readonly highWaterMark?: number;
}

const PERMANENT = new Set([
  "ETCD_PERMISSION_DENIED",
  "ETCD_AUTH_FAILED",
  "STORE_CLOSED",
  "ABORTED",
]);

/**
 * Keys per range request of a (re-)listing. Smaller than the connection's default of 1,000: the
 * peak memory of a listing follows the page (the response body as bytes, as text and parsed, all
 * live at once, and the next page already in flight). At 10,000 leases, pages of 100 keep the
 * process about 9 MB lower at the snapshot than pages of 1,000, for about 100 ms more
 * (docs/benchmarks.md, "A watcher on 10,000 leases").
 */
const LIST_PAGE_SIZE = 100;

function isPermanent(e: FlannelError): boolean {
  return PERMANENT.has(e.code);
}

type StreamOutcome =
  | { kind: "compacted"; compactRevision: bigint }
  | { kind: "error"; error: FlannelError }
  | { kind: "stopped" };

/**
 * The watch loop behind `EtcdLeaseStore.watchLeases` and `keepLease`: first a snapshot, then
 * change batches, resuming from the last revision + 1 after a disconnect and re-listing after a
 * compaction. Iterate it once; `return()` (a `break`), the signal, or closing the connection
 * ends it.
 */
export class RawWatch<T = KeyValue> implements AsyncIterableIterator<RawWatchResult<T>> {
  readonly #o: RawWatchOptions<T>;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #queue: RawWatchResult<T>[] = [];
  readonly #waiting: {
    resolve: (r: IteratorResult<RawWatchResult<T>>) => void;
    reject: (e: unknown) => void;
  }[] = [];
  readonly #stop = new AbortController();
  #failure: unknown = null;
  #done = false;
  #started = false;
  #stream: WatchHandle | null = null;
  #paused = false;
  /** The revision the next watch starts from. */
  #next = 0n;

  constructor(options: RawWatchOptions<T>) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff({
      initialMs: options.backoffInitialMs ?? 100,
      maxMs: options.backoffMaxMs ?? 5000,
      ...(options.random ? { random: options.random } : {}),
    });
    const signal = options.signal;
    if (signal?.aborted) this.#finish();
    else signal?.addEventListener("abort", () => this.#finish(), { once: true });
  }

  /** The revision a reconnect would resume from. */
  get resumeRevision(): bigint {
    return this.#next;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<RawWatchResult<T>>> {
    if (!this.#started && !this.#done) {
      this.#started = true;
      void this.#run();
    }
    const value = this.#queue.shift();
    if (value !== undefined) {
      if (this.#paused && this.#queue.length <= 4) {
        this.#paused = false;
        this.#stream?.resume();
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.#failure !== null) {
      const failure = this.#failure;
      this.#failure = null;
      return Promise.reject(failure);
    }
    if (this.#done) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  return(): Promise<IteratorResult<RawWatchResult<T>>> {
    this.#finish();
    return Promise.resolve({ done: true, value: undefined });
  }

  #push(result: RawWatchResult<T>): void {
    if (this.#done) return;
    const reader = this.#waiting.shift();
    if (reader) {
      reader.resolve({ done: false, value: result });
      return;
    }
    this.#queue.push(result);
    if (!this.#paused && this.#queue.length >= (this.#o.highWaterMark ?? 64)) {
      this.#paused = true;
      this.#stream?.pause();
    }
  }

  #fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop.abort();
    const reader = this.#waiting.shift();
    if (reader) reader.reject(error);
    else this.#failure = error;
    for (const r of this.#waiting.splice(0)) r.resolve({ done: true, value: undefined });
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#stop.abort();
    this.#queue.length = 0;
    this.#closeStream();
    for (const r of this.#waiting.splice(0)) r.resolve({ done: true, value: undefined });
  }

  #closeStream(): void {
    const stream = this.#stream;
    this.#stream = null;
    stream?.cancel();
  }

  async #sleep(ms: number): Promise<boolean> {
    try {
      await sleep(ms, { signal: this.#stop.signal, clock: this.#clock });
      return true;
    } catch {
      return false;
    }
  }

  async #run(): Promise<void> {
    try {
      if (!(await this.#list("initial"))) return;
      while (!this.#done) {
        const outcome = await this.#watchOnce();
        if (this.#done || outcome.kind === "stopped") return;
        if (outcome.kind === "error") {
          if (isPermanent(outcome.error) || this.#o.connection.closed) {
            if (this.#o.connection.closed) this.#finish();
            else this.#fail(outcome.error);
            return;
          }
          const wait = this.#backoff.next();
          this.#o.onStatus?.({ type: "disconnected", error: outcome.error, retryInMs: wait });
          if (!(await this.#sleep(wait))) return;
          continue;
        }
        const wait = this.#backoff.next();
        this.#o.onStatus?.({
          type: "compacted",
          compactRevision: outcome.compactRevision,
          retryInMs: wait,
        });
        if (!(await this.#sleep(wait))) return;
        if (!(await this.#list("compacted"))) return;
      }
    } catch (e) {
      if (this.#o.connection.closed) this.#finish();
      else this.#fail(e);
    }
  }

  /** Lists (retrying with backoff while the failure is transient) and pushes a snapshot. */
  async #list(reason: "initial" | "compacted"): Promise<boolean> {
    for (;;) {
      if (this.#done) return false;
      try {
        const decode = this.#o.decode ?? ((kv: KeyValue) => kv as T);
        const items: T[] = [];
        const { revision } = this.#o.prefix
          ? await this.#o.connection.rangePrefixPaged(this.#o.key, {
              pageSize: LIST_PAGE_SIZE,
              signal: this.#stop.signal,
              onPage: (kvs) => {
                for (const kv of kvs) items.push(decode(kv));
              },
            })
          : await this.#o.connection.range(this.#o.key, { signal: this.#stop.signal }).then((r) => {
              for (const kv of r.kvs) items.push(decode(kv));
              return r;
            });
        this.#next = revision + 1n;
        this.#push({ type: "snapshot", items, revision, reason });
        return true;
      } catch (e) {
        if (this.#done) return false;
        const error = toEtcdError(e, "watch re-list");
        if (isPermanent(error) || this.#o.connection.closed) throw error;
        const wait = this.#backoff.next();
        this.#o.onStatus?.({ type: "relistFailed", error, retryInMs: wait });
        if (!(await this.#sleep(wait))) return false;
      }
    }
  }

  /** Runs one watch stream until it fails, is compacted, or the watch stops. */
  async #watchOnce(): Promise<StreamOutcome> {
    let settle: (o: StreamOutcome) => void = () => undefined;
    const outcome = new Promise<StreamOutcome>((resolve) => {
      settle = resolve;
    });
    let stream: WatchHandle;
    try {
      stream = await this.#o.connection.openWatch(
        this.#o.key,
        { prefix: this.#o.prefix, startRevision: this.#next },
        {
          response: (res) => {
            const o = this.#onResponse(res);
            if (o !== null) settle(o);
          },
          error: (e) => settle({ kind: "error", error: toEtcdError(e, "watch") }),
          end: () =>
            settle({
              kind: "error",
              error: new FlannelError("ETCD_UNAVAILABLE", "etcd watch: the stream ended", {
                retryable: true,
              }),
            }),
        },
      );
    } catch (e) {
      return { kind: "error", error: toEtcdError(e, "watch") };
    }
    if (this.#done) {
      stream.cancel();
      return { kind: "stopped" };
    }
    this.#stream = stream;
    if (this.#paused) stream.pause();
    const openedAt = this.#clock.now();
    const stopped = () => settle({ kind: "stopped" });
    this.#stop.signal.addEventListener("abort", stopped, { once: true });
    const result = await outcome;
    this.#stop.signal.removeEventListener("abort", stopped);
    this.#closeStream();
    if (
      result.kind !== "stopped" &&
      this.#clock.now() - openedAt >= (this.#o.backoffMaxMs ?? 5000)
    ) {
      this.#backoff.reset();
    }
    return result;
  }

  #onResponse(res: WatchResponse): StreamOutcome | null {
    if (res.canceled) {
      if (res.compactRevision > 0n)
        return { kind: "compacted", compactRevision: res.compactRevision };
      const reason = res.cancelReason || "the watch was canceled";
      return { kind: "error", error: toEtcdError(new Error(reason), "watch") };
    }
    if (res.created) {
      this.#o.onStatus?.({ type: "connected", fromRevision: this.#next });
      return null;
    }
    this.#backoff.reset();
    if (res.events.length > 0) {
      this.#push({ type: "events", events: res.events, revision: res.revision });
    }
    if (res.revision + 1n > this.#next) this.#next = res.revision + 1n;
    return null;
  }
}

/** True for the errors a watch gives up on. */
export function isPermanentWatchError(e: unknown): boolean {
  return isFlannelError(e) && isPermanent(e);
}
