/**
 * Address and MAC text ↔ wire bytes, on top of core's Go-compatible parsers.
 * @internal
 */
import {
  FlannelError,
  formatIPv4,
  formatIPv6,
  type IPFamily,
  parseCidr,
  parseIPv4,
  parseIPv6,
} from "@flannel-sdk/core";
import { AF_INET, AF_INET6 } from "./constants.js";

export function afOf(family: IPFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function familyOfAf(af: number): IPFamily | null {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : null;
}

/** Family and network-order bytes of an address text. @throws FlannelError `INVALID_IP` */
export function ipBytes(text: string): { family: IPFamily; bytes: Buffer } {
  if (text.includes(":")) {
    const v = parseIPv6(text);
    const b = Buffer.alloc(16);
    b.writeBigUInt64BE(v >> 64n, 0);
    b.writeBigUInt64BE(v & 0xffffffffffffffffn, 8);
    return { family: 6, bytes: b };
  }
  const b = Buffer.alloc(4);
  b.writeUInt32BE(parseIPv4(text), 0);
  return { family: 4, bytes: b };
}

/** Address text of the `len` bytes at `off` (4 or 16); `null` for any other length. */
export function ipTextAt(b: Buffer, off: number, len: number): string | null {
  if (len === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  if (len === 16) {
    return formatIPv6((b.readBigUInt64BE(off) << 64n) | b.readBigUInt64BE(off + 8));
  }
  return null;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case colon text of the `len`-byte hardware address at `off`; `null` when empty. */
export function macTextAt(b: Buffer, off: number, len: number): string | null {
  if (len <= 0) return null;
  let s = HEX[b[off]!]!;
  for (let i = 1; i < len; i++) s += `:${HEX[b[off + i]!]}`;
  return s;
}

/** Address text of 4 or 16 network-order bytes; `null` for any other length. */
export function ipText(b: Buffer | undefined): string | null {
  if (b === undefined) return null;
  if (b.length === 4) return formatIPv4(b.readUInt32BE(0));
  if (b.length === 16) return formatIPv6((b.readBigUInt64BE(0) << 64n) | b.readBigUInt64BE(8));
  return null;
}

/** A CIDR's family, address bytes (host bits kept), prefix length and canonical text. */
export function cidrParts(text: string): {
  family: IPFamily;
  bytes: Buffer;
  prefixLen: number;
  ip: string;
  cidr: string;
} {
  const net = parseCidr(text);
  const ip = net.ipString;
  return {
    family: net.family,
    bytes: ipBytes(ip).bytes,
    prefixLen: net.prefixLen,
    ip,
    cidr: `${ip}/${net.prefixLen}`,
  };
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Six bytes of `aa:bb:cc:dd:ee:ff`. @throws FlannelError `INVALID_ARGUMENT` */
export function macBytes(text: string): Buffer {
  if (!MAC_RE.test(text)) {
    throw new FlannelError("INVALID_ARGUMENT", `invalid MAC address: ${text}`, {
      field: "mac",
      details: { input: text },
    });
  }
  return Buffer.from(text.replaceAll(":", ""), "hex");
}

/** Lower-case colon text of a hardware address. */
export function macText(b: Buffer | undefined): string | null {
  return b === undefined ? null : macTextAt(b, 0, b.length);
}
