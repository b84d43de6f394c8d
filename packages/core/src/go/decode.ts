/**
 * flannel's address decoders (`ip.IP4Net`, `ip.IP6Net`, `ip.IP4`, `ip.IP6` `UnmarshalJSON`) on
 * top of Go's `net.ParseCIDR` / `net.ParseIP`, and Go's integer parsing, with Go's error texts.
 * The network config and lease values both decode flannel's address types through these.
 * @internal
 */

import { ipv4Mask, scanPrefix } from "../ip/ip4net.js";
import { ipv6Mask } from "../ip/ip6net.js";
import { formatIPv4, scanIPv4 } from "../ip/ipv4.js";
import { formatIPv6, IPV6_MAX, scanIPv6 } from "../ip/ipv6.js";
import { toWellFormed } from "./text.js";

/** The value or Go's error text. @internal */
export type GoResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

const V4_MAPPED = 0xffff_0000_0000n;

interface ParsedCidr {
  /** Masked address; IPv4 text gives a 32-bit number, IPv6 text a 128-bit bigint. */
  readonly ip: number | bigint;
  readonly prefixLen: number;
}

/** Go's `net.ParseCIDR`, network part only: `null` where Go returns a ParseError. */
function parseCidr(text: string): ParsedCidr | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const v4 = scanIPv4(text, 0, slash);
  if (v4 >= 0) {
    const prefixLen = scanPrefix(text, slash + 1, 32);
    if (prefixLen < 0) return null;
    return { ip: (v4 & ipv4Mask(prefixLen)) >>> 0, prefixLen };
  }
  const v6 = scanIPv6(text, 0, slash);
  if (v6 < 0n) return null;
  const prefixLen = scanPrefix(text, slash + 1, 128);
  if (prefixLen < 0) return null;
  return { ip: v6 & ipv6Mask(prefixLen), prefixLen };
}

/**
 * flannel's `IP4Net.UnmarshalJSON` on the raw JSON text. An IPv6 CIDR whose masked address is
 * IPv4-mapped passes Go's `To4()` check and keeps its 128-bit prefix length (≥ 96): flannel then
 * rejects it in `CheckNetworkConfig`, and so do we, with the same message.
 * @internal
 */
export function decodeIP4Net(raw: string): GoResult<{ ip: number; prefixLen: number }> {
  const text = trimQuotes(raw);
  const net = parseCidr(text);
  if (net === null) return { ok: false, error: `invalid CIDR address: ${toWellFormed(text)}` };
  if (typeof net.ip === "number")
    return { ok: true, value: { ip: net.ip, prefixLen: net.prefixLen } };
  if (net.ip >> 32n !== 0xffffn) return { ok: false, error: "invalid IPv4 CIDR format" };
  return { ok: true, value: { ip: Number(net.ip & 0xffff_ffffn), prefixLen: net.prefixLen } };
}

/**
 * flannel's `IP6Net.UnmarshalJSON`: any CIDR; an IPv4 one becomes its IPv4-mapped address with
 * the IPv4 prefix length (`fromIPv4`), as Go's `To16()` makes it.
 * @internal
 */
export function decodeIP6Net(
  raw: string,
): GoResult<{ ip: bigint; prefixLen: number; fromIPv4: boolean }> {
  const text = trimQuotes(raw);
  const net = parseCidr(text);
  if (net === null) return { ok: false, error: `invalid CIDR address: ${toWellFormed(text)}` };
  if (typeof net.ip === "number") {
    return {
      ok: true,
      value: { ip: V4_MAPPED | BigInt(net.ip), prefixLen: net.prefixLen, fromIPv4: true },
    };
  }
  return { ok: true, value: { ip: net.ip, prefixLen: net.prefixLen, fromIPv4: false } };
}

/** flannel's `IP4.UnmarshalJSON` (`ip.ParseIP4`) on the raw JSON text. @internal */
export function decodeIP4(raw: string): GoResult<number> {
  return parseGoIP4(trimQuotes(raw));
}

/**
 * flannel's `ip.ParseIP4`: Go's `net.ParseIP` then `To4()`, so a dotted quad or an IPv4-mapped
 * IPv6 address.
 * @internal
 */
export function parseGoIP4(text: string): GoResult<number> {
  const v4 = scanIPv4(text, 0, text.length);
  if (v4 >= 0) return { ok: true, value: v4 };
  const v6 = scanIPv6(text, 0, text.length);
  if (v6 < 0n) return { ok: false, error: "invalid IP address format" };
  if (v6 >> 32n !== 0xffffn) return { ok: false, error: "invalid IPv4 address format" };
  return { ok: true, value: Number(v6 & 0xffff_ffffn) };
}

/** flannel's `IP6.UnmarshalJSON` (`ip.ParseIP6`): any address, IPv4 as IPv4-mapped. @internal */
export function decodeIP6(raw: string): GoResult<bigint> {
  const text = trimQuotes(raw);
  const v4 = scanIPv4(text, 0, text.length);
  if (v4 >= 0) return { ok: true, value: V4_MAPPED | BigInt(v4) };
  const v6 = scanIPv6(text, 0, text.length);
  if (v6 < 0n) return { ok: false, error: "invalid IP address format" };
  return { ok: true, value: v6 };
}

/** Go's `bytes.Trim(j, "\"")`: every leading and trailing double quote goes. */
function trimQuotes(raw: string): string {
  let a = 0;
  let b = raw.length;
  while (a < b && raw.charCodeAt(a) === 0x22) a++;
  while (b > a && raw.charCodeAt(b - 1) === 0x22) b--;
  return raw.slice(a, b);
}

/**
 * How Go prints flannel's `*ip.IP6` (`ToIP().String()`): a value that fits in exactly four bytes
 * or is IPv4-mapped prints as a dotted quad, anything else as RFC 5952 text.
 * @internal
 */
export function goIP6String(value: bigint): string {
  const v = value & IPV6_MAX;
  if (v >= 0x100_0000n && v <= 0xffff_ffffn) return formatIPv4(Number(v));
  if (v >> 32n === 0xffffn) return formatIPv4(Number(v & 0xffff_ffffn));
  return formatIPv6(v);
}

const UINT64_MAX = (1n << 64n) - 1n;

/** Go's `strconv.ParseUint(s, 10, 64)` on a JSON number's text, or `null`. @internal */
export function parseGoUint(raw: string): bigint | null {
  if (!/^[0-9]+$/.test(raw)) return null;
  const n = BigInt(raw);
  return n <= UINT64_MAX ? n : null;
}

/**
 * Go's `strconv.ParseInt(s, 10, 64)` on a JSON number's text, narrowed to the integers a JS
 * number holds exactly (a deliberate difference: see docs/decisions.md), or `null`.
 * @internal
 */
export function parseGoInt(raw: string): number | null {
  if (!/^-?[0-9]+$/.test(raw)) return null;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n + 0 : null;
}
