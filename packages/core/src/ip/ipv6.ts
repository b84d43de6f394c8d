import { FlannelError } from "../errors.js";
import { scanIPv4 } from "./ipv4.js";

/**
 * The largest IPv6 address, `ffff:…:ffff`, as a `bigint`: the all-ones mask of 128 bits.
 *
 * @example
 * ```ts
 * formatIPv6(IPV6_MAX); // "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
 * ```
 */
export const IPV6_MAX = (1n << 128n) - 1n;

/**
 * Scratch space for the eight 16-bit groups of the last successful {@link scanIPv6Groups};
 * parsing is synchronous, so one buffer is enough.
 * @internal
 */
export const groups = new Uint16Array(8);

/**
 * Parses IPv6 text into a 128-bit `bigint`, with Go's `netip.ParseAddr` rules: one to four hex
 * digits per group (either case), at most one `::`, an optional embedded dotted quad in the last
 * 32 bits. Zones (`fe80::1%eth0`) are refused: no flannel field gives them a meaning.
 *
 * @throws FlannelError `INVALID_IP`
 * @example
 * ```ts
 * parseIPv6("fc00::1"); // 0xfc000000000000000000000000000001n
 * ```
 */
export function parseIPv6(text: string): bigint {
  const value = scanIPv6(text, 0, text.length);
  if (value < 0n) throw invalidIPv6(text);
  return value;
}

/**
 * Scans `text[start, end)` as IPv6; returns the address or -1n.
 * @internal
 */
export function scanIPv6(text: string, start: number, end: number): bigint {
  if (!scanIPv6Groups(text, start, end)) return -1n;
  return groupsToBigInt();
}

// A 16-byte buffer seen as eight uint16 and as two uint64: moving a 128-bit value between
// groups and a bigint then takes two bigint conversions and one shift, not a dozen.
const buffer = new ArrayBuffer(16);
const half16 = new Uint16Array(buffer);
const half64 = new BigUint64Array(buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
// Index, in half16, of group k (most significant first), and the halves in half64.
const SLOT = LITTLE_ENDIAN ? [7, 6, 5, 4, 3, 2, 1, 0] : [0, 1, 2, 3, 4, 5, 6, 7];
const HI = LITTLE_ENDIAN ? 1 : 0;
const LO = 1 - HI;

/** The address in {@link groups} as a `bigint`. @internal */
export function groupsToBigInt(): bigint {
  const g = groups;
  const h = half16;
  for (let k = 0; k < 8; k++) h[SLOT[k]!] = g[k]!;
  return (half64[HI]! << 64n) | half64[LO]!;
}

/** Writes a 128-bit value into {@link groups}. @internal */
export function bigIntToGroups(value: bigint): Uint16Array {
  half64[LO] = value; // the setter keeps the low 64 bits
  half64[HI] = value >> 64n;
  const g = groups;
  const h = half16;
  for (let k = 0; k < 8; k++) g[k] = h[SLOT[k]!]!;
  return g;
}

/**
 * Scans `text[start, end)` as IPv6 into {@link groups}; false when it is not an address.
 * @internal
 */
export function scanIPv6Groups(text: string, start: number, end: number): boolean {
  if (end - start < 2) return false;
  const g = groups;
  let n = 0; // groups written
  let ellipsis = -1; // group index where "::" stands
  let i = start;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    ellipsis = 0;
    i += 2;
    if (i === end) {
      g.fill(0);
      return true; // "::"
    }
  }
  while (i < end) {
    let value = 0;
    let digits = 0;
    let c = 0;
    const groupStart = i;
    while (i < end) {
      c = text.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      if (++digits > 4) return false;
      value = (value << 4) | d;
      i++;
    }
    if (digits === 0) return false;
    if (i < end && c === 46) {
      // Embedded IPv4 in the last 32 bits.
      if (n > 6 || (ellipsis < 0 && n !== 6)) return false;
      const v4 = scanIPv4(text, groupStart, end);
      if (v4 < 0) return false;
      g[n++] = v4 >>> 16;
      g[n++] = v4 & 0xffff;
      break;
    }
    if (n === 8) return false;
    g[n++] = value;
    if (i === end) break;
    if (c !== 58) return false; // any other character, zones included
    i++;
    if (i < end && text.charCodeAt(i) === 58) {
      if (ellipsis >= 0) return false;
      ellipsis = n;
      i++;
      if (i === end) break;
    } else if (i === end) {
      return false; // trailing single colon
    }
  }
  if (ellipsis < 0) return n === 8;
  if (n === 8) return false; // "::" must stand for at least one group
  const tail = n - ellipsis;
  for (let k = 1; k <= tail; k++) g[8 - k] = g[n - k]!;
  for (let k = ellipsis; k < 8 - tail; k++) g[k] = 0;
  return true;
}

