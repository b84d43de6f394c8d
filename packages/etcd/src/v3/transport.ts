/**
 * What `EtcdV3Connection` needs from a transport: etcd v3's unary RPCs and a watch stream, with
 * requests and responses already in the package's own shapes (`src/v3/wire.ts`). Two
 * implementations: gRPC through npm `etcd3` (`grpc.ts`) and etcd's JSON gateway over HTTP/1.1
 * (`gateway.ts`). Errors are thrown as they come; the connection maps them to our codes.
 */
import type { EtcdAuthOptions } from "../options.js";
import type { TlsMaterial } from "../tls.js";
import type {
  RangePage,
  RangeRequestOp,
  TxnCompare,
  TxnRequestOp,
  TxnResult,
  WatchCreate,
  WatchResponse,
} from "./wire.js";

/** The transports an `EtcdV3Connection` can use. */
export type EtcdV3TransportKind = "grpc" | "http";

/** What every transport is built from. */
export interface V3TransportOptions {
  readonly endpoints: readonly string[];
  readonly tls?: TlsMaterial | undefined;
  readonly auth?: EtcdAuthOptions | undefined;
  /** Deadline of each unary call. */
  readonly timeoutMs: number;
  /** How soon a silent server is noticed by a watch (gRPC pings; the gateway probes). */
  readonly keepaliveMs: number;
}

/** Deadline (ms since the epoch) and cancellation of one call. */
export interface CallContext {
  readonly deadline: number;
  readonly signal?: AbortSignal | undefined;
}

/** Receives what a watch stream delivers; after `error` or `end` nothing more comes. */
export interface WatchListener {
  response(response: WatchResponse): void;
  error(error: unknown): void;
  end(): void;
}

/** An open watch stream. */
export interface WatchHandle {
  /** Ends the stream; the listener hears nothing more. Idempotent. */
  cancel(): void;
  /** Stops reading (back-pressure) until {@link resume}. */
  pause(): void;
  resume(): void;
}

/** etcd v3 over one kind of wire. */
export interface V3Transport {
  readonly kind: EtcdV3TransportKind;
  range(request: RangeRequestOp, ctx: CallContext): Promise<RangePage>;
  txn(
    compares: readonly TxnCompare[],
    success: readonly TxnRequestOp[],
    failure: readonly TxnRequestOp[],
    ctx: CallContext,
  ): Promise<TxnResult>;
  put(key: string, value: string, ctx: CallContext): Promise<bigint>;
  leaseGrant(ttlSeconds: number, ctx: CallContext): Promise<{ id: bigint; ttl: number }>;
  /** Rejects with etcd's `lease not found` for a lease that is gone. */
  leaseRevoke(id: bigint, ctx: CallContext): Promise<void>;
  /** TTL −1 for a lease that does not exist. */
  leaseTimeToLive(
    id: bigint,
    keys: boolean,
    ctx: CallContext,
  ): Promise<{ ttl: number; keys: string[] }>;
  compact(revision: bigint, ctx: CallContext): Promise<void>;
  /** Opens a stream and sends the create request. */
  watch(create: WatchCreate, listener: WatchListener): Promise<WatchHandle>;
  /** Ends every stream and closes the connections. Idempotent. */
  close(): void;
}

/**
 * Whether etcd's error text says the auth token no longer works, so that authenticating again
 * and retrying once is the cure: etcd forgot the token (it expired, or the member restarted:
 * `invalid auth token`), or its users or roles changed since the token was issued
 * (`revision of auth store is old`: with JWT tokens, any such change makes every older token
 * fail). etcd's clientv3 authenticates again on exactly these two (`shouldRefreshToken` in its
 * `retry_interceptor.go`). etcd says which only in the text: the gRPC codes (16, 3) are shared
 * with other errors.
 *
 * @example
 * ```ts
 * isStaleAuthToken("etcdserver: revision of auth store is old"); // true
 * ```
 */
export function isStaleAuthToken(message: string): boolean {
  return STALE_TOKEN.test(message);
}

const STALE_TOKEN = /etcdserver: (invalid auth token|revision of auth store is old)/;
