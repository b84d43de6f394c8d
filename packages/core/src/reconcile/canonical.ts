/**
 * The one canonical form the reconciler compares in: a plan may spell a MAC in upper case or an
 * IPv6 address with leading zeros; the kernel prints them one way. Every comparison of plan and
 * kernel goes through these.
 */
import { canonicalCidr, canonicalIP } from "../ip/parse.js";
import { canonicalMAC } from "../mac.js";

/**
 * A MAC in the kernel's form (lower case, colons), or the text lower-cased when it is no 48-bit
 * MAC (so a malformed entry still compares, and differs).
 *
 * @example
 * ```ts
 * macKey("3A-B9-84-C3-57-7C"); // "3a:b9:84:c3:57:7c"
 * ```
 */
export function macKey(mac: string): string {
  try {
    return canonicalMAC(mac);
  } catch {
    return mac.toLowerCase();
  }
}

/** An IP address in the kernel's form, or the text as is when it does not parse. @internal */
export function ipKey(ip: string): string {
  try {
    return canonicalIP(ip);
  } catch {
    return ip;
  }
}

/** A CIDR in the kernel's form (host bits kept), or the text as is when it does not parse. @internal */
export function cidrKey(cidr: string): string {
  try {
    return canonicalCidr(cidr);
  } catch {
    return cidr;
  }
}
