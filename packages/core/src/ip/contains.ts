/**
 * Containment straight from text, the common question of config checks ("is this subnet inside
 * the Network?"), without building network objects.
 */
import { containsIPv4Text, invalidCidr } from "./ip4net.js";
import { IP6Net } from "./ip6net.js";
import { scanIPv4Cidr, scannedPrefixLen } from "./ipv4.js";

/**
 * True when `other` (a CIDR or an address, same family) lies wholly inside `network`. The same
 * answer as `IP4Net.parse(network).contains(other)` (or `IP6Net`), with Go's parsing rules; an
 * IPv4 network and its argument are scanned in place, nothing is allocated.
 *
 * @throws FlannelError `INVALID_CIDR` (either side), `INVALID_IP` (an unparsable address)
 * @example
 * ```ts
 * cidrContains("172.30.0.0/16", "172.30.8.0/24"); // true
 * cidrContains("172.30.0.0/16", "172.31.0.1"); // false
 * cidrContains("fd00::/48", "fd00:0:0:8::/64"); // true
 * ```
 */
export function cidrContains(network: string, other: string): boolean {
  if (network.includes(":")) return IP6Net.parse(network).contains(other);
  const ip = scanIPv4Cidr(network);
  if (ip < 0) throw invalidCidr(network);
  return containsIPv4Text(ip, scannedPrefixLen, other);
}
