/**
 * The HTTP transport: etcd v3 through etcd's own JSON gateway on the client port
 * (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/lease/grant`, `/v3/watch` streaming, …; etcd ≥ 3.4
 * serves it under `/v3/`). Node's `http`/`https` only: no gRPC or protobuf modules are loaded,
 * which is what keeps a watcher or an agent process small (docs/decisions.md).
 */
import { FlannelError, isFlannelError } from "@flannel-sdk/core";
import { HttpEndpoints } from "../http.js";
import type {
  CallContext,
  V3Transport,
  V3TransportOptions,
  WatchHandle,
  WatchListener,
} from "./transport.js";
import { isStaleAuthToken } from "./transport.js";
import {
  base64Codec,
  decodeRange,
  decodeTxn,
  decodeWatchResponse,
  encodeRange,
  encodeTxn,
  encodeWatchCreate,
  headerRevision,
  int64,
  type WatchCreate,
} from "./wire.js";

/** Options of {@link createGatewayTransport}. */
export interface GatewayTransportOptions extends V3TransportOptions {
  /** Sockets per endpoint. Default 64. */
  readonly maxSockets?: number | undefined;
}

/** An error etcd returned through the gateway, with its gRPC status code. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  constructor(
    message: string,
    /** The gRPC status code (14 = UNAVAILABLE, 7 = PERMISSION_DENIED, …). */
    readonly grpcCode: number,
    readonly httpStatus: number,
  ) {
    super(message);
  }
}

const HINTS: [RegExp, string][] = [
  [
    /CommonName of client sending a request against gateway/,
    ' (etcd refuses gateway requests from a client certificate with a CommonName while auth is on: use transport "grpc")',
  ],
  [
    /^404 page not found/,
    ' (is etcd\'s JSON gateway off, --enable-grpc-gateway=false? use transport "grpc")',
  ],
];

function gatewayError(status: number, text: string): GatewayError {
  let body: { error?: unknown; message?: unknown; code?: unknown } = {};
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const message =
    typeof body.message === "string"
      ? body.message
      : typeof body.error === "string"
        ? body.error
        : `HTTP ${status}: ${text.slice(0, 200).trim()}${HINTS.find(([re]) => re.test(text))?.[1] ?? ""}`;
  // Without etcd's code (not etcd answering, e.g. a proxy): a 5xx is worth a retry.
  const code = typeof body.code === "number" ? body.code : status >= 500 ? 14 : -1;
  return new GatewayError(message, code, status);
}

/** How long a liveness probe of a quiet watch may take. */
const PROBE_TIMEOUT_MS = 5000;

/**
 * etcd v3 over the JSON gateway: the same requests and answers as gRPC, bytes as base64 and
 * int64 as decimal text. Auth: `POST /v3/auth/authenticate` once, then the token in
 * `Authorization`, renewed when etcd calls it invalid. A watch that hears nothing for
 * `keepaliveMs` probes etcd with a small range (gRPC would ping) and is ended as unavailable if
 * that gets no answer within 5 s.
 *
 * @example
 * ```ts
 * const transport = createGatewayTransport({ endpoints: ["http://127.0.0.1:2379"], timeoutMs: 10_000, keepaliveMs: 10_000 });
 * ```
 */
