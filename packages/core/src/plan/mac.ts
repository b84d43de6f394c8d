import { FlannelError } from "../errors.js";
import { printable } from "./input.js";

const CANONICAL = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function byteAt(text: string, at: number): number {
  const hi = hexValue(text.charCodeAt(at));
  const lo = hexValue(text.charCodeAt(at + 1));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

/**
 * Parses a 48-bit MAC the way Go's `net.ParseMAC` reads the forms flannel writes and accepts
 * (`3a:b9:84:c3:57:7c`, `3A-B9-84-C3-57-7C`, `3ab9.84c3.577c`; one separator throughout), or
 * returns `null`. 64-bit and InfiniBand forms are refused: a vxlan VTEP has a 48-bit MAC.
 */
function scanMAC(text: string): number[] | null {
  const bytes: number[] = [];
  if (text.length === 17) {
    const sep = text[2];
    if (sep !== ":" && sep !== "-") return null;
    for (let i = 0; i < 6; i++) {
      const at = i * 3;
      if (i < 5 && text[at + 2] !== sep) return null;
      const b = byteAt(text, at);
      if (b < 0) return null;
      bytes.push(b);
    }
    return bytes;
  }
  if (text.length === 14) {
    for (let i = 0; i < 3; i++) {
      const at = i * 5;
      if (i < 2 && text[at + 4] !== ".") return null;
      const hi = byteAt(text, at);
      const lo = byteAt(text, at + 2);
      if (hi < 0 || lo < 0) return null;
      bytes.push(hi, lo);
    }
    return bytes;
  }
  return null;
}

/**
 * Canonical text of a 48-bit MAC address: lower-case, colon-separated, as the kernel and
 * `ip`/`bridge` print it. Accepts Go's `net.ParseMAC` spellings of a 48-bit address.
 *
 * @throws FlannelError `INVALID_ARGUMENT` when the text is not a 48-bit MAC.
 * @example
 * ```ts
 * canonicalMAC("3A-B9-84-C3-57-7C"); // "3a:b9:84:c3:57:7c"
 * ```
 */
export function canonicalMAC(text: string): string {
  if (typeof text === "string" && CANONICAL.test(text)) return text;
  const bytes = typeof text === "string" ? scanMAC(text) : null;
  if (bytes === null) {
    throw new FlannelError("INVALID_ARGUMENT", `address ${printable(text)}: invalid MAC address`, {
      details: { input: text },
    });
  }
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

/**
 * True when a canonical MAC can name a VTEP: not all-zero and not a group (multicast or
 * broadcast) address, whose first byte has its lowest bit set.
 * @internal
 */
export function isUnicastMAC(mac: string): boolean {
  return mac !== "00:00:00:00:00:00" && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0;
}
