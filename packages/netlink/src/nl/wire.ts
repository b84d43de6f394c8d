/**
 * Netlink wire format: a growable little-endian writer for messages and (nested) attributes, and
 * the matching readers. Pure; no socket.
 * @internal
 */
import { NLA_HDRLEN, NLA_TYPE_MASK, NLMSG_HDRLEN } from "./constants.js";

/** Rounds up to the 4-byte netlink alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Builds the payload of one netlink message (family header + attributes). */
export class NlWriter {
  private buf: Buffer;
  private len = 0;

  constructor(capacity = 128) {
    // pooled and uninitialised: every byte is written (padding explicitly zeroed)
    this.buf = Buffer.allocUnsafe(capacity);
  }

  private reserve(n: number): number {
    const at = this.len;
    const need = at + n;
    if (need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(next, 0, 0, at);
      this.buf = next;
    }
    this.len = need;
    return at;
  }

  // Each writer reserves first and reads `this.buf` after: reserve() may replace the buffer.
  u8(v: number): this {
    const at = this.reserve(1);
    this.buf[at] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    const at = this.reserve(2);
    this.buf.writeUInt16LE(v, at);
    return this;
  }

  u32(v: number): this {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(v >>> 0, at);
    return this;
  }

  i32(v: number): this {
    const at = this.reserve(4);
    this.buf.writeInt32LE(v, at);
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
    return this;
  }

  /** Zero bytes up to the next 4-byte boundary. */
  pad(): this {
    const n = align4(this.len) - this.len;
    if (n > 0) {
      const at = this.reserve(n);
      this.buf.fill(0, at, at + n);
    }
    return this;
  }

  /** An attribute with a raw payload. */
  attr(type: number, payload: Uint8Array): this {
    this.u16(NLA_HDRLEN + payload.length)
      .u16(type)
      .bytes(payload);
    return this.pad();
  }

  attrU8(type: number, v: number): this {
    return this.u16(NLA_HDRLEN + 1)
      .u16(type)
      .u8(v)
      .pad();
  }

  attrU16be(type: number, v: number): this {
    this.u16(NLA_HDRLEN + 2).u16(type);
    const at = this.reserve(2);
    this.buf.writeUInt16BE(v, at);
    return this.pad();
  }

  attrU32(type: number, v: number): this {
    return this.u16(NLA_HDRLEN + 4)
      .u16(type)
      .u32(v);
  }

  /** A flag attribute (no payload). */
  attrFlag(type: number): this {
    return this.u16(NLA_HDRLEN).u16(type);
  }

  /** A NUL-terminated string attribute. */
  attrString(type: number, s: string): this {
    const b = Buffer.from(`${s}\0`, "utf8");
    return this.attr(type, b);
  }

  /** A nested attribute whose contents `fill` writes. */
  nest(type: number, fill: (w: this) => void): this {
    const at = this.reserve(NLA_HDRLEN);
    fill(this);
    this.buf.writeUInt16LE(this.len - at, at);
    this.buf.writeUInt16LE(type, at + 2);
    return this.pad();
  }

  /** The bytes written (a view; the writer is not used afterwards). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/** One parsed netlink message; `body` views the datagram (no copy). */
export interface NlMessage {
  readonly type: number;
  readonly flags: number;
  readonly seq: number;
  readonly pid: number;
  readonly body: Buffer;
}

/**
 * Splits a datagram into messages. A truncated trailing message ends the walk (the kernel never
 * sends one; a corrupt buffer must not throw from inside a socket callback).
 */
export function parseMessages(datagram: Buffer): NlMessage[] {
  const out: NlMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) break;
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      pid: datagram.readUInt32LE(off + 12),
      body: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

/** Writes a whole message (header + payload) into `target` at `off`; returns the next offset. */
export function writeMessage(
  target: Buffer,
  off: number,
  type: number,
  flags: number,
  seq: number,
  payload: Uint8Array,
): number {
  const len = NLMSG_HDRLEN + payload.length;
  target.writeUInt32LE(len, off);
  target.writeUInt16LE(type, off + 4);
  target.writeUInt16LE(flags, off + 6);
  target.writeUInt32LE(seq >>> 0, off + 8);
  target.writeUInt32LE(0, off + 12);
  target.set(payload, off + NLMSG_HDRLEN);
  const end = off + len;
  const aligned = align4(end);
  target.fill(0, end, aligned);
  return aligned;
}

/** Attributes by type (type bits only; the last occurrence wins). */
export type Attrs = Map<number, Buffer>;

/** Parses the attributes in `buf` starting at `off`. */
export function parseAttrs(buf: Buffer, off = 0): Attrs {
  const out: Attrs = new Map();
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  return out;
}

/**
 * Calls `fn` with each attribute's type (flag bits cleared), payload offset and payload length,
 * without allocating views: the hot path of decoding thousand-entry dumps.
 */
export function forEachAttr(
  buf: Buffer,
  start: number,
  fn: (type: number, off: number, len: number) => void,
): void {
  let off = start;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < NLA_HDRLEN || off + len > buf.length) break;
    fn(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, off + NLA_HDRLEN, len - NLA_HDRLEN);
    off += align4(len);
  }
}

export function attrString(b: Buffer | undefined): string | null {
  if (b === undefined) return null;
  const nul = b.indexOf(0);
  return b.toString("utf8", 0, nul < 0 ? b.length : nul);
}

export function attrU32(b: Buffer | undefined): number | null {
  return b === undefined || b.length < 4 ? null : b.readUInt32LE(0);
}

export function attrU8(b: Buffer | undefined): number | null {
  return b === undefined || b.length < 1 ? null : b.readUInt8(0);
}

export function attrU16be(b: Buffer | undefined): number | null {
  return b === undefined || b.length < 2 ? null : b.readUInt16BE(0);
}