/**
 * Formats a 128-bit address the way Go prints it (RFC 5952): lower-case hex, leading zeros
 * dropped, the longest run (first on a tie) of two or more zero groups written `::`, and an
 * IPv4-mapped address as `::ffff:a.b.c.d`.
 *
 * @example
 * ```ts
 * formatIPv6(0xfc000000000000010000000000000000n); // "fc00:0:0:1::"
 * ```
 */
export function formatIPv6(value: bigint): string {
  return formatIPv6Groups(bigIntToGroups(value));
}

// Scratch for the eight groups being printed (synchronous, so one buffer is enough).
const out = new Uint16Array(8);

/**
 * {@link formatIPv6} for an address given as four unsigned 32-bit words, most significant
 * first: the allocator's hot path prints candidates without building a `bigint`.
 * @internal
 */
export function formatIPv6Words(a: number, b: number, c: number, d: number): string {
  const g = out;
  g[0] = a >>> 16;
  g[1] = a & 0xffff;
  g[2] = b >>> 16;
  g[3] = b & 0xffff;
  g[4] = c >>> 16;
  g[5] = c & 0xffff;
  g[6] = d >>> 16;
  g[7] = d & 0xffff;
  return formatIPv6Groups(g);
}

// Hex text of a byte, bare and zero-padded: a group prints as at most one concatenation, which
// is faster than Number.prototype.toString(16).
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16));
const HEX2 = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const hex = (x: number): string => (x < 256 ? HEX[x]! : HEX[x >>> 8]! + HEX2[x & 255]!);

/**
 * {@link formatIPv6} for an address given as eight 16-bit groups.
 * @internal
 */
export function formatIPv6Groups(g: Uint16Array): string {
  const g0 = g[0]!;
  if ((g0 | g[1]! | g[2]! | g[3]! | g[4]!) === 0 && g[5] === 0xffff) {
    const hi = g[6]!;
    const lo = g[7]!;
    return `::ffff:${hi >>> 8}.${hi & 255}.${lo >>> 8}.${lo & 255}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  let runStart = -1;
  for (let k = 0; k < 8; k++) {
    if (g[k] === 0) {
      if (runStart < 0) runStart = k;
      if (k - runStart + 1 > bestLen) {
        bestLen = k - runStart + 1;
        bestStart = runStart;
      }
    } else {
      runStart = -1;
    }
  }
  let s: string;
  if (bestStart < 0) {
    s = hex(g0);
    for (let k = 1; k < 8; k++) s += `:${hex(g[k]!)}`;
    return s;
  }
  s = "";
  for (let k = 0; k < bestStart; k++) s += k === 0 ? hex(g0) : `:${hex(g[k]!)}`;
  s += "::";
  const tail = bestStart + bestLen;
  for (let k = tail; k < 8; k++) s += k === tail ? hex(g[k]!) : `:${hex(g[k]!)}`;
  return s;
}

/**
 * True when `text` is a valid IPv6 address by {@link parseIPv6}'s rules. Never throws.
 *
 * @example
 * ```ts
 * isIPv6("fc00::1"); // true
 * isIPv6("fe80::1%eth0"); // false (no zones)
 * ```
 */
export function isIPv6(text: string): boolean {
  return scanIPv6Groups(text, 0, text.length);
}

/** @internal */
export function invalidIPv6(text: string): FlannelError {
  return new FlannelError("INVALID_IP", `invalid IPv6 address: ${JSON.stringify(text)}`, {
    details: { input: text },
  });
}
