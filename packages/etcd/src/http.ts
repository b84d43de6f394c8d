/**
 * HTTP/1.1 to a list of etcd endpoints, shared by the v2 keys client and the v3 JSON-gateway
 * transport: keep-alive agents, TLS material, failover to the next endpoint, a deadline, an
 * `AbortSignal`, and our error codes for transport failures. No etcd semantics here.
 */
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type RequestOptions,
} from "node:http";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import type { TlsMaterial } from "./tls.js";

/** Options of {@link HttpEndpoints}. */
export interface HttpEndpointsOptions {
  readonly endpoints: readonly string[];
  readonly tls?: TlsMaterial;
  /** Deadline of a request unless the request sets its own. Default 10 s. */
  readonly timeoutMs?: number;
  /** Most sockets kept per endpoint. Default 64. */
  readonly maxSockets?: number;
  /** The API in error messages: `"etcd v2"`, `"etcd v3"`. */
  readonly api: string;
}

/** One HTTP exchange. */
export interface HttpCall {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path and query, e.g. `/v3/kv/range`. */
  readonly path: string;
  readonly body?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  /** Deadline of this call; 0 for none (a long poll). Default the client's. */
  readonly timeoutMs?: number | undefined;
  /** Safe to send to the next endpoint after any transport failure. */
  readonly idempotent: boolean;
  /** What is being done, for error messages. */
  readonly operation: string;
}

/** A complete response. */
export interface HttpReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** A response whose body is still arriving (a watch). */
export interface HttpStream {
  readonly status: number;
  readonly response: IncomingMessage;
  /** Ends the exchange: the socket is destroyed, the response emits `close`. Idempotent. */
  cancel(): void;
}

interface Https {
  readonly agent: HttpAgent;
  readonly request: (
    url: URL,
    options: RequestOptions,
    onResponse: (res: IncomingMessage) => void,
  ) => ClientRequest;
}

/** Transport errors for which a non-idempotent request is known not to have been sent. */
const NOT_SENT = /ECONNREFUSED|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN/;

/**
 * HTTP/1.1 client of a set of etcd endpoints with failover (a request moves to the next endpoint
 * after a transport failure when it is idempotent or surely not sent), TLS, a deadline and an
 * `AbortSignal` on every call. {@link close} aborts everything in flight.
 *
 * @example
 * ```ts
 * const http = new HttpEndpoints({ endpoints: ["http://127.0.0.1:2379"], api: "etcd v3" });
 * const reply = await http.request({ method: "POST", path: "/v3/kv/range", body: '{"key":"Zm9v"}', idempotent: true, operation: "range" });
 * ```
 */
export class HttpEndpoints {
  readonly #endpoints: URL[];
  readonly #options: HttpEndpointsOptions;
  readonly #httpAgent: HttpAgent;
  /** `node:https` and its agent, loaded with the first https request (TLS costs ≈ 1 MB RSS). */
  #https: Promise<Https> | null = null;
  readonly #inflight = new Set<AbortController>();
  #next = 0;
  #closed = false;

  /** @throws FlannelError `INVALID_ARGUMENT` (no endpoint, or one that is not a URL) */
  constructor(options: HttpEndpointsOptions) {
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
    this.#httpAgent = new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets ?? 64 });
  }

