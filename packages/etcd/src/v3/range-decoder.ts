/**
 * A decoder of etcd's `RangeResponse` wire bytes that keeps only what a lease listing needs —
 * key, value, lease ID and mod revision of each key, the header revision and `more` — straight
 * into `bigint`s. The generic path (protobufjs decode, proto-loader's `toObject` turning every
 * int64 into a decimal string, then `BigInt` of it) costs about as much again as the listing
 * itself at 10,000 leases. Wire format: https://protobuf.dev/programming-guides/encoding/.
 */
import type { KeyValue, RangePage } from "./wire.js";

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  /** A varint that fits 32 bits (tags, lengths). */
  uint32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError("truncated varint");
      const b = this.buf[this.pos++]!;
      if (shift < 28) result |= (b & 0x7f) << shift;
      else if (shift === 28) result += (b & 0x0f) * 2 ** 28;
      if (b < 0x80) return result >>> 0;
      shift += 7;
      if (shift > 63) throw new RangeError("varint too long");
    }
  }

  /** A varint as a signed 64-bit integer (etcd's int64). */
  int64(): bigint {
    let lo = 0;
    let hi = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError("truncated varint");
      const b = this.buf[this.pos++]!;
      const bits = b & 0x7f;
      if (shift < 28) {
        lo |= bits << shift;
      } else if (shift === 28) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else {
        hi |= bits << (shift - 32);
      }
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw new RangeError("varint too long");
    }
    if (hi === 0) return BigInt(lo >>> 0);
    return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0));
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        while (this.buf[this.pos++]! >= 0x80) if (this.pos > this.end) break;
        break;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos += this.uint32();
        break;
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RangeError("truncated field");
  }
}

function decodeKeyValue(r: Reader, end: number): KeyValue {
  let key = "";
  let value: Buffer = Buffer.alloc(0);
  let lease = 0n;
  let modRevision = 0n;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const len = r.uint32();
      key = r.buf.toString("utf8", r.pos, r.pos + len);
      r.pos += len;
    } else if (field === 5 && wire === 2) {
      const len = r.uint32();
      value = r.buf.subarray(r.pos, r.pos + len);
      r.pos += len;
    } else if (field === 3 && wire === 0) {
      modRevision = r.int64();
    } else if (field === 6 && wire === 0) {
      lease = r.int64();
    } else {
      r.skip(wire);
    }
  }
  if (r.pos !== end) throw new RangeError("malformed KeyValue");
  return { key, value, lease, modRevision };
}

/**
 * Decodes the wire bytes of an etcd `RangeResponse`.
 * @throws RangeError on malformed input (the call then fails like any transport error).
 * @example
 * ```ts
 * const { kvs, revision, more } = decodeRangeResponse(bytes);
 * ```
 */
export function decodeRangeResponse(buf: Buffer): RangePage {
  const r = new Reader(buf, 0, buf.length);
  let revision = 0n;
  let more = false;
  const kvs: KeyValue[] = [];
  while (r.pos < r.end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      // ResponseHeader: revision is field 3.
      const end = r.pos + r.uint32();
      while (r.pos < end) {
        const t = r.uint32();
        if (t >>> 3 === 3 && (t & 7) === 0) revision = r.int64();
        else r.skip(t & 7);
      }
    } else if (field === 2 && wire === 2) {
      const len = r.uint32();
      kvs.push(decodeKeyValue(r, r.pos + len));
    } else if (field === 3 && wire === 0) {
      more = r.uint32() !== 0;
    } else {
      r.skip(wire);
    }
  }
  return { revision, more, kvs };
}
