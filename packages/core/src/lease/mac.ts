import { FlannelError } from "../errors.js";

const HEX = "0123456789abcdef";

function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

// Two hex digits at s[i], optionally followed by the separator `sep` (0 = end of group).
function byteAt(s: string, i: number, sep: number): number {
  if (i + 2 < s.length && sep !== 0 && s.charCodeAt(i + 2) !== sep) return -1;
  const hi = hexDigit(s.charCodeAt(i));
  const lo = hexDigit(s.charCodeAt(i + 1));
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/**
 * Parses a hardware address the way Go's `net.ParseMAC` (Go 1.25, which flannel v0.28 is built
 * with) does — `00:00:5e:00:53:01`, `00-00-5E-00-53-01` or `0000.5e00.5301`, 6, 8 or 20 bytes —
 * and returns Go's `HardwareAddr.String()` form: lower-case hex, colon separated. This is how
 * flannel reads a vxlan lease's `VtepMAC`.
 *
 * @throws FlannelError `INVALID_ARGUMENT` (`address <text>: invalid MAC address`, Go's text)
 * @example
 * ```ts
 * parseMacAddress("1E-38-19-E2-7E-3A"); // "1e:38:19:e2:7e:3a"
 * parseMacAddress("1e38.19e2.7e3a"); // "1e:38:19:e2:7e:3a"
 * ```
 */
export function parseMacAddress(text: string): string {
  const bytes = scanMac(text);
  if (bytes === null) {
    throw new FlannelError("INVALID_ARGUMENT", `address ${text}: invalid MAC address`, {
      details: { input: text },
    });
  }
  return bytes.map((b) => HEX[b >> 4]! + HEX[b & 15]!).join(":");
}

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
