/**
 * A small client of etcd's v2 keys HTTP API (`/v2/keys`), the API flannel v0.11 and the install
 * guide use. Only what flannel needs: get (recursive, long-poll watch), set (with `prevExist`,
 * `prevIndex`, `ttl`), delete, mkdir.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
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

const TRANSPORT_RETRY = /ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/;

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
  readonly #endpoints: URL[];
  readonly #options: EtcdV2ClientOptions;
  readonly #httpAgent: HttpAgent;
  readonly #httpsAgent: HttpsAgent;
  readonly #inflight = new Set<AbortController>();
  #next = 0;
  #closed = false;

  constructor(options: EtcdV2ClientOptions) {
    if (options.endpoints.length === 0) {
      throw new FlannelError("INVALID_ARGUMENT", "no etcd endpoints given", { field: "endpoints" });
    }
    this.#endpoints = options.endpoints.map((e) => {
      try {
        return new URL(e);
      } catch (cause) {
        throw new FlannelError("INVALID_ARGUMENT", `invalid etcd endpoint ${e}`, {
          cause,
          field: "endpoints",
        });
      }
    });
    this.#options = options;
    const maxSockets = options.maxSockets ?? 64;
    this.#httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    this.#httpsAgent = new HttpsAgent({
      keepAlive: true,
      maxSockets,
      ca: options.tls?.ca,
      cert: options.tls?.cert,
      key: options.tls?.key,
    });
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
    this.#closed = true;
    for (const controller of this.#inflight) controller.abort();
    this.#inflight.clear();
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }

  async #request(spec: RequestSpec): Promise<V2Response> {
    let lastError: unknown;
    for (let i = 0; i < this.#endpoints.length; i++) {
      if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
      throwIfAborted(spec.signal);
      const index = (this.#next + i) % this.#endpoints.length;
      try {
        const res = await this.#send(this.#endpoints[index]!, spec);
        this.#next = index;
        return res;
      } catch (e) {
        lastError = e;
        const transport = e instanceof FlannelError && e.details.transport === true;
        const retryable =
          transport && (spec.idempotent || TRANSPORT_RETRY.test(String(e.details.errno)));
        if (!retryable) throw e;
      }
    }
    this.#next = (this.#next + 1) % this.#endpoints.length;
    throw lastError;
  }

  #send(endpoint: URL, spec: RequestSpec): Promise<V2Response> {
    const url = new URL(`/v2/keys${encodeKey(spec.key)}`, endpoint);
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, v);
    }
    const body = spec.form ? encodeForm(spec.form) : undefined;
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    if (this.#options.auth) {
      const { username, password } = this.#options.auth;
      headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    }
    const tls = url.protocol === "https:";
    const controller = new AbortController();
    this.#inflight.add(controller);
    const onAbort = () => controller.abort();
    spec.signal?.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = spec.timeoutMs ?? this.#options.timeoutMs ?? 10_000;
    let timedOut = false;
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      spec.signal?.removeEventListener("abort", onAbort);
      this.#inflight.delete(controller);
    };
    return new Promise<V2Response>((resolve, reject) => {
      const fail = (e: unknown) => {
        cleanup();
        if (spec.signal?.aborted) {
          reject(
            new FlannelError("ABORTED", "the operation was aborted", { cause: spec.signal.reason }),
          );
        } else if (this.#closed) {
          reject(new FlannelError("STORE_CLOSED", "the etcd store is closed", { cause: e }));
        } else {
          reject(transportError(e, spec.operation, endpoint, timedOut));
        }
      };
      const onResponse = (res: IncomingMessage) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("response aborted")));
        res.on("end", () => {
          cleanup();
          let json: unknown;
          try {
            json = text === "" ? {} : JSON.parse(text);
          } catch (cause) {
            reject(
              new FlannelError(
                "ETCD_ERROR",
                `etcd v2 ${spec.operation}: unreadable response (HTTP ${res.statusCode}): ${text.slice(0, 200)}`,
                { cause, details: { key: spec.key, status: res.statusCode } },
              ),
            );
            return;
          }
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            const r = json as { action: string; node: V2Node; prevNode?: V2Node };
            const header = res.headers["x-etcd-index"];
            resolve({
              action: r.action,
              node: r.node,
              ...(r.prevNode ? { prevNode: r.prevNode } : {}),
              etcdIndex: BigInt(typeof header === "string" && header !== "" ? header : "0"),
            });
          } else {
            reject(v2Error(status, json, spec.operation, spec.key));
          }
        });
      };
      const options = {
        method: spec.method,
        headers,
        signal: controller.signal,
        ...(tls ? { agent: this.#httpsAgent } : { agent: this.#httpAgent }),
      };
      const req = tls
        ? httpsRequest(url, options, onResponse)
        : httpRequest(url, options, onResponse);
      req.on("error", fail);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function transportError(
  e: unknown,
  operation: string,
  endpoint: URL,
  timedOut: boolean,
): FlannelError {
  const err = e as { code?: string; message?: string };
  const message = timedOut ? "timed out" : (err.message ?? String(e));
  const errno = err.code;
  const details = { operation, endpoint: endpoint.origin, errno, transport: true };
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS|EPROTO|certificate|handshake/i.test(
      `${errno ?? ""} ${message}`,
    )
  ) {
    return new FlannelError(
      "ETCD_TLS",
      `etcd v2 ${operation} at ${endpoint.origin}: TLS handshake failed (check the CA, client certificate and key): ${message}`,
      { cause: e, details: { ...details, transport: false } },
    );
  }
  return new FlannelError(
    "ETCD_UNAVAILABLE",
    `etcd v2 ${operation} at ${endpoint.origin}: ${message}`,
    {
      cause: e,
      details,
      retryable: true,
    },
  );
}
