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
  let first = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      else if (first === 48) return -1; // leading zero
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else {
      return -1;
    }
  }
  if (digits === 0 || dots !== 3) return -1;
  return value * 256 + octet;
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

/** True when `text` is a valid dotted quad by {@link parseIPv4}'s rules. */
export function isIPv4(text: string): boolean {
  return scanIPv4(text, 0, text.length) >= 0;
}

/** @internal */
export function invalidIPv4(text: string): FlannelError {
  return new FlannelError("INVALID_IP", `invalid IPv4 address: ${JSON.stringify(text)}`, {
    details: { input: text },
  });
}
