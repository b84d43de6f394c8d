import { FlannelError } from "../errors.js";

/**
 * Parses dotted-quad IPv4 text into an unsigned 32-bit integer, with Go's `net.ParseIP` rules:
 * exactly four decimal fields, each 0–255, no leading zeros (`010.1.1.1` is refused, as Go ≥ 1.17
 * refuses it), no spaces, no shorthand (`10.1`).
 *
 * @throws FlannelError `INVALID_IP`
 * @example
 * ```ts
 * parseIPv4("10.0.0.1"); // 167772161
 * ```
 */
export function parseIPv4(text: string): number {
  const value = scanIPv4(text, 0, text.length);
  if (value < 0) throw invalidIPv4(text);
  return value;
}

/**
 * Scans `text[start, end)` as a dotted quad; returns the address or -1. Allocation-free so the
 * CIDR and subnet-key parsers can call it on a slice without copying.
 * @internal
 */
export function scanIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  // Octet rules (1–3 digits, ≤ 255, no leading zero) are checked once per octet, at its end.
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else if (c === 46) {
      if (dots === 3 || !validOctet(text, i, octet, digits)) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || !validOctet(text, end, octet, digits)) return -1;
  return value * 256 + octet;
}

/**
 * The prefix length found by the last successful {@link scanIPv4Cidr} (scans are synchronous).
 * @internal
 */
export let scannedPrefixLen = 0;

/**
 * Scans `a.b.c.d/n` in one pass (no separate search for the slash); returns the address and
 * leaves the prefix length in {@link scannedPrefixLen}, or returns -1. The prefix follows Go's
 * `dtoi`: digits only, leading zeros allowed, value ≤ 32.
 * @internal
 */
export function scanIPv4Cidr(text: string): number {
  const end = text.length;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else if (c === 46) {
      if (dots === 3 || !validOctet(text, i, octet, digits)) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c === 47) {
      break;
    } else {
      return -1;
    }
  }
  if (i === end || dots !== 3 || !validOctet(text, i, octet, digits)) return -1;
  value = value * 256 + octet;
  if (++i === end) return -1;
  let prefixLen = 0;
  for (; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    prefixLen = prefixLen * 10 + (c - 48);
    if (prefixLen > 32) return -1;
  }
  scannedPrefixLen = prefixLen;
  return value;
}

function validOctet(text: string, end: number, octet: number, digits: number): boolean {
  return (
    digits !== 0 &&
    digits <= 3 &&
    octet <= 255 &&
    (digits === 1 || text.charCodeAt(end - digits) !== 48)
  );
}

/**
 * Formats an unsigned 32-bit integer as dotted-quad text.
 *
 * @example
 * ```ts
 * formatIPv4(167772161); // "10.0.0.1"
 * ```
 */
export function formatIPv4(value: number): string {
  return (
    OCTET_DOT[value >>> 24]! +
    OCTET_DOT[(value >>> 16) & 255]! +
    OCTET_DOT[(value >>> 8) & 255]! +
    OCTET[value & 255]!
  );
}

// Octet texts looked up rather than converted: printing is on the allocator's hot path.
const OCTET = Array.from({ length: 256 }, (_, i) => String(i));
const OCTET_DOT = OCTET.map((o) => `${o}.`);

/**
 * True when `text` is a valid dotted quad by {@link parseIPv4}'s rules. Never throws.
 *
 * @example
 * ```ts
 * isIPv4("10.0.0.1"); // true
 * isIPv4("010.0.0.1"); // false (leading zero, refused as Go refuses it)
 * ```
 */
export function isIPv4(text: string): boolean {
  return scanIPv4(text, 0, text.length) >= 0;
}

/** @internal */
export function invalidIPv4(text: string): FlannelError {
  return new FlannelError("INVALID_IP", `invalid IPv4 address: ${JSON.stringify(text)}`, {
    details: { input: text },
  });
}