export function createGatewayTransport(options: GatewayTransportOptions): V3Transport {
  const http = new HttpEndpoints({
    endpoints: options.endpoints,
    api: "etcd v3",
    timeoutMs: options.timeoutMs,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.maxSockets ? { maxSockets: options.maxSockets } : {}),
  });
  const watches = new Set<() => void>();
  let token: Promise<string> | null = null;

  const authenticate = async (ctx: CallContext): Promise<string> => {
    const auth = options.auth!;
    const reply = await http.request({
      method: "POST",
      path: "/v3/auth/authenticate",
      body: JSON.stringify({ name: auth.username, password: auth.password }),
      headers: { "content-type": "application/json" },
      signal: ctx.signal,
      timeoutMs: Math.max(1, ctx.deadline - Date.now()),
      idempotent: true,
      operation: "authenticate",
    });
    if (reply.status !== 200) throw gatewayError(reply.status, reply.text);
    const t = (JSON.parse(reply.text) as { token?: unknown }).token;
    if (typeof t !== "string" || t === "") {
      throw new FlannelError("ETCD_AUTH_FAILED", "etcd authenticate: no token in the answer");
    }
    return t;
  };

  const headers = async (ctx: CallContext): Promise<Record<string, string>> => {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (options.auth) {
      if (token === null) {
        const pending = authenticate(ctx);
        token = pending;
        pending.catch(() => {
          if (token === pending) token = null;
        });
      }
      h.authorization = await token;
    }
    return h;
  };

  const post = async (
    path: string,
    body: unknown,
    ctx: CallContext,
    idempotent: boolean,
    operation: string,
  ): Promise<unknown> => {
    for (let attempt = 0; ; attempt++) {
      const sentWith = options.auth ? token : null;
      const reply = await http.request({
        method: "POST",
        path,
        body: JSON.stringify(body),
        headers: await headers(ctx),
        signal: ctx.signal,
        timeoutMs: Math.max(1, ctx.deadline - Date.now()),
        idempotent,
        operation,
      });
      if (reply.status === 200) {
        try {
          return JSON.parse(reply.text);
        } catch (cause) {
          throw new FlannelError(
            "ETCD_ERROR",
            `etcd v3 ${operation}: unreadable response: ${reply.text.slice(0, 200)}`,
            { cause },
          );
        }
      }
      const error = gatewayError(reply.status, reply.text);
      // A token etcd no longer honours (expired, forgotten in a restart, older than an auth
      // change): authenticate again.
      if (options.auth && attempt === 0 && isStaleAuthToken(error.message)) {
        if (token === sentWith) token = null;
        continue;
      }
      throw error;
    }
  };

  /**
   * Whether etcd still answers (a small range of the watched key): `null` when it did, an
   * `ETCD_UNAVAILABLE` when it did not within the probe timeout. Other errors say it answered.
   */
  const probeLiveness = async (key: string): Promise<FlannelError | null> => {
    const ctx: CallContext = { deadline: Date.now() + PROBE_TIMEOUT_MS };
    try {
      await post(
        "/v3/kv/range",
        encodeRange({ key, count_only: true }, base64Codec),
        ctx,
        true,
        "probe",
      );
      return null;
    } catch (e) {
      if (!isFlannelError(e, "ETCD_UNAVAILABLE")) return null;
      return new FlannelError(
        "ETCD_UNAVAILABLE",
        `etcd v3 watch: etcd went silent (no answer to a probe within ${PROBE_TIMEOUT_MS} ms)`,
        { cause: e, retryable: true },
      );
    }
  };

  const watch = async (create: WatchCreate, listener: WatchListener): Promise<WatchHandle> => {
    const ctx: CallContext = { deadline: Date.now() + options.timeoutMs };
    const stream = await http.stream({
      method: "POST",
      path: "/v3/watch",
      body: JSON.stringify(encodeWatchCreate(create, base64Codec)),
      headers: await headers(ctx),
      timeoutMs: options.timeoutMs,
      idempotent: true,
      operation: "watch",
    });
    const res = stream.response;
    res.setEncoding("utf8");
    if (stream.status !== 200) {
      let text = "";
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("error", () => undefined);
      await new Promise<void>((resolve) => res.on("close", resolve));
      stream.cancel();
      throw gatewayError(stream.status, text);
    }
    let open = true;
    let lastHeard = Date.now();
    let probing = false;
    const idle = setInterval(
      () => {
        if (probing || Date.now() - lastHeard < options.keepaliveMs) return;
        probing = true;
        void probeLiveness(create.key).then((error) => {
          probing = false;
          if (error === null) lastHeard = Date.now();
          else fail(error);
        });
      },
      Math.max(100, Math.min(options.keepaliveMs, 5000)),
    );
    idle.unref?.();
    const finish = (): boolean => {
      if (!open) return false;
      open = false;
      clearInterval(idle);
      watches.delete(cancel);
      stream.cancel();
      return true;
    };
    const fail = (error: unknown) => {
      if (finish()) listener.error(error);
    };
    const cancel = () => {
      finish();
    };
    watches.add(cancel);
    let buffered = "";
    res.on("data", (chunk: string) => {
      lastHeard = Date.now();
      buffered += chunk;
      for (let nl = buffered.indexOf("\n"); nl >= 0 && open; nl = buffered.indexOf("\n")) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (line.trim() !== "") onMessage(line);
      }
    });
    const onMessage = (line: string) => {
      let message: {
        result?: unknown;
        error?: { message?: string; grpc_code?: number; http_code?: number };
      };
      try {
        message = JSON.parse(line);
      } catch (cause) {
        fail(
          new FlannelError(
            "ETCD_ERROR",
            `etcd v3 watch: unreadable message: ${line.slice(0, 200)}`,
            {
              cause,
            },
          ),
        );
        return;
      }
      const e = message.error;
      if (e !== undefined) {
        fail(new GatewayError(e.message ?? "watch error", e.grpc_code ?? 2, e.http_code ?? 500));
        return;
      }
      listener.response(decodeWatchResponse(message.result, base64Codec));
    };
    res.on("error", (e) => fail(e));
    res.on("close", () => {
      if (res.complete) {
        if (finish()) listener.end();
      } else {
        fail(
          new FlannelError("ETCD_UNAVAILABLE", "etcd v3 watch: the stream broke", {
            retryable: true,
          }),
        );
      }
    });
    return { cancel, pause: () => res.pause(), resume: () => res.resume() };
  };

  return {
    kind: "http",
    async range(request, ctx) {
      return decodeRange(
        await post("/v3/kv/range", encodeRange(request, base64Codec), ctx, true, "range"),
        base64Codec,
      );
    },
    async txn(compares, success, failure, ctx) {
      const body = encodeTxn(compares, success, failure, base64Codec);
      return decodeTxn(await post("/v3/kv/txn", body, ctx, false, "txn"), base64Codec);
    },
    async put(key, value, ctx) {
      const body = {
        key: Buffer.from(key).toString("base64"),
        value: Buffer.from(value).toString("base64"),
      };
      return headerRevision(await post("/v3/kv/put", body, ctx, false, "put"));
    },
    async leaseGrant(ttlSeconds, ctx) {
      const res = (await post(
        "/v3/lease/grant",
        { TTL: String(ttlSeconds) },
        ctx,
        false,
        "lease grant",
      )) as {
        ID?: unknown;
        TTL?: unknown;
        error?: unknown;
      };
      if (typeof res.error === "string" && res.error !== "") {
        throw new Error(`etcd lease grant: ${res.error}`);
      }
      return { id: int64(res.ID), ttl: Number(int64(res.TTL)) };
    },
    async leaseRevoke(id, ctx) {
      await post("/v3/lease/revoke", { ID: id.toString() }, ctx, false, "lease revoke");
    },
    async leaseTimeToLive(id, keys, ctx) {
      const res = (await post(
        "/v3/lease/timetolive",
        { ID: id.toString(), ...(keys ? { keys: true } : {}) },
        ctx,
        true,
        "lease time-to-live",
      )) as { TTL?: unknown; keys?: unknown };
      return {
        ttl: Number(int64(res.TTL)),
        keys: (Array.isArray(res.keys) ? res.keys : []).map((k) =>
          base64Codec.decode(k).toString(),
        ),
      };
    },
    async compact(revision, ctx) {
      await post(
        "/v3/kv/compaction",
        { revision: revision.toString(), physical: true },
        ctx,
        true,
        "compact",
      );
    },
    watch,
    close() {
      for (const cancel of [...watches]) cancel();
      http.close();
    },
  };
}
