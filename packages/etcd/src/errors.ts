/**
 * Error codes of `@flannel-sdk/etcd` and the mapping from etcd3 / gRPC / HTTP failures to them.
 */
import { FlannelError } from "@flannel-sdk/core";

/** Codes thrown by `@flannel-sdk/etcd`, on top of core's codes. */
export type EtcdErrorCode =
  /** No etcd endpoint answered (refused, reset, timed out, no leader); retryable. */
  | "ETCD_UNAVAILABLE"
  /** The TLS handshake failed: wrong CA, bad or missing client certificate, unreadable PEM. */
  | "ETCD_TLS"
  /** Wrong user name or password. */
  | "ETCD_AUTH_FAILED"
  /** The user's roles do not cover the key. */
  | "ETCD_PERMISSION_DENIED"
  /** Any other error etcd returned (the message is etcd's). */
  | "ETCD_ERROR"
  /** flanneld flags, `FLANNELD_*` environment or the sysconfig file could not be read. */
  | "FLANNELD_OPTIONS_INVALID"
  /** `transport: "grpc"` without its optional peer dependency, npm `etcd3`, installed. */
  | "ETCD_GRPC_NOT_INSTALLED";

const TLS_PATTERN =
  /certificate|ssl|tls|handshake|x509|self[- ]signed|unknown ca|bad certificate|alert/i;

/**
 * gRPC status codes a retry can help with (the JSON gateway reports them as `code`): CANCELLED,
 * UNKNOWN, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE — the statuses
 * whose etcd3 error classes count as transient below.
 */
const RETRYABLE_GRPC_CODES = new Set([1, 2, 4, 8, 10, 13, 14]);

function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Where and how long a failed call went, for {@link toEtcdError}'s message. */
export interface EtcdCallContext {
  /** The endpoints the call could use (gRPC balances over all of them). */
  readonly endpoints?: readonly string[];
  /** How long the call ran before it failed: said for a deadline. */
  readonly waitedMs?: number;
}

const DEADLINE = /deadline|timed out|ETIMEDOUT/i;

/**
 * etcd server errors the stores act on, by `details.etcdReason`. etcd reports them only as a
 * generic gRPC status and a text (`etcdserver: requested lease not found`, gRPC NOT_FOUND;
 * `etcdserver: too many operations in txn request`, INVALID_ARGUMENT, above `--max-txn-ops`):
 * the text is read here, once, so that every decision elsewhere is on a code.
 */
export type EtcdErrorReason = "lease-not-found" | "too-many-ops";

const REASONS: readonly [RegExp, EtcdErrorReason][] = [
  [/requested lease not found/i, "lease-not-found"],
  [/too many operations in txn request/i, "too-many-ops"],
];

/**
 * The {@link EtcdErrorReason} of an error from {@link toEtcdError}, if etcd gave one.
 * @internal
 */
export function etcdReason(e: unknown): EtcdErrorReason | undefined {
  if (!(e instanceof FlannelError)) return undefined;
  const reason = e.details.etcdReason;
  return typeof reason === "string" ? (reason as EtcdErrorReason) : undefined;
}

/**
 * Turns an etcd3 / gRPC / JSON-gateway error into a {@link FlannelError} with an etcd code,
 * whose message names the operation and (given `context.endpoints`) the endpoints, and says how
 * long a timed-out call waited (`details.waitedMs`). A FlannelError passes through unchanged.
 *
 * @example
 * ```ts
 * try { await kv.range(req); } catch (e) { throw toEtcdError(e, "list leases", { endpoints }); }
 * ```
 */
