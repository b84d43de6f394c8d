/**
 * The etcd v3 wiring on npm `etcd3`: the raw KV / Lease / Watch RPCs with a deadline, an
 * `AbortSignal`, `bigint` revisions and lease IDs, and our error codes. No flannel logic here.
 */
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
} from "cockatiel";
import {
  castGrpcError,
  Etcd3,
  EtcdInvalidAuthTokenError,
  type ICompare,
  type IKeyValue,
  type IRangeRequest,
  type IRequestOp,
  type IResponseOp,
  type IWatchRequest,
  type IWatchResponse,
  isRecoverableError,
} from "etcd3";
import { toEtcdError } from "../errors.js";
import type { EtcdAuthOptions } from "../options.js";
import type { TlsMaterial } from "../tls.js";
import { ensureInt64Precision } from "./int64.js";
import { type DecodedRange, decodeRangeResponse } from "./range-decoder.js";

ensureInt64Precision();

/** A key-value pair as read from etcd, with 64-bit fields as `bigint`. */
export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  /** The etcd lease the key is attached to; `0n` for none. */
  readonly lease: bigint;
  readonly modRevision: bigint;
}

/** Options of {@link EtcdV3Connection}. */
export interface EtcdV3ConnectionOptions {
  readonly endpoints: readonly string[];
  readonly tls?: TlsMaterial;
  readonly auth?: EtcdAuthOptions;
  /** Deadline of each unary call. Default 10 s. */
  readonly requestTimeoutMs?: number;
  /**
   * gRPC keepalive ping interval: a silent server is noticed after this plus 5 s. etcd refuses
   * pings more often than every 5 s (`--grpc-keepalive-min-time`). Default 10 s.
   */
  readonly keepaliveMs?: number;
}

/** The parts of etcd3's (internal) connection pool and grpc-js clients `#rangeRaw` uses. */
interface RawServiceClient {
  makeUnaryRequest: (...args: unknown[]) => unknown;
  Range?: { path: string; requestSerialize: (value: unknown) => Buffer };
}
interface RawPool {
  withConnection<T>(
    service: string,
    fn: (conn: { client: RawServiceClient; metadata: unknown }) => Promise<T>,
  ): Promise<T>;
  authenticator?: { invalidateMetadata(): void };
}

/** A duplex watch stream (grpc-js). */
export interface WatchStream {
  write(request: IWatchRequest): boolean;
  on(event: "data", listener: (response: IWatchResponse) => void): this;
  on(event: "error", listener: (error: Error) => void): this;
  on(event: "end", listener: () => void): this;
  on(event: "close", listener: () => void): this;
  removeAllListeners(): this;
  cancel(): void;
  end(): void;
  pause(): void;
  resume(): void;
}

/** Builds a compare for a txn. */
export const compare = {
  /** `version(key) == n` (0 = absent). */
  version: (key: string, version: bigint): ICompare => ({
    key: Buffer.from(key),
    target: "Version",
    result: "Equal",
    version: version.toString(),
  }),
  /** `mod_revision(key) == rev` (0 = absent). */
  modRevision: (key: string, revision: bigint): ICompare => ({
    key: Buffer.from(key),
    target: "Mod",
    result: "Equal",
    mod_revision: revision.toString(),
  }),
};

/** Builds a request op for a txn. */
export const op = {
  put: (key: string, value: string | Buffer, lease: bigint = 0n): IRequestOp => ({
    request_put: { key: Buffer.from(key), value: Buffer.from(value), lease: lease.toString() },
  }),
  delete: (key: string): IRequestOp => ({ request_delete_range: { key: Buffer.from(key) } }),
  get: (key: string): IRequestOp => ({ request_range: { key: Buffer.from(key) } }),
  getPrefix: (prefix: string): IRequestOp => ({
    request_range: { key: Buffer.from(prefix), range_end: prefixEnd(prefix) },
  }),
};

/** The range end that covers every key starting with `prefix` (etcd's `GetPrefixRangeEnd`). */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Converts an etcd3 key-value (strings for int64) to {@link KeyValue}. */
export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString(),
    value: kv.value,
    lease: BigInt(kv.lease || "0"),
    modRevision: BigInt(kv.mod_revision || "0"),
  };
}

/** The result of a txn. */
export interface TxnResult {
  readonly succeeded: boolean;
  readonly revision: bigint;
  readonly responses: readonly IResponseOp[];
}

function abortError(signal: AbortSignal): FlannelError {
  return new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason });
}

/**
 * A connection to an etcd v3 cluster through npm `etcd3`, used by {@link EtcdLeaseStore}. Every
 * call has a deadline and takes an `AbortSignal`; failures become FlannelErrors
 * (`ETCD_UNAVAILABLE`, `ETCD_TLS`, `ETCD_AUTH_FAILED`, `ETCD_PERMISSION_DENIED`, `ETCD_ERROR`).
 * It never uses etcd3's lease keepalives or watch manager, which `Etcd3.close()` does not stop.
 *
 * @example
 * ```ts
 * const store = new EtcdLeaseStore({ endpoints: ["http://127.0.0.1:2379"] });
 * const { revision } = await store.listLeases();
 * await store.connection.compact(revision); // what an operator's compaction does
 * ```
 */
