/**
 * The etcd v3 calls the store makes — KV, Lease and Watch — with a deadline, an `AbortSignal`,
 * `bigint` revisions and lease IDs, and our error codes, over either transport: etcd's JSON
 * gateway on HTTP/1.1 (the default: no gRPC modules in the process) or gRPC through npm `etcd3`
 * (loaded on first use). No flannel logic here.
 */
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import { etcdReason, grpcMissing, toEtcdError } from "../errors.js";
import type { EtcdAuthOptions } from "../options.js";
import type { TlsMaterial } from "../tls.js";
import { createGatewayTransport } from "./gateway.js";
import type { EtcdV3TransportKind, V3Transport, WatchHandle, WatchListener } from "./transport.js";
import {
  type KeyValue,
  prefixEnd,
  type TxnCompare,
  type TxnRequestOp,
  type TxnResult,
  type WatchCreate,
} from "./wire.js";

/** Options of {@link EtcdV3Connection}. */
export interface EtcdV3ConnectionOptions {
  readonly endpoints: readonly string[];
  readonly tls?: TlsMaterial;
  readonly auth?: EtcdAuthOptions;
  /**
   * `"http"`: etcd's JSON gateway (`/v3/…` on the client port, etcd ≥ 3.4) over Node's
   * `http`/`https`. `"grpc"`: gRPC through npm `etcd3`, loaded on first use. Default `"http"`,
   * except with both a client certificate and `auth`: etcd refuses gateway requests from a
   * certificate that carries a CommonName while auth is on, so that combination defaults to
   * `"grpc"`. `"grpc"` needs the optional peer dependency `etcd3` (`npm install etcd3`); without
   * it the first call fails with `ETCD_GRPC_NOT_INSTALLED`.
   */
  readonly transport?: EtcdV3TransportKind;
  /** Deadline of each unary call. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /**
   * How soon a silent server is noticed by a watch: gRPC pings this often (etcd refuses pings
   * more often than every 5 s, `--grpc-keepalive-min-time`); over HTTP a watch that heard
   * nothing for this long sends a small probe. Plus 5 s for the answer. Default 10 s.
   */
  readonly keepaliveMs?: number;
  /** Most HTTP sockets per endpoint (`transport: "http"`). Default 64. */
  readonly maxSockets?: number;
}

/** An open watch as {@link EtcdV3Connection.openWatch} hands it out. */
export type EtcdWatchHandle = WatchHandle;

function abortError(signal: AbortSignal): FlannelError {
  return new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason });
}

function closedError(cause?: unknown): FlannelError {
  return new FlannelError("STORE_CLOSED", "the etcd store is closed", {
    ...(cause === undefined ? {} : { cause }),
  });
}

/**
 * A connection to an etcd v3 cluster, used by {@link EtcdLeaseStore}. Every call has a deadline
 * and takes an `AbortSignal`; failures become FlannelErrors (`ETCD_UNAVAILABLE`, `ETCD_TLS`,
 * `ETCD_AUTH_FAILED`, `ETCD_PERMISSION_DENIED`, `ETCD_ERROR`). {@link close} ends every watch.
 *
 * @example
 * ```ts
 * const store = new EtcdLeaseStore({ endpoints: ["http://127.0.0.1:2379"] });
 * const { revision } = await store.listLeases();
 * await store.connection.compact(revision); // what an operator's compaction does
 * ```
 */
export class EtcdV3Connection {
  /** The wire in use: `"http"` (etcd's JSON gateway) or `"grpc"`. */
  readonly transport: EtcdV3TransportKind;
  readonly #timeoutMs: number;
  readonly #endpoints: readonly string[];
  readonly #wire: V3Transport | Promise<V3Transport>;
  readonly #watches = new Set<() => void>();
  #closed = false;

