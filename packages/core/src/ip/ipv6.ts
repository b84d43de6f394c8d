import { FlannelError } from "../errors.js";
import { scanIPv4 } from "./ipv4.js";

/** The largest IPv6 address, `ffff:…:ffff`. */
export const IPV6_MAX = (1n << 128n) - 1n;

// Scratch space for the eight 16-bit groups; parsing is synchronous, so one buffer is enough.
const groups = new Uint16Array(8);

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
  if (!scanGroups(text, start, end)) return -1n;
  const g = groups;
  // Three exact-integer chunks (48 + 48 + 32 bits) keep the bigint work to a minimum.
  const a = (g[0]! * 0x10000 + g[1]!) * 0x10000 + g[2]!;
  const b = (g[3]! * 0x10000 + g[4]!) * 0x10000 + g[5]!;
  const c = g[6]! * 0x10000 + g[7]!;
  return (BigInt(a) << 80n) | (BigInt(b) << 32n) | BigInt(c);
}

function scanGroups(text: string, start: number, end: number): boolean {
  if (end - start < 2) return false;
  groups.fill(0);
  let n = 0; // groups written
  let ellipsis = -1; // group index where "::" stands
  let i = start;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return false;
    ellipsis = 0;
    i += 2;
    if (i === end) return true; // "::"
  }
  while (i < end) {
    let value = 0;
    let digits = 0;
    const groupStart = i;
    while (i < end && digits <= 4) {
      const c = text.charCodeAt(i);
      let d: number;
      if (c >= 48 && c <= 57) d = c - 48;
      else if (c >= 97 && c <= 102) d = c - 87;
      else if (c >= 65 && c <= 70) d = c - 55;
      else break;
      value = value * 16 + d;
      digits++;
      i++;
    }
    if (digits === 0 || digits > 4) return false;
    if (i < end && text.charCodeAt(i) === 46) {
      // Embedded IPv4 in the last 32 bits.
      if (n > 6 || (ellipsis < 0 && n !== 6)) return false;
      const v4 = scanIPv4(text, groupStart, end);
      if (v4 < 0) return false;
      groups[n++] = v4 >>> 16;
      groups[n++] = v4 & 0xffff;
      i = end;
      break;
    }
    if (n === 8) return false;
    groups[n++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== 58) return false; // any other character, zones included
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
  for (let k = 1; k <= tail; k++) {
    groups[8 - k] = groups[n - k]!;
  }
  for (let k = ellipsis; k < 8 - tail; k++) groups[k] = 0;
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
  return formatIPv6Words(
    Number(BigInt.asUintN(32, value >> 96n)),
    Number(BigInt.asUintN(32, value >> 64n)),
    Number(BigInt.asUintN(32, value >> 32n)),
    Number(BigInt.asUintN(32, value)),
  );
}

// Scratch for the eight groups being printed (synchronous, so one buffer is enough).
const out = new Int32Array(8);

/**
 * {@link formatIPv6} for an address given as four unsigned 32-bit words, most significant
 * first: the allocator's hot path prints candidates without building a `bigint`.
 * @internal
 */
export function formatIPv6Words(a: number, b: number, c: number, d: number): string {
  if (a === 0 && b === 0 && c === 0xffff) {
    return `::ffff:${d >>> 24}.${(d >>> 16) & 255}.${(d >>> 8) & 255}.${d & 255}`;
  }
  const g = out;
  g[0] = a >>> 16;
  g[1] = a & 0xffff;
  g[2] = b >>> 16;
  g[3] = b & 0xffff;
  g[4] = c >>> 16;
  g[5] = c & 0xffff;
  g[6] = d >>> 16;
  g[7] = d & 0xffff;
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
  let s = "";
  if (bestStart < 0) {
    s = g[0]!.toString(16);
    for (let k = 1; k < 8; k++) s += `:${g[k]!.toString(16)}`;
    return s;
  }
  for (let k = 0; k < bestStart; k++) s += k === 0 ? g[k]!.toString(16) : `:${g[k]!.toString(16)}`;
  s += "::";
  const tail = bestStart + bestLen;
  for (let k = tail; k < 8; k++) s += k === tail ? g[k]!.toString(16) : `:${g[k]!.toString(16)}`;
  return s;
}

/** True when `text` is a valid IPv6 address by {@link parseIPv6}'s rules. */
export function isIPv6(text: string): boolean {
  return scanGroups(text, 0, text.length);
}

/** @internal */
export function invalidIPv6(text: string): FlannelError {
  return new FlannelError("INVALID_IP", `invalid IPv6 address: ${JSON.stringify(text)}`, {
    details: { input: text },
  });
}
