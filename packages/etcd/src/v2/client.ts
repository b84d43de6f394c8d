/**
 * A small client of etcd's v2 keys HTTP API (`/v2/keys`), the API flannel v0.11 and the install
 * guide use. Only what flannel needs: get (recursive, long-poll watch), set (with `prevExist`,
 * `prevIndex`, `ttl`), delete, mkdir.
 */
import { FlannelError } from "@flannel-sdk/core";
import { HttpEndpoints } from "../http.js";
import type { TlsMaterial } from "../tls.js";

/** A node of the v2 keys API. */
export interface V2Node {
  readonly key: string;
  readonly value?: string;
  readonly dir?: boolean;
  /** RFC 3339 time; absent for a key without TTL. */
  readonly expiration?: string;
  readonly ttl?: number;
  readonly modifiedIndex: number;
  readonly createdIndex: number;
  readonly nodes?: readonly V2Node[];
}

/** A v2 keys API response. */
export interface V2Response {
  readonly action: string;
  readonly node: V2Node;
  readonly prevNode?: V2Node;
  /** `X-Etcd-Index`: the store index when the response was made. */
  readonly etcdIndex: bigint;
}

/** v2 error codes flannel cares about (etcd `error/error.go`). */
export const V2_KEY_NOT_FOUND = 100;
/** v2 error 101, `Compare failed` (a `prevValue` / `prevIndex` condition did not hold). */
export const V2_TEST_FAILED = 101;
/** v2 error 102, `Not a file` (the key is a directory). */
export const V2_NOT_FILE = 102;
/** v2 error 105, `Key already exists` (a `prevExist=false` create lost). */
export const V2_NODE_EXIST = 105;
/** v2 error 401, `The event in requested index is outdated and cleared`: re-list, then watch. */
export const V2_EVENT_INDEX_CLEARED = 401;

/** Options of {@link EtcdV2Client}. */
export interface EtcdV2ClientOptions {
  readonly endpoints: readonly string[];
  readonly tls?: TlsMaterial;
  readonly auth?: { readonly username: string; readonly password: string };
  /** Deadline of a non-watch request. Default 10 s. */
  readonly timeoutMs?: number;
  /** Most sockets kept per endpoint. Default 64. */
  readonly maxSockets?: number;
}

interface RequestSpec {
  method: "GET" | "PUT" | "DELETE";
  key: string;
  query?: Record<string, string | undefined>;
  form?: Record<string, string | undefined>;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
  /** Safe to send to the next endpoint after any transport failure. */
  idempotent: boolean;
  operation: string;
}

function encodeKey(key: string): string {
  return key
    .split("/")
    .map((part) => encodeURIComponent(part))
    .join("/");
}

function encodeForm(values: Record<string, string | undefined>): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v !== undefined) params.set(k, v);
  return params.toString();
}

/** Error thrown for a v2 error body; `details.errorCode` is etcd's numeric code. */
function v2Error(status: number, body: unknown, operation: string, key: string): FlannelError {
  const b = (typeof body === "object" && body !== null ? body : {}) as {
    errorCode?: number;
    message?: string;
    cause?: string;
    index?: number;
  };
  const errorCode = typeof b.errorCode === "number" ? b.errorCode : undefined;
  const text = `${errorCode ?? status}: ${b.message ?? "HTTP " + status}${b.cause ? ` (${b.cause})` : ""} [${b.index ?? ""}]`;
  const details = { operation, key, status, errorCode, index: b.index, cause: b.cause };
  if (status === 401 && errorCode === undefined) {
    return new FlannelError("ETCD_AUTH_FAILED", `etcd v2 ${operation}: ${text}`, { details });
  }
  if (errorCode === 110 || status === 401 || status === 403) {
    if (status === 403) {
      return new FlannelError("ETCD_PERMISSION_DENIED", `etcd v2 ${operation}: ${text}`, {
        details,
      });
    }
    // v2 answers a wrong password and a role that does not cover the key alike.
    return new FlannelError(
      "ETCD_AUTH_FAILED",
      `etcd v2 ${operation} ${key}: ${text}: the user name or password is wrong, or the user's roles do not cover this key`,
      { details },
    );
  }
  if (status >= 500 || errorCode === 300 || errorCode === 301) {
    return new FlannelError("ETCD_UNAVAILABLE", `etcd v2 ${operation}: ${text}`, {
      details,
      retryable: true,
    });
  }
  return new FlannelError("ETCD_ERROR", `etcd v2 ${operation}: ${text}`, { details });
}

/**
 * The numeric v2 error code of an error thrown by {@link EtcdV2Client}, if any.
 *
 * @example
 * ```ts
 * try { await client.get(key); } catch (e) { if (v2ErrorCode(e) === V2_KEY_NOT_FOUND) return null; throw e; }
 * ```
 */
export function v2ErrorCode(e: unknown): number | undefined {
  if (!(e instanceof FlannelError)) return undefined;
  const code = e.details.errorCode;
  return typeof code === "number" ? code : undefined;
}

/**
 * HTTP client of the v2 keys API with endpoint failover, TLS and basic auth. Every call takes an
 * `AbortSignal`; {@link close} aborts every request in flight (long-poll watches included).
 *
 * @example
 * ```ts
 * const client = new EtcdV2Client({ endpoints: ["http://127.0.0.1:2379"] });
 * const res = await client.get("/coreos.com/network/config");
 * ```
 */
export class EtcdV2Client {
  readonly #http: HttpEndpoints;
  readonly #authorization: string | undefined;