  /**
   * @throws FlannelError `INVALID_ARGUMENT` (no endpoints, mixed schemes, not a URL); the first
   * call of a `"grpc"` connection without npm `etcd3` installed fails with `ETCD_GRPC_NOT_INSTALLED`
   */
  constructor(options: EtcdV3ConnectionOptions) {
    if (options.endpoints.length === 0) {
      throw new FlannelError("INVALID_ARGUMENT", "no etcd endpoints given", { field: "endpoints" });
    }
    const secure = options.endpoints.some((e) => e.startsWith("https://"));
    if (secure && options.endpoints.some((e) => !e.startsWith("https://"))) {
      throw new FlannelError(
        "INVALID_ARGUMENT",
        "etcd endpoints mix https:// and plain ones; use one scheme",
        { field: "endpoints" },
      );
    }
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#endpoints = options.endpoints;
    this.transport =
      options.transport ?? (options.auth !== undefined && options.tls?.cert ? "grpc" : "http");
    const settings = {
      endpoints: options.endpoints,
      tls: options.tls,
      auth: options.auth,
      timeoutMs: this.#timeoutMs,
      keepaliveMs: options.keepaliveMs ?? 10_000,
      maxSockets: options.maxSockets,
    };
    if (this.transport === "http") {
      this.#wire = createGatewayTransport(settings);
    } else {
      const loading = import("./grpc.js").then(
        (m) => {
          const wire = m.createGrpcTransport(settings);
          if (this.#closed) wire.close();
          return wire;
        },
        (e: unknown) => {
          throw grpcMissing(e);
        },
      );
      loading.catch(() => undefined);
      this.#wire = loading;
    }
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  async #call<T>(
    operation: string,
    signal: AbortSignal | undefined,
    fn: (
      wire: V3Transport,
      ctx: { deadline: number; signal: AbortSignal | undefined },
    ) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw closedError();
    throwIfAborted(signal);
    const started = Date.now();
    const call = Promise.resolve(this.#wire).then((wire) =>
      fn(wire, { deadline: Date.now() + this.#timeoutMs, signal }),
    );
    let onAbort: (() => void) | undefined;
    try {
      if (signal === undefined) return await call;
      return await new Promise<T>((resolve, reject) => {
        onAbort = () => reject(abortError(signal));
        signal.addEventListener("abort", onAbort, { once: true });
        call.then(resolve, reject);
      });
    } catch (e) {
      if (e instanceof FlannelError) throw e;
      if (this.#closed) throw closedError(e);
      throw toEtcdError(e, operation, {
        endpoints: this.#endpoints,
        waitedMs: Date.now() - started,
      });
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      // The RPC may still settle after an abort: keep its rejection from going unhandled.
      call.catch(() => undefined);
    }
  }

  /**
   * Reads one key, or every key under a prefix (`prefix: true`), in key order.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async range(
    key: string,
    options: { prefix?: boolean; signal?: AbortSignal; keysOnly?: boolean } = {},
  ): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    const page = await this.#call("range", options.signal, (wire, ctx) =>
      wire.range(
        {
          key,
          ...(options.prefix ? { range_end: prefixEnd(key) } : {}),
          ...(options.keysOnly ? { keys_only: true } : {}),
        },
        ctx,
      ),
    );
    return { kvs: page.kvs, revision: page.revision };
  }

  /**
   * Reads every key under a prefix in pages of `pageSize` (default 1,000), all at the revision
   * of the first page, the next page asked for before the current one is handed to `onPage`.
   * With `onPage` the key-values are not collected: the caller keeps what it needs of each page
   * (a watch snapshot keeps decoded leases), so the raw listing never sits in memory whole.
   * Key order.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async rangePrefixPaged(
    prefix: string,
    options: { pageSize?: number; signal?: AbortSignal; onPage?: (kvs: KeyValue[]) => void } = {},
  ): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    const pageSize = options.pageSize ?? 1000;
    const end = prefixEnd(prefix);
    const page = (from: Buffer, revision: bigint | null) =>
      this.#call("range", options.signal, (wire, ctx) =>
        wire.range(
          {
            key: from,
            range_end: end,
            limit: pageSize,
            ...(revision === null ? {} : { revision }),
          },
          ctx,
        ),
      );
    const kvs: KeyValue[] = [];
    let pending = page(Buffer.from(prefix), null);
    let revision: bigint | null = null;
    for (;;) {
      const res = await pending;
      revision ??= res.revision;
      const last = res.kvs.at(-1);
      const more = res.more && last !== undefined;
      if (more) pending = page(Buffer.concat([Buffer.from(last.key), Buffer.from([0])]), revision);
      if (options.onPage) options.onPage(res.kvs);
      else for (const kv of res.kvs) kvs.push(kv);
      if (!more) return { kvs, revision };
    }
  }

  /**
   * One transaction: `compares` all true → `success` ops, else `failure` ops.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  txn(
    compares: readonly TxnCompare[],
    success: readonly TxnRequestOp[],
    failure: readonly TxnRequestOp[] = [],
    signal?: AbortSignal,
  ): Promise<TxnResult> {
    return this.#call("txn", signal, (wire, ctx) => wire.txn(compares, success, failure, ctx));
  }

  /**
   * Writes one key unconditionally; resolves to the revision of the write.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  put(key: string, value: string, signal?: AbortSignal): Promise<bigint> {
    return this.#call("put", signal, (wire, ctx) => wire.put(key, value, ctx));
  }

  /**
   * Grants an etcd lease of `ttlSeconds`.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  grant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: bigint; ttl: number }> {
    return this.#call("lease grant", signal, (wire, ctx) => wire.leaseGrant(ttlSeconds, ctx));
  }

  /**
   * Revokes an etcd lease (deleting the keys attached to it). A lease that is already gone is
   * not an error.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async revoke(id: bigint, signal?: AbortSignal): Promise<void> {
    if (id === 0n) return;
    try {
      await this.#call("lease revoke", signal, (wire, ctx) => wire.leaseRevoke(id, ctx));
    } catch (e) {
      if (etcdReason(e) === "lease-not-found") return;
      throw e;
    }
  }

  /**
   * Seconds left on an etcd lease; -1 when it does not exist (etcd's answer for lease 0 too).
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async timeToLive(id: bigint, signal?: AbortSignal): Promise<number> {
    if (id === 0n) return -1;
    const res = await this.#call("lease time-to-live", signal, (wire, ctx) =>
      wire.leaseTimeToLive(id, false, ctx),
    );
    return res.ttl;
  }

  /**
   * The keys attached to an etcd lease, or `null` when the lease does not exist.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async leaseKeys(id: bigint, signal?: AbortSignal): Promise<string[] | null> {
    if (id === 0n) return null;
    const res = await this.#call("lease time-to-live", signal, (wire, ctx) =>
      wire.leaseTimeToLive(id, true, ctx),
    );
    return res.ttl < 0 ? null : res.keys;
  }

  /**
   * Compacts the history up to `revision` (for tests and operators).
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async compact(revision: bigint, signal?: AbortSignal): Promise<void> {
    await this.#call("compact", signal, (wire, ctx) => wire.compact(revision, ctx));
  }

  /**
   * Opens a watch stream from `startRevision` of one key, or of every key under a prefix
   * (`prefix: true`), with previous values and progress notifications. The listener hears
   * responses until `error` or `end`; {@link close} ends the stream with `STORE_CLOSED`.
   * @internal The store's watches use it through `RawWatch`.
   * @throws FlannelError `ETCD_*`, `STORE_CLOSED`
   */
  async openWatch(
    key: string,
    options: { prefix: boolean; startRevision: bigint },
    listener: WatchListener,
  ): Promise<WatchHandle> {
    if (this.#closed) throw closedError();
    const create: WatchCreate = {
      key,
      ...(options.prefix ? { rangeEnd: prefixEnd(key) } : {}),
      startRevision: options.startRevision,
    };
    let active = true;
    let handle: WatchHandle | null = null;
    const stop = () => {
      active = false;
      this.#watches.delete(onClose);
      handle?.cancel();
    };
    const onClose = () => {
      if (!active) return;
      stop();
      listener.error(closedError());
    };
    try {
      const wire = await this.#wire;
      handle = await wire.watch(create, {
        response: (r) => {
          if (active) listener.response(r);
        },
        error: (e) => {
          if (!active) return;
          stop();
          listener.error(toEtcdError(e, "watch", { endpoints: this.#endpoints }));
        },
        end: () => {
          if (!active) return;
          stop();
          listener.end();
        },
      });
    } catch (e) {
      if (this.#closed) throw closedError(e);
      throw toEtcdError(e, "watch", { endpoints: this.#endpoints });
    }
    if (this.#closed) {
      handle.cancel();
      throw closedError();
    }
    if (active) this.#watches.add(onClose);
    const opened = handle;
    return {
      cancel: () => {
        if (active) stop();
        else opened.cancel();
      },
      pause: () => opened.pause(),
      resume: () => opened.resume(),
    };
  }

  /** Ends every watch stream and closes the connections. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const onClose of [...this.#watches]) onClose();
    if (this.#wire instanceof Promise)
      void this.#wire.then(
        (w) => w.close(),
        () => undefined,
      );
    else this.#wire.close();
  }
}
