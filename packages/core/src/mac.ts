/**
 * Hardware (MAC) addresses, read the way Go's `net.ParseMAC` reads them. One scanner serves the
 * two public entry points: {@link parseMacAddress} (every length Go accepts: lease values) and
 * {@link canonicalMAC} (48-bit only: what a vxlan VTEP and `ip`/`bridge` take).
 */

import { FlannelError, printable } from "./errors.js";

const HEX = "0123456789abcdef";
const CANONICAL_48 = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// Two hex digits at s[i], followed by the separator `sep` unless at the end (0 = no separator).
function byteAt(s: string, i: number, sep: number): number {
  if (i + 2 < s.length && sep !== 0 && s.charCodeAt(i + 2) !== sep) return -1;
  const hi = hexDigit(s.charCodeAt(i));
  const lo = hexDigit(s.charCodeAt(i + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/**
 * Go's `net.ParseMAC` (Go 1.25, which flannel v0.28 is built with): `00:00:5e:00:53:01`,
 * `00-00-5E-00-53-01` or `0000.5e00.5301`, one separator throughout, 6, 8 or 20 bytes; the
 * bytes, or `null`.
 */
function scanMac(s: string): number[] | null {
  if (s.length < 14) return null;
  const out: number[] = [];
  const sep2 = s.charCodeAt(2);
  if (sep2 === 0x3a || sep2 === 0x2d) {
    if ((s.length + 1) % 3 !== 0) return null;
    const n = (s.length + 1) / 3;
    if (n !== 6 && n !== 8 && n !== 20) return null;
    for (let i = 0, x = 0; i < n; i++, x += 3) {
      const b = byteAt(s, x, sep2);
      if (b < 0) return null;
      out.push(b);
    }
    return out;
  }
  if (s.charCodeAt(4) === 0x2e) {
    if ((s.length + 1) % 5 !== 0) return null;
    const n = (2 * (s.length + 1)) / 5;
    if (n !== 6 && n !== 8 && n !== 20) return null;
    for (let i = 0, x = 0; i < n; i += 2, x += 5) {
      const hi = byteAt(s, x, 0);
      const lo = byteAt(s, x + 2, 0x2e);
      if (hi < 0 || lo < 0) return null;
      out.push(hi, lo);
    }
    return out;
  }
  return null;
}

function invalidMac(text: unknown): FlannelError {
  return new FlannelError("INVALID_ARGUMENT", `address ${printable(text)}: invalid MAC address`, {
    details: { input: text },
  });
}

function format(bytes: readonly number[]): string {
  return bytes.map((b) => HEX[b >> 4]! + HEX[b & 15]!).join(":");
}

/**
 * Parses a hardware address the way Go's `net.ParseMAC` does — `00:00:5e:00:53:01`,
 * `00-00-5E-00-53-01` or `0000.5e00.5301`, 6, 8 or 20 bytes — and returns Go's
 * `HardwareAddr.String()` form: lower-case hex, colon separated. This is how flannel reads a
 * vxlan lease's `VtepMAC`, and what {@link parseLeaseAttrs} uses. Use it to read a MAC as
 * flannel would accept it; use {@link canonicalMAC} where the address must be a 48-bit MAC
 * (a device or FDB entry).
 *
 * @throws FlannelError `INVALID_ARGUMENT` (`address <text>: invalid MAC address`, Go's text)
 * @example
 * ```ts
 * parseMacAddress("1E-38-19-E2-7E-3A"); // "1e:38:19:e2:7e:3a"
 * parseMacAddress("0200.5e10.0000.0001"); // "02:00:5e:10:00:00:00:01" (EUI-64)
 * ```
 */
export function parseMacAddress(text: string): string {
  const bytes = typeof text === "string" ? scanMac(text) : null;
  if (bytes === null) throw invalidMac(text);
  return format(bytes);
}

/**
 * Canonical text of a 48-bit MAC address: lower-case, colon-separated, as the kernel and
 * `ip`/`bridge` print it. Accepts Go's `net.ParseMAC` spellings of a 48-bit address; the 8- and
 * 20-byte forms {@link parseMacAddress} accepts are refused, since a vxlan VTEP, a neighbour
 * entry and an FDB entry all take a 48-bit MAC. The planners and `planToCommands` use it.
 *
 * @throws FlannelError `INVALID_ARGUMENT` when the text is not a 48-bit MAC.
 * @example
 * ```ts
 * canonicalMAC("3A-B9-84-C3-57-7C"); // "3a:b9:84:c3:57:7c"
 * ```
 */
export function canonicalMAC(text: string): string {
  if (typeof text !== "string") throw invalidMac(text);
  if (CANONICAL_48.test(text)) return text;
  const bytes = scanMac(text);
  if (bytes === null || bytes.length !== 6) throw invalidMac(text);
  return format(bytes);
}

/**
 * True when a canonical MAC can name a VTEP: not all-zero and not a group (multicast or
 * broadcast) address, whose first byte has its lowest bit set.
 * @internal
 */
export function isUnicastMAC(mac: string): boolean {
  return mac !== "00:00:00:00:00:00" && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}
