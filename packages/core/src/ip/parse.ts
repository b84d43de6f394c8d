import { FlannelError } from "../errors.js";
import { IP4Net } from "./ip4net.js";
import { IP6Net } from "./ip6net.js";
import { formatIPv4, isIPv4, parseIPv4, scanIPv4, scanIPv4Cidr, scannedPrefixLen } from "./ipv4.js";
import { formatIPv6, isIPv6, parseIPv6 } from "./ipv6.js";

/** An IPv4 or IPv6 network; narrow on `family`. */
export type IPNet = IP4Net | IP6Net;

/** 4 or 6. */
export type IPFamily = 4 | 6;

/**
 * Parses a CIDR of either family (IPv6 when the text contains `:`).
 *
 * @throws FlannelError `INVALID_CIDR`
 * @example
 * ```ts
 * parseCidr("10.0.0.0/8").family; // 4
 * parseCidr("fc00::/48").family; // 6
 * ```
 */
export function parseCidr(text: string, options?: { strict?: boolean }): IPNet {
  return text.includes(":") ? IP6Net.parse(text, options) : IP4Net.parse(text, options);
}

/**
 * Parses a CIDR of the given family, or returns `null` (also for a value that is not a string):
 * for callers that treat unreadable input as absent rather than as an error.
 * @internal
 */
export function parseNetOrNull(text: unknown, family: IPFamily): IPNet | null {
  if (typeof text !== "string") return null;
  if (family === 4) {
    const ip = scanIPv4Cidr(text);
    return ip < 0 ? null : new IP4Net(ip, scannedPrefixLen);
  }
  try {
    return IP6Net.parse(text);
  } catch {
    return null;
  }
}

/**
 * The family of an address or CIDR text, or `null` when it is neither. Never throws.
 *
 * @example
 * ```ts
 * ipFamily("10.0.0.1"); // 4
 * ```
 */
export function ipFamily(text: string): IPFamily | null {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  if (isIPv4(addr)) return 4;
  if (isIPv6(addr)) return 6;
  return null;
}

/**
 * Canonical text of an address of either family (IPv6 when the text contains `:`).
 *
 * @throws FlannelError `INVALID_IP`
 * @example
 * ```ts
 * canonicalIP("FC00:0::1"); // "fc00::1"
 * canonicalIP("::ffff:10.0.0.1"); // "::ffff:10.0.0.1"
 * ```
 */
export function canonicalIP(text: string): string {
  if (text.includes(":")) return formatIPv6(parseIPv6(text));
  // A dotted quad parseIPv4 accepts has no leading zeros, so it is its own canonical text: the
  // reconciler canonicalizes every address of a node on each full check, and allocates nothing here.
  if (scanIPv4(text, 0, text.length) >= 0) return text;
  return formatIPv4(parseIPv4(text));
}

/**
 * Canonical text of a CIDR of either family, optionally with host bits masked.
 *
 * @throws FlannelError `INVALID_CIDR`
 * @example
 * ```ts
 * canonicalCidr("172.30.8.0/16", { mask: true }); // "172.30.0.0/16"
 * ```
 */
export function canonicalCidr(text: string, options?: { mask?: boolean }): string {
  if (options?.mask !== true && isCanonicalIPv4Cidr(text)) return text;
  const net = parseCidr(text);
  return (options?.mask ? net.network() : net).toString();
}

/**
 * True when `text` is an IPv4 CIDR already in the form `IP4Net.toString` prints: a valid dotted
 * quad (never with leading zeros) and a prefix length without leading zeros (Go's `dtoi`, and so
 * the parser, accepts `/08`).
 */
function isCanonicalIPv4Cidr(text: string): boolean {
  if (scanIPv4Cidr(text) < 0) return false;
  const slash = text.lastIndexOf("/");
  return slash === text.length - 2 || text.charCodeAt(slash + 1) !== 48;
}

/**
 * Parses an IPv4 or IPv6 CIDR and requires the given family; the result is typed by it.
 *
 * @throws FlannelError `INVALID_CIDR` when the text is not a CIDR, or one of the other family.
 * @example
 * ```ts
 * parseCidrOfFamily("fc00::/48", 6).count(64); // 65536n
 * parseCidrOfFamily("10.0.0.0/8", 6); // throws INVALID_CIDR: "10.0.0.0/8 is not an IPv6 CIDR"
 * ```
 */
export function parseCidrOfFamily<F extends IPFamily>(
  text: string,
  family: F,
): F extends 4 ? IP4Net : IP6Net {
  const net = parseCidr(text);
  if (net.family !== family) throw notOfFamily(text, family);
  return net as F extends 4 ? IP4Net : IP6Net;
}

/** A CIDR of the other family where one of `family` is required. @internal */
export function notOfFamily(text: string, family: IPFamily): FlannelError {
  return new FlannelError("INVALID_CIDR", `${text} is not an IPv${family} CIDR`, {
    details: { input: text },
  });
}
