/**
 * The gRPC transport, on npm `etcd3` (`@grpc/grpc-js` + protobufjs). Loaded only when a
 * connection asks for it (`transport: "grpc"`): the modules it pulls in cost a process about
 * 26 MB of RSS before the first request.
 */
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
} from "cockatiel";
import { castGrpcError, Etcd3, EtcdInvalidAuthTokenError, isRecoverableError } from "etcd3";
import { ensureInt64Precision } from "./int64.js";
import { decodeRangeResponse } from "./range-decoder.js";
import type {
  CallContext,
  V3Transport,
  V3TransportOptions,
  WatchHandle,
  WatchListener,
} from "./transport.js";
import { isStaleAuthToken } from "./transport.js";
import {
  bufferCodec,
  decodeRange,
  decodeTxn,
  decodeWatchResponse,
  encodeRange,
  encodeTxn,
  encodeWatchCreate,
  headerRevision,
  int64,
  type RangePage,
  type RangeRequestOp,
  type TxnCompare,
  type TxnRequestOp,
  type TxnResult,
  type WatchCreate,
} from "./wire.js";

/** Options of {@link createGrpcTransport}. */
export type GrpcTransportOptions = V3TransportOptions;

/** The parts of etcd3's (internal) connection pool and grpc-js clients the lean range uses. */
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

/** A duplex watch stream of grpc-js, as etcd3 hands it out. */
interface GrpcWatchStream {
  write(request: unknown): boolean;
  on(event: string, listener: (arg: never) => void): this;
  removeAllListeners(): this;
  cancel(): void;
  pause(): void;
  resume(): void;
}

/**
 * etcd v3 over gRPC. Never uses etcd3's lease keepalives or watch manager, which
 * `Etcd3.close()` does not stop.
 *
 * @example
 * ```ts
 * const transport = createGrpcTransport({ endpoints: ["http://127.0.0.1:2379"], timeoutMs: 10_000, keepaliveMs: 10_000 });
 * ```
 */
export function createGrpcTransport(options: GrpcTransportOptions): V3Transport {
  ensureInt64Precision();
  const secure = options.endpoints.some((e) => e.startsWith("https://"));
  const tls = options.tls;
  const client = new Etcd3({
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
      "grpc.keepalive_time_ms": options.keepaliveMs,
      "grpc.keepalive_timeout_ms": 5000,
      "grpc.keepalive_permit_without_calls": 0,
      "grpc.max_receive_message_length": 256 * 1024 * 1024,
      "grpc.initial_reconnect_backoff_ms": 100,
      "grpc.max_reconnect_backoff_ms": 2000,
    },
    dialTimeout: options.timeoutMs,
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
  const streams = new Set<GrpcWatchStream>();
  const opts = (ctx: CallContext) => ({ deadline: ctx.deadline });
  const pool = (client as unknown as { pool?: RawPool }).pool;

  /**
   * Runs a unary call, and once more after authenticating again when etcd calls the token stale
   * ({@link isStaleAuthToken}). etcd3 does this itself for `invalid auth token` on its own calls,
   * not for `revision of auth store is old`, nor for the lean range's raw call.
   */
  const withFreshToken = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (e) {
      const stale =
        e instanceof EtcdInvalidAuthTokenError || isStaleAuthToken((e as Error)?.message ?? "");
      if (!stale || options.auth === undefined || pool?.authenticator === undefined) throw e;
      pool.authenticator.invalidateMetadata();
      return call();
    }
  };

  /**
   * `KV.Range` through etcd3's connection pool (same hosts, auth token and fault policy) but
   * decoded by {@link decodeRangeResponse} instead of protobufjs + `toObject`, which turns every
   * int64 into a decimal string first. The generic path if etcd3's internals are not 1.1.x's.
   */
  const range = async (request: RangeRequestOp, ctx: CallContext): Promise<RangePage> => {
    const wire = encodeRange(request, bufferCodec);
    const generic = async () =>
      decodeRange(await client.kv.range(wire as never, opts(ctx)), bufferCodec);
    if (pool === undefined || typeof pool.withConnection !== "function") {
      return withFreshToken(generic);
    }
    const attempt = () =>
      pool.withConnection("KV", ({ client: raw, metadata }) => {
        const method = raw.Range;
        if (typeof raw.makeUnaryRequest !== "function" || method?.path === undefined) {
          return generic();
        }
        return new Promise<RangePage>((resolve, reject) => {
          raw.makeUnaryRequest(
            method.path,
            method.requestSerialize,
            decodeRangeResponse,
            wire,
            metadata,
            opts(ctx),
            (err: Error | null, res?: RangePage) =>
              err ? reject(castGrpcError(err)) : resolve(res!),
          );
        });
      });
    return withFreshToken(attempt);
  };

  return {
    kind: "grpc",
    range,
    async txn(
      compares: readonly TxnCompare[],
      success: readonly TxnRequestOp[],
      failure: readonly TxnRequestOp[],
      ctx: CallContext,
    ): Promise<TxnResult> {
      const wire = encodeTxn(compares, success, failure, bufferCodec);
      return withFreshToken(async () =>
        decodeTxn(await client.kv.txn(wire as never, opts(ctx)), bufferCodec),
      );
    },
    async put(key, value, ctx) {
      const res = await withFreshToken(() =>
        client.kv.put({ key: Buffer.from(key), value: Buffer.from(value) }, opts(ctx)),
      );
      return headerRevision(res);
    },
    async leaseGrant(ttlSeconds, ctx) {
      const res = await withFreshToken(() =>
        client.leaseClient.leaseGrant({ TTL: ttlSeconds }, opts(ctx)),
      );
      if (res.error) throw new Error(`etcd lease grant: ${res.error}`);
      return { id: int64(res.ID), ttl: Number(res.TTL) };
    },
    async leaseRevoke(id, ctx) {
      await withFreshToken(() => client.leaseClient.leaseRevoke({ ID: id.toString() }, opts(ctx)));
    },
    async leaseTimeToLive(id, keys, ctx) {
      const res = await withFreshToken(() =>
        client.leaseClient.leaseTimeToLive(
          { ID: id.toString(), ...(keys ? { keys: true } : {}) },
          opts(ctx),
        ),
      );
      return { ttl: Number(res.TTL), keys: (res.keys ?? []).map((k) => k.toString()) };
    },
    async compact(revision, ctx) {
      await withFreshToken(() =>
        client.kv.compact({ revision: revision.toString(), physical: true }, opts(ctx)),
      );
    },
    async watch(create: WatchCreate, listener: WatchListener): Promise<WatchHandle> {
      const stream = (await client.watchClient.watch()) as unknown as GrpcWatchStream;
      streams.add(stream);
      let open = true;
      const finish = () => {
        if (!open) return false;
        open = false;
        streams.delete(stream);
        stream.removeAllListeners();
        stream.on("error", () => undefined);
        return true;
      };
      stream.on("data", (res: unknown) => {
        if (open) listener.response(decodeWatchResponse(res, bufferCodec));
      });
      stream.on("error", (err: Error) => {
        if (finish()) listener.error(castGrpcError(err));
      });
      stream.on("end", () => {
        if (finish()) listener.end();
      });
      stream.write(encodeWatchCreate(create, bufferCodec));
      return {
        cancel: () => {
          if (!finish()) return;
          try {
            stream.cancel();
          } catch {
            // already ended
          }
        },
        pause: () => stream.pause(),
        resume: () => stream.resume(),
      };
    },
    close() {
      for (const stream of streams) {
        try {
          stream.cancel();
        } catch {
          // already ended
        }
      }
      streams.clear();
      client.close();
    },
  };
}