  #loadHttps(): Promise<Https> {
    this.#https ??= import("node:https").then((https) => {
      const tls = this.#options.tls;
      const agent = new https.Agent({
        keepAlive: true,
        maxSockets: this.#options.maxSockets ?? 64,
        ca: tls?.ca,
        cert: tls?.cert,
        key: tls?.key,
      });
      if (this.#closed) agent.destroy();
      return { agent, request: https.request };
    });
    return this.#https;
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Sends a request and reads the whole response (any status).
   * @throws FlannelError `ETCD_UNAVAILABLE` (retryable), `ETCD_TLS`, `ABORTED`, `STORE_CLOSED`
   */
  request(call: HttpCall): Promise<HttpReply> {
    return this.#failover(call, (endpoint) => this.#exchange(endpoint, call, false));
  }

  /**
   * Sends a request and resolves once the response headers are in; the body is the caller's to
   * read, and to end with `cancel()`. The deadline covers the wait for the headers only.
   * @throws FlannelError `ETCD_UNAVAILABLE` (retryable), `ETCD_TLS`, `ABORTED`, `STORE_CLOSED`
   */
  stream(call: HttpCall): Promise<HttpStream> {
    return this.#failover(call, (endpoint) => this.#exchange(endpoint, call, true));
  }

  /** Aborts every request in flight (streams too) and closes the sockets. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const controller of this.#inflight) controller.abort();
    this.#inflight.clear();
    this.#httpAgent.destroy();
    void this.#https?.then(({ agent }) => agent.destroy());
  }

  async #failover<T>(call: HttpCall, send: (endpoint: URL) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let i = 0; i < this.#endpoints.length; i++) {
      if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
      throwIfAborted(call.signal);
      const index = (this.#next + i) % this.#endpoints.length;
      try {
        const result = await send(this.#endpoints[index]!);
        this.#next = index;
        return result;
      } catch (e) {
        lastError = e;
        const transport = e instanceof FlannelError && e.details.transport === true;
        const again = transport && (call.idempotent || NOT_SENT.test(String(e.details.errno)));
        if (!again) throw e;
      }
    }
    this.#next = (this.#next + 1) % this.#endpoints.length;
    throw lastError;
  }

  #exchange(endpoint: URL, call: HttpCall, stream: true): Promise<HttpStream>;
  #exchange(endpoint: URL, call: HttpCall, stream: false): Promise<HttpReply>;
  async #exchange(endpoint: URL, call: HttpCall, stream: boolean): Promise<HttpStream | HttpReply> {
    const url = new URL(call.path, endpoint);
    const https = url.protocol === "https:" ? await this.#loadHttps() : null;
    if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
    const headers: Record<string, string> = { ...call.headers };
    if (call.body !== undefined) headers["content-length"] = String(Buffer.byteLength(call.body));
    const controller = new AbortController();
    this.#inflight.add(controller);
    const onAbort = () => controller.abort();
    call.signal?.addEventListener("abort", onAbort, { once: true });
    const timeoutMs = call.timeoutMs ?? this.#options.timeoutMs ?? 10_000;
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined =
      timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            controller.abort();
          }, timeoutMs)
        : undefined;
    const stopTimer = () => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      stopTimer();
      call.signal?.removeEventListener("abort", onAbort);
      this.#inflight.delete(controller);
    };
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: unknown) => {
        cleanup();
        if (settled) return;
        settled = true;
        if (call.signal?.aborted) {
          reject(
            new FlannelError("ABORTED", "the operation was aborted", { cause: call.signal.reason }),
          );
        } else if (this.#closed) {
          reject(new FlannelError("STORE_CLOSED", "the etcd store is closed", { cause: e }));
        } else {
          reject(
            transportError(
              e,
              this.#options.api,
              call.operation,
              endpoint,
              timedOut ? timeoutMs : 0,
            ),
          );
        }
      };
      const onResponse = (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (stream) {
          stopTimer();
          settled = true;
          res.on("close", cleanup);
          resolve({
            status,
            response: res,
            cancel: () => {
              controller.abort();
              cleanup();
            },
          });
          return;
        }
        // Buffers, joined once at the end: a big listing page then waits outside V8's heap
        // instead of as a growing string that every young-generation GC copies.
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
        });
        res.on("error", fail);
        res.on("aborted", () => fail(new Error("response aborted")));
        res.on("end", () => {
          cleanup();
          if (settled) return;
          settled = true;
          const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString();
          resolve({ status, headers: res.headers, text });
        });
      };
      const options: RequestOptions = {
        method: call.method,
        headers,
        signal: controller.signal,
        agent: https ? https.agent : this.#httpAgent,
      };
      const req = (https ? https.request : httpRequest)(url, options, onResponse);
      req.on("error", fail);
      if (call.body !== undefined) req.write(call.body);
      req.end();
    });
  }
}

/**
 * A transport failure as `ETCD_TLS` or `ETCD_UNAVAILABLE` (`details.transport`, `errno`; a
 * timeout says how long it waited, `details.timedOut`, `details.timeoutMs`).
 */
function transportError(
  e: unknown,
  api: string,
  operation: string,
  endpoint: URL,
  /** > 0: the request got no answer within this many milliseconds. */
  timedOutAfterMs: number,
): FlannelError {
  const err = e as { code?: string; message?: string };
  const timedOut = timedOutAfterMs > 0;
  const message = timedOut
    ? `timed out: no answer after ${timedOutAfterMs} ms`
    : (err.message ?? String(e));
  const errno = err.code;
  const details = {
    operation,
    endpoint: endpoint.origin,
    errno,
    transport: true,
    ...(timedOut ? { timedOut, timeoutMs: timedOutAfterMs } : {}),
  };
  if (
    /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL|ERR_TLS|EPROTO|certificate|handshake/i.test(
      `${errno ?? ""} ${message}`,
    )
  ) {
    return new FlannelError(
      "ETCD_TLS",
      `${api} ${operation} at ${endpoint.origin}: TLS handshake failed (check the CA, client certificate and key): ${message}`,
      { cause: e, details: { ...details, transport: false } },
    );
  }
  return new FlannelError(
    "ETCD_UNAVAILABLE",
    `${api} ${operation} at ${endpoint.origin}: ${message}`,
    {
      cause: e,
      details,
      retryable: true,
    },
  );
}