export class EtcdV3Connection {
  /** The `etcd3` client underneath. */
  readonly client: Etcd3;
  readonly #timeoutMs: number;
  readonly #streams = new Set<WatchStream>();
  #closed = false;

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
    const keepalive = options.keepaliveMs ?? 10_000;
    const tls = options.tls;
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      ...(secure && tls
        ? {
            credentials: {
              rootCertificate: tls.ca as Buffer,
              ...(tls.cert ? { certChain: tls.cert } : {}),
              ...(tls.key ? { privateKey: tls.key } : {}),
            },
          }
        : {}),
      ...(options.auth
        ? { auth: { username: options.auth.username, password: options.auth.password } }
        : {}),
      grpcOptions: {
        "grpc.keepalive_time_ms": keepalive,
        "grpc.keepalive_timeout_ms": 5000,
        "grpc.keepalive_permit_without_calls": 0,
        "grpc.max_receive_message_length": 256 * 1024 * 1024,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 2000,
      },
      dialTimeout: this.#timeoutMs,
      faultHandling: {
        // One quick retry on another member; our callers own the longer retry loops.
        global: retry(handleWhen(isRecoverableError), {
          maxAttempts: options.endpoints.length > 1 ? 2 : 1,
          backoff: new ExponentialBackoff({ initialDelay: 20, maxDelay: 200 }),
        }) as unknown as IPolicy,
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: 1000,
            breaker: new ConsecutiveBreaker(5),
          }) as unknown as IPolicy,
      },
    });
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  async #call<T>(
    operation: string,
    signal: AbortSignal | undefined,
    fn: (options: { deadline: number }) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
    throwIfAborted(signal);
    const call = fn({ deadline: Date.now() + this.#timeoutMs });
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
      if (this.#closed)
        throw new FlannelError("STORE_CLOSED", "the etcd store is closed", { cause: e });
      throw toEtcdError(e, operation);
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
    const res = await this.#call("range", options.signal, (callOptions) =>
      this.client.kv.range(
        {
          key: Buffer.from(key),
          ...(options.prefix ? { range_end: prefixEnd(key) } : {}),
          ...(options.keysOnly ? { keys_only: true } : {}),
        },
        callOptions,
      ),
    );
    return { kvs: res.kvs.map(toKeyValue), revision: BigInt(res.header.revision) };
  }

  /**
   * Reads every key under a prefix in pages of `pageSize`, all at the revision of the first
   * page, so a big listing never has to sit in memory twice at once (the wire message, its
   * decoded form and ours). Key order.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async rangePrefixPaged(
    prefix: string,
    options: { pageSize?: number; signal?: AbortSignal } = {},
  ): Promise<{ kvs: KeyValue[]; revision: bigint }> {
    const pageSize = options.pageSize ?? 5000;
    const end = prefixEnd(prefix);
    const page = (from: Buffer, revision: bigint | null) =>
      this.#call("range", options.signal, (callOptions) =>
        this.#rangeRaw(
          {
            key: from,
            range_end: end,
            limit: pageSize,
            ...(revision === null ? {} : { revision: revision.toString() }),
          },
          callOptions,
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
      // Ask for the next page before taking this one in.
      if (more) pending = page(Buffer.concat([Buffer.from(last.key), Buffer.from([0])]), revision);
      for (const kv of res.kvs) kvs.push(kv);
      if (!more) return { kvs, revision };
    }
  }

  /**
   * `KV.Range` through etcd3's connection pool (same hosts, auth token and fault policy) but
   * decoded by {@link decodeRangeResponse}. Falls back to the generic path if etcd3's internals
   * are not what this version expects.
   */
  async #rangeRaw(
    request: IRangeRequest,
    callOptions: { deadline: number },
  ): Promise<DecodedRange> {
    const pool = (this.client as unknown as { pool?: RawPool }).pool;
    if (pool === undefined || typeof pool.withConnection !== "function")
      return this.#rangeGeneric(request, callOptions);
    const attempt = () =>
      pool.withConnection("KV", ({ client, metadata }) => {
        const method = (client as RawServiceClient).Range;
        if (typeof client.makeUnaryRequest !== "function" || method?.path === undefined) {
          return this.#rangeGeneric(request, callOptions);
        }
        return new Promise<DecodedRange>((resolve, reject) => {
          client.makeUnaryRequest(
            method.path,
            method.requestSerialize,
            decodeRangeResponse,
            request,
            metadata,
            callOptions,
            (err: Error | null, res?: DecodedRange) =>
              err ? reject(castGrpcError(err)) : resolve(res!),
          );
        });
      });
    try {
      return await attempt();
    } catch (e) {
      // etcd3's own calls renew an expired auth token once; so do we.
      if (e instanceof EtcdInvalidAuthTokenError && pool.authenticator) {
        pool.authenticator.invalidateMetadata();
        return attempt();
      }
      throw e;
    }
  }

  async #rangeGeneric(
    request: IRangeRequest,
    callOptions: { deadline: number },
  ): Promise<DecodedRange> {
    const res = await this.client.kv.range(request, callOptions);
    return { kvs: res.kvs.map(toKeyValue), revision: BigInt(res.header.revision), more: res.more };
  }

  /**
   * One transaction: `compare` all true → `success` ops, else `failure` ops.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async txn(
    compares: readonly ICompare[],
    success: readonly IRequestOp[],
    failure: readonly IRequestOp[] = [],
    signal?: AbortSignal,
  ): Promise<TxnResult> {
    const res = await this.#call("txn", signal, (callOptions) =>
      this.client.kv.txn(
        { compare: [...compares], success: [...success], failure: [...failure] },
        callOptions,
      ),
    );
    return {
      succeeded: res.succeeded,
      revision: BigInt(res.header.revision),
      responses: res.responses,
    };
  }

  /**
   * Writes one key unconditionally.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async put(key: string, value: string, signal?: AbortSignal): Promise<bigint> {
    const res = await this.#call("put", signal, (callOptions) =>
      this.client.kv.put({ key: Buffer.from(key), value: Buffer.from(value) }, callOptions),
    );
    return BigInt(res.header.revision);
  }

  /**
   * Grants an etcd lease of `ttlSeconds`.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async grant(ttlSeconds: number, signal?: AbortSignal): Promise<{ id: bigint; ttl: number }> {
    const res = await this.#call("lease grant", signal, (callOptions) =>
      this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, callOptions),
    );
    if (res.error) throw new FlannelError("ETCD_ERROR", `etcd lease grant: ${res.error}`);
    return { id: BigInt(res.ID), ttl: Number(res.TTL) };
  }

  /**
   * Revokes an etcd lease (deleting the keys attached to it). A lease that is already gone is
   * not an error.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async revoke(id: bigint, signal?: AbortSignal): Promise<void> {
    if (id === 0n) return;
    try {
      await this.#call("lease revoke", signal, (callOptions) =>
        this.client.leaseClient.leaseRevoke({ ID: id.toString() }, callOptions),
      );
    } catch (e) {
      if (e instanceof FlannelError && /lease not found/.test(e.message)) return;
      throw e;
    }
  }

  /**
   * Seconds left on an etcd lease; -1 when it does not exist (etcd's answer for lease 0 too).
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async timeToLive(id: bigint, signal?: AbortSignal): Promise<number> {
    if (id === 0n) return -1;
    const res = await this.#call("lease time-to-live", signal, (callOptions) =>
      this.client.leaseClient.leaseTimeToLive({ ID: id.toString() }, callOptions),
    );
    return Number(res.TTL);
  }

  /**
   * The keys attached to an etcd lease, or `null` when the lease does not exist.
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async leaseKeys(id: bigint, signal?: AbortSignal): Promise<string[] | null> {
    if (id === 0n) return null;
    const res = await this.#call("lease time-to-live", signal, (callOptions) =>
      this.client.leaseClient.leaseTimeToLive({ ID: id.toString(), keys: true }, callOptions),
    );
    if (Number(res.TTL) < 0) return null;
    return (res.keys ?? []).map((k) => k.toString());
  }

  /**
   * Compacts the history up to `revision` (for tests and operators).
   * @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  async compact(revision: bigint, signal?: AbortSignal): Promise<void> {
    await this.#call("compact", signal, (callOptions) =>
      this.client.kv.compact({ revision: revision.toString(), physical: true }, callOptions),
    );
  }

  /**
   * Opens a raw watch stream; {@link close} cancels it.
   * @throws FlannelError `ETCD_*`, `STORE_CLOSED`
   */
  async openWatchStream(): Promise<WatchStream> {
    if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
    let stream: WatchStream;
    try {
      stream = (await this.client.watchClient.watch()) as unknown as WatchStream;
    } catch (e) {
      throw toEtcdError(e, "watch");
    }
    if (this.#closed) {
      stream.cancel();
      throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
    }
    this.#streams.add(stream);
    stream.on("close", () => this.#streams.delete(stream));
    return stream;
  }

  /** Forgets a stream the caller cancelled. */
  releaseStream(stream: WatchStream): void {
    this.#streams.delete(stream);
  }

  /** Cancels every watch stream and closes the channels. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const stream of this.#streams) {
      try {
        stream.cancel();
      } catch {
        // already ended
      }
    }
    this.#streams.clear();
    this.client.close();
  }
}