export function toEtcdError(
  e: unknown,
  operation: string,
  context: EtcdCallContext = {},
): FlannelError {
  if (e instanceof FlannelError) return e;
  const name = e instanceof Error ? e.constructor.name : "";
  const timedOut = DEADLINE.test(messageOf(e)) || (e as { grpcCode?: unknown }).grpcCode === 4;
  const waited =
    timedOut && context.waitedMs !== undefined
      ? ` (no answer after ${Math.round(context.waitedMs)} ms)`
      : "";
  // grpc-js ends an unreachable-endpoint message with an empty "Resolution note: ".
  const message = `${messageOf(e).replace(/\s*Resolution note:\s*$/, "")}${waited}`;
  const endpoints = context.endpoints ?? [];
  const at = endpoints.length === 0 ? "" : ` at ${endpoints.join(",")}`;
  const what = `${operation}${at}`;
  const reason = REASONS.find(([re]) => re.test(message))?.[1];
  const details = {
    operation,
    etcdError: name || undefined,
    ...(reason === undefined ? {} : { etcdReason: reason }),
    ...(endpoints.length === 0 ? {} : { endpoints }),
    ...(waited === "" ? {} : { waitedMs: Math.round(context.waitedMs!) }),
  };
  if (name === "EtcdAuthenticationFailedError" || /authentication failed/i.test(message)) {
    return new FlannelError(
      "ETCD_AUTH_FAILED",
      `etcd ${what}: authentication failed (wrong user name or password)`,
      { cause: e, details },
    );
  }
  if (
    name === "EtcdPermissionDeniedError" ||
    /permission denied/i.test(message) ||
    (e as { grpcCode?: unknown }).grpcCode === 7
  ) {
    return new FlannelError(
      "ETCD_PERMISSION_DENIED",
      `etcd ${what}: permission denied (the user's roles do not cover this key)`,
      { cause: e, details },
    );
  }
  if (TLS_PATTERN.test(message)) {
    return new FlannelError(
      "ETCD_TLS",
      `etcd ${what}: TLS handshake failed (check the CA, client certificate and key): ${message}`,
      { cause: e, details },
    );
  }
  if (
    /^GRPC(Unavailable|DeadlineExceeded|Cancelled|Internal|Unknown|ResourceExhasted|Aborted)Error$/.test(
      name,
    ) ||
    RETRYABLE_GRPC_CODES.has((e as { grpcCode?: unknown }).grpcCode as number) ||
    name === "BrokenCircuitError" ||
    name === "EtcdWatchStreamEnded" ||
    /ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ETIMEDOUT|deadline|unavailable|no leader|leader changed|timed out|socket hang up/i.test(
      message,
    )
  ) {
    return new FlannelError("ETCD_UNAVAILABLE", `etcd ${what}: ${message}`, {
      cause: e,
      details,
      retryable: true,
    });
  }
  return new FlannelError("ETCD_ERROR", `etcd ${what}: ${message}`, { cause: e, details });
}

/** The packages of the gRPC transport: optional peer dependencies, all installed with `etcd3`. */
const GRPC_MODULES = ["etcd3", "cockatiel", "long", "protobufjs"];

/**
 * The error of a `"grpc"` connection whose modules could not be loaded: `ETCD_GRPC_NOT_INSTALLED`
 * naming the package to add when one is missing; any other load failure passes through.
 * @internal
 */
export function grpcMissing(e: unknown): unknown {
  const code = (e as { code?: unknown })?.code;
  if (code !== "ERR_MODULE_NOT_FOUND" && code !== "MODULE_NOT_FOUND") return e;
  const text = messageOf(e);
  const missing =
    GRPC_MODULES.find((m) => text.includes(`'${m}'`) || text.includes(`"${m}"`)) ?? "etcd3";
  return new FlannelError(
    "ETCD_GRPC_NOT_INSTALLED",
    `transport "grpc" needs npm ${missing}, an optional peer dependency of @flannel-sdk/etcd ` +
      `that is not installed: run npm install etcd3 (it brings cockatiel, long and protobufjs), ` +
      `or use transport "http", the default`,
    { cause: e, details: { missing, install: "npm install etcd3" } },
  );
}
