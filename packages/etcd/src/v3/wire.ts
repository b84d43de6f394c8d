/**
 * etcd v3 messages as both transports carry them. etcd's gRPC API and its JSON gateway take the
 * same messages with etcd's own field names (`range_end`, `mod_revision`, `prev_kv`…); they
 * differ only in how bytes travel (a Buffer on gRPC, base64 text in JSON) and in whether unset
 * fields are sent (gRPC through `etcd3` fills defaults, JSON leaves them out). This module
 * builds requests and reads responses once, given a {@link BytesCodec}, with `bigint` for every
 * int64.
 */
import { Buffer } from "node:buffer";

/** Key or value bytes: a string is UTF-8. */
export type Bytes = string | Uint8Array;

/** A key-value pair as read from etcd, with 64-bit fields as `bigint`. */
export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  /** The etcd lease the key is attached to; `0n` for none. */
  readonly lease: bigint;
  readonly modRevision: bigint;
}

/**
 * One condition of a txn: the key's `version` (0 = absent), `create` revision, `mod` revision
 * or `lease` compared with `value`.
 */
export interface TxnCompare {
  readonly key: Bytes;
  readonly target: "version" | "create" | "mod" | "lease";
  /** Default `"equal"`. */
  readonly result?: "equal" | "greater" | "less" | "not_equal";
  readonly value: bigint;
}

/** A range request (`KV.Range`), or one inside a txn. */
export interface RangeRequestOp {
  readonly key: Bytes;
  readonly range_end?: Bytes;
  readonly limit?: number;
  readonly revision?: bigint;
  readonly keys_only?: boolean;
  readonly count_only?: boolean;
}

/** A put inside a txn. */
export interface PutRequestOp {
  readonly key: Bytes;
  readonly value: Bytes;
  /** The etcd lease to attach the key to; `0n` (default) for none. */
  readonly lease?: bigint;
  readonly prev_kv?: boolean;
}

/** A delete inside a txn. */
export interface DeleteRangeRequestOp {
  readonly key: Bytes;
  readonly range_end?: Bytes;
  readonly prev_kv?: boolean;
}

/** One operation of a txn, with etcd's own field names. */
export type TxnRequestOp =
  | { readonly request_range: RangeRequestOp }
  | { readonly request_put: PutRequestOp }
  | { readonly request_delete_range: DeleteRangeRequestOp };

/** The result of one operation of a txn (the one that matches its request is set). */
export interface TxnResponseOp {
  readonly response_range?: { readonly kvs: readonly KeyValue[]; readonly more: boolean };
  readonly response_put?: { readonly prev_kv: KeyValue | null };
  readonly response_delete_range?: {
    readonly deleted: bigint;
    readonly prev_kvs: readonly KeyValue[];
  };
}

/** The result of a txn. */
export interface TxnResult {
  readonly succeeded: boolean;
  readonly revision: bigint;
  readonly responses: readonly TxnResponseOp[];
}

/** A page of a range: key-values in key order, the header revision, and whether more follow. */
export interface RangePage {
  readonly revision: bigint;
  readonly more: boolean;
  readonly kvs: KeyValue[];
}

/** One change seen by a watch. */
export interface RawEvent {
  readonly type: "put" | "delete";
  readonly kv: KeyValue;
  /** The value before the change (etcd `prev_kv`), when etcd still had it. */
  readonly prevKv: KeyValue | null;
}

/** What a watch is asked to watch. */
export interface WatchCreate {
  readonly key: string;
  /** Range end for a prefix watch, else a single key. */
  readonly rangeEnd?: Buffer;
  readonly startRevision: bigint;
}

/** One response of a watch stream. */
export interface WatchResponse {
  readonly revision: bigint;
  readonly created: boolean;
  readonly canceled: boolean;
  /** Non-zero when the watch was canceled because its start revision was compacted. */
  readonly compactRevision: bigint;
  readonly cancelReason: string;
  readonly events: readonly RawEvent[];
}

/** How a transport carries bytes. */
export interface BytesCodec {
  encode(bytes: Buffer): unknown;
  decode(wire: unknown): Buffer;
}