  /** @throws FlannelError `INVALID_ARGUMENT` (no endpoint, or one that is not a URL) */
  constructor(options: EtcdV2ClientOptions) {
    this.#http = new HttpEndpoints({
      endpoints: options.endpoints,
      api: "etcd v2",
      ...(options.tls ? { tls: options.tls } : {}),
      ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
    });
    if (options.auth) {
      const { username, password } = options.auth;
      this.#authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    }
  }

  /**
   * `GET /v2/keys/<key>`: a key, a directory (with `recursive`), or with `wait` one change at
   * `waitIndex` or later (a long poll; no deadline unless `timeoutMs`).
   *
   * @throws FlannelError `ETCD_ERROR` (etcd's code in `details.errorCode`), `ETCD_UNAVAILABLE`, `ETCD_TLS`, `ETCD_AUTH_FAILED`, `ABORTED`, `STORE_CLOSED`
   */
  get(
    key: string,
    options: {
      recursive?: boolean;
      sorted?: boolean;
      quorum?: boolean;
      wait?: boolean;
      waitIndex?: bigint;
      signal?: AbortSignal;
      timeoutMs?: number;
    } = {},
  ): Promise<V2Response> {
    return this.#request({
      method: "GET",
      key,
      query: {
        recursive: options.recursive ? "true" : undefined,
        sorted: options.sorted ? "true" : undefined,
        quorum: options.quorum ? "true" : undefined,
        wait: options.wait ? "true" : undefined,
        waitIndex: options.waitIndex === undefined ? undefined : String(options.waitIndex),
      },
      signal: options.signal,
      timeoutMs: options.wait ? (options.timeoutMs ?? 0) : options.timeoutMs,
      idempotent: true,
      operation: options.wait ? "watch" : "get",
    });
  }

  /**
   * `PUT /v2/keys/<key>` with `value` and optional `ttl` (seconds; absent = no TTL), and the
   * conditions `prevExist` / `prevIndex` / `prevValue`.
   *
   * @throws FlannelError `ETCD_ERROR` (105 key exists, 101 compare failed, 100 not found), `ETCD_UNAVAILABLE`, `ETCD_TLS`, `ETCD_AUTH_FAILED`, `ABORTED`, `STORE_CLOSED`
   */
  set(
    key: string,
    value: string,
    options: {
      ttl?: number | null;
      prevExist?: boolean;
      prevIndex?: number;
      prevValue?: string;
      signal?: AbortSignal;
    } = {},
  ): Promise<V2Response> {
    return this.#request({
      method: "PUT",
      key,
      query: {
        prevExist: options.prevExist === undefined ? undefined : String(options.prevExist),
        prevIndex: options.prevIndex === undefined ? undefined : String(options.prevIndex),
        prevValue: options.prevValue,
      },
      form: {
        value,
        ttl: options.ttl === undefined || options.ttl === null ? undefined : String(options.ttl),
      },
      signal: options.signal,
      idempotent: false,
      operation: "set",
    });
  }

  /**
   * `PUT /v2/keys/<key>?dir=true` (etcdctl `mkdir`).
   *
   * @throws FlannelError `ETCD_ERROR` (105 exists), `ETCD_UNAVAILABLE`, `ABORTED`, `STORE_CLOSED`
   */
  mkdir(key: string, options: { signal?: AbortSignal } = {}): Promise<V2Response> {
    return this.#request({
      method: "PUT",
      key,
      query: { dir: "true", prevExist: "false" },
      signal: options.signal,
      idempotent: false,
      operation: "mkdir",
    });
  }

  /**
   * `DELETE /v2/keys/<key>`, optionally only at `prevIndex`.
   *
   * @throws FlannelError `ETCD_ERROR` (100 not found, 101 compare failed), `ETCD_UNAVAILABLE`, `ABORTED`, `STORE_CLOSED`
   */
  delete(
    key: string,
    options: { prevIndex?: number; recursive?: boolean; dir?: boolean; signal?: AbortSignal } = {},
  ): Promise<V2Response> {
    return this.#request({
      method: "DELETE",
      key,
      query: {
        prevIndex: options.prevIndex === undefined ? undefined : String(options.prevIndex),
        recursive: options.recursive ? "true" : undefined,
        dir: options.dir ? "true" : undefined,
      },
      signal: options.signal,
      idempotent: false,
      operation: "delete",
    });
  }

  /** Aborts every request in flight and closes the sockets. Idempotent. */
  close(): void {
    this.#http.close();
  }

  async #request(spec: RequestSpec): Promise<V2Response> {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) query.set(k, v);
    const search = query.size > 0 ? `?${query}` : "";
    const headers: Record<string, string> = {};
    const body = spec.form ? encodeForm(spec.form) : undefined;
    if (body !== undefined) headers["content-type"] = "application/x-www-form-urlencoded";
    if (this.#authorization) headers.authorization = this.#authorization;
    const reply = await this.#http.request({
      method: spec.method,
      path: `/v2/keys${encodeKey(spec.key)}${search}`,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: spec.signal,
      timeoutMs: spec.timeoutMs,
      idempotent: spec.idempotent,
      operation: spec.operation,
    });
    let json: unknown;
    try {
      json = reply.text === "" ? {} : JSON.parse(reply.text);
    } catch (cause) {
      throw new FlannelError(
        "ETCD_ERROR",
        `etcd v2 ${spec.operation}: unreadable response (HTTP ${reply.status}): ${reply.text.slice(0, 200)}`,
        { cause, details: { key: spec.key, status: reply.status } },
      );
    }
    if (reply.status < 200 || reply.status >= 300) {
      throw v2Error(reply.status, json, spec.operation, spec.key);
    }
    const r = json as { action: string; node: V2Node; prevNode?: V2Node };
    const header = reply.headers["x-etcd-index"];
    return {
      action: r.action,
      node: r.node,
      ...(r.prevNode ? { prevNode: r.prevNode } : {}),
      etcdIndex: BigInt(typeof header === "string" && header !== "" ? header : "0"),
    };
  }
}