const EMPTY = Buffer.alloc(0);

/** Bytes as `etcd3` (protobufjs) takes and gives them: Buffers. */
export const bufferCodec: BytesCodec = {
  encode: (bytes) => bytes,
  decode: (wire) =>
    Buffer.isBuffer(wire) ? wire : wire instanceof Uint8Array ? Buffer.from(wire) : EMPTY,
};

/** Bytes as the JSON gateway takes and gives them: base64 text. */
export const base64Codec: BytesCodec = {
  encode: (bytes) => bytes.toString("base64"),
  decode: (wire) => (typeof wire === "string" && wire !== "" ? Buffer.from(wire, "base64") : EMPTY),
};

/** A string as UTF-8 bytes; bytes as a Buffer (no copy). */
export function toBuffer(bytes: Bytes): Buffer {
  if (typeof bytes === "string") return Buffer.from(bytes);
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** The range end that covers every key starting with `prefix` (etcd's `GetPrefixRangeEnd`). */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Builds compares for a txn. */
export const compare = {
  /** `version(key) == n` (0 = absent). */
  version: (key: string, version: bigint): TxnCompare => ({
    key,
    target: "version",
    value: version,
  }),
  /** `mod_revision(key) == rev` (0 = absent). */
  modRevision: (key: string, revision: bigint): TxnCompare => ({
    key,
    target: "mod",
    value: revision,
  }),
};

/** Builds operations for a txn. */
export const op = {
  put: (key: string, value: Bytes, lease: bigint = 0n): TxnRequestOp => ({
    request_put: { key, value, lease },
  }),
  delete: (key: string, prevKv = false): TxnRequestOp => ({
    request_delete_range: { key, ...(prevKv ? { prev_kv: true } : {}) },
  }),
  get: (key: string): TxnRequestOp => ({ request_range: { key } }),
  getPrefix: (prefix: string): TxnRequestOp => ({
    request_range: { key: prefix, range_end: prefixEnd(prefix) },
  }),
};

// etcd's enums, by number (both transports take numbers).
const TARGET = { version: 0, create: 1, mod: 2, lease: 4 } as const;
const TARGET_FIELD = {
  version: "version",
  create: "create_revision",
  mod: "mod_revision",
  lease: "lease",
} as const;
const RESULT = { equal: 0, greater: 1, less: 2, not_equal: 3 } as const;

type Wire = Record<string, unknown>;

/** A `RangeRequest` on the wire. */
export function encodeRange(r: RangeRequestOp, codec: BytesCodec): Wire {
  const wire: Wire = { key: codec.encode(toBuffer(r.key)) };
  if (r.range_end !== undefined) wire.range_end = codec.encode(toBuffer(r.range_end));
  if (r.limit !== undefined) wire.limit = String(r.limit);
  if (r.revision !== undefined) wire.revision = r.revision.toString();
  if (r.keys_only) wire.keys_only = true;
  if (r.count_only) wire.count_only = true;
  return wire;
}

function encodeOp(o: TxnRequestOp, codec: BytesCodec): Wire {
  if ("request_range" in o) return { request_range: encodeRange(o.request_range, codec) };
  if ("request_put" in o) {
    const p = o.request_put;
    return {
      request_put: {
        key: codec.encode(toBuffer(p.key)),
        value: codec.encode(toBuffer(p.value)),
        ...(p.lease ? { lease: p.lease.toString() } : {}),
        ...(p.prev_kv ? { prev_kv: true } : {}),
      },
    };
  }
  const d = o.request_delete_range;
  return {
    request_delete_range: {
      key: codec.encode(toBuffer(d.key)),
      ...(d.range_end !== undefined ? { range_end: codec.encode(toBuffer(d.range_end)) } : {}),
      ...(d.prev_kv ? { prev_kv: true } : {}),
    },
  };
}

/** A `TxnRequest` on the wire. */
export function encodeTxn(
  compares: readonly TxnCompare[],
  success: readonly TxnRequestOp[],
  failure: readonly TxnRequestOp[],
  codec: BytesCodec,
): Wire {
  return {
    compare: compares.map((c) => ({
      key: codec.encode(toBuffer(c.key)),
      target: TARGET[c.target],
      result: RESULT[c.result ?? "equal"],
      [TARGET_FIELD[c.target]]: c.value.toString(),
    })),
    success: success.map((o) => encodeOp(o, codec)),
    failure: failure.map((o) => encodeOp(o, codec)),
  };
}

/** A `WatchRequest` creating a watch (progress notifications and previous values on). */
export function encodeWatchCreate(create: WatchCreate, codec: BytesCodec): Wire {
  return {
    create_request: {
      key: codec.encode(Buffer.from(create.key)),
      ...(create.rangeEnd ? { range_end: codec.encode(create.rangeEnd) } : {}),
      start_revision: create.startRevision.toString(),
      progress_notify: true,
      prev_kv: true,
    },
  };
}

/** An int64 as a transport gives it (decimal text, a number, or absent). */
export function int64(wire: unknown): bigint {
  if (typeof wire === "string" && wire !== "") return BigInt(wire);
  if (typeof wire === "number" || typeof wire === "bigint") return BigInt(wire);
  return 0n;
}

function obj(wire: unknown): Wire {
  return typeof wire === "object" && wire !== null ? (wire as Wire) : {};
}

function list(wire: unknown): unknown[] {
  return Array.isArray(wire) ? wire : [];
}

/** The header revision of a response. */
export function headerRevision(wire: unknown): bigint {
  return int64(obj(obj(wire).header).revision);
}

/** A `KeyValue` from the wire. */
export function decodeKv(wire: unknown, codec: BytesCodec): KeyValue {
  const kv = obj(wire);
  return {
    key: codec.decode(kv.key).toString(),
    value: codec.decode(kv.value),
    lease: int64(kv.lease),
    modRevision: int64(kv.mod_revision),
  };
}

/** A `RangeResponse` from the wire. */
export function decodeRange(wire: unknown, codec: BytesCodec): RangePage {
  const r = obj(wire);
  return {
    revision: headerRevision(r),
    more: r.more === true,
    kvs: list(r.kvs).map((kv) => decodeKv(kv, codec)),
  };
}

/** A `TxnResponse` from the wire. */
export function decodeTxn(wire: unknown, codec: BytesCodec): TxnResult {
  const r = obj(wire);
  return {
    succeeded: r.succeeded === true,
    revision: headerRevision(r),
    responses: list(r.responses).map((raw) => {
      const o = obj(raw);
      if (o.response_range !== undefined) {
        const range = obj(o.response_range);
        return {
          response_range: {
            kvs: list(range.kvs).map((kv) => decodeKv(kv, codec)),
            more: range.more === true,
          },
        };
      }
      if (o.response_delete_range !== undefined) {
        const del = obj(o.response_delete_range);
        return {
          response_delete_range: {
            deleted: int64(del.deleted),
            prev_kvs: list(del.prev_kvs).map((kv) => decodeKv(kv, codec)),
          },
        };
      }
      if (o.response_put !== undefined) {
        const prev = obj(o.response_put).prev_kv;
        return { response_put: { prev_kv: prev ? decodeKv(prev, codec) : null } };
      }
      return {};
    }),
  };
}

/** A `WatchResponse` from the wire (event type `PUT` = 0 is left out in JSON). */
export function decodeWatchResponse(wire: unknown, codec: BytesCodec): WatchResponse {
  const r = obj(wire);
  return {
    revision: headerRevision(r),
    created: r.created === true,
    canceled: r.canceled === true,
    compactRevision: int64(r.compact_revision),
    cancelReason: typeof r.cancel_reason === "string" ? r.cancel_reason : "",
    events: list(r.events).map((raw) => {
      const ev = obj(raw);
      const type = ev.type;
      return {
        type: type === "DELETE" || type === "Delete" || type === 1 ? "delete" : "put",
        kv: decodeKv(ev.kv, codec),
        prevKv: ev.prev_kv ? decodeKv(ev.prev_kv, codec) : null,
      };
    }),
  };
}
