import { FlannelError } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { formatIPv4, scanIPv4 } from "../ip/ipv4.js";
import { formatIPv6Groups, groups, scanIPv6Groups } from "../ip/ipv6.js";
import { notOfFamily } from "../ip/parse.js";

/** What {@link parseSubnetKey} reads from a key: the leased subnets as canonical CIDR text. */
export interface ParsedSubnetKey {
  /** The IPv4 subnet, `"10.5.1.0/24"` (host bits kept as written, like flannel). */
  readonly subnet: string;
  /** The IPv6 subnet of a dual-stack key, `"fc00::/64"`, or `null`. */
  readonly ipv6Subnet: string | null;
}

// flannel parses the lengths with strconv.ParseUint(s, 10, 5) and (s, 10, 7): a /32 or a /128
// key does not parse, so we never write one (docs/decisions.md, "Subnet keys").
const MAX_V4_KEY_PREFIX = 31;
const MAX_V6_KEY_PREFIX = 127;

/**
 * Builds the etcd key name of a lease (flannel's `MakeSubnetKey`): the IPv4 subnet as
 * `a.b.c.d-len`, and for a dual-stack lease `&` plus the IPv6 subnet in Go's canonical text,
 * `10.5.1.0-24&fc00::-64`. The full key is `<prefix>/subnets/<this>`.
 *
 * Stricter than flannel, which writes whatever it is given: a subnet with host bits, a /32 or
 * /128 (which flannel cannot parse back) and an IPv4-mapped IPv6 subnet are refused, so every
 * key we write is one every flannel node reads as the same lease.
 *
 * @throws FlannelError `INVALID_CIDR` when a subnet is not CIDR text of its family,
 *   `SUBNET_KEY_INVALID` when the subnet cannot be written as a key flannel reads back.
 * @example
 * ```ts
 * makeSubnetKey("10.5.1.0/24"); // "10.5.1.0-24"
 * makeSubnetKey("10.5.1.0/24", "fc00::/64"); // "10.5.1.0-24&fc00::-64"
 * ```
 */
export function makeSubnetKey(
  subnet: string | IP4Net,
  ipv6Subnet?: string | IP6Net | null,
): string {
  const v4 = typeof subnet === "string" ? IP4Net.parse(subnet) : subnet;
  if (!(v4 instanceof IP4Net)) throw notOfFamily(String(subnet), 4);
  if (v4.prefixLen > MAX_V4_KEY_PREFIX || v4.hasHostBits) throw unkeyable(v4.toString());
  const head = `${formatIPv4(v4.ip)}-${v4.prefixLen}`;
  if (ipv6Subnet === undefined || ipv6Subnet === null) return head;
  const v6 = typeof ipv6Subnet === "string" ? IP6Net.parse(ipv6Subnet) : ipv6Subnet;
  if (!(v6 instanceof IP6Net)) throw notOfFamily(String(ipv6Subnet), 6);
  const text = v6.toString();
  // An IPv4-mapped address prints with dots, which the key grammar has no room for.
  if (v6.prefixLen > MAX_V6_KEY_PREFIX || v6.hasHostBits || text.includes(".")) {
    throw unkeyable(text);
  }
  return `${head}&${text.slice(0, text.lastIndexOf("/"))}-${v6.prefixLen}`;
}

/**
 * Reads a lease key back (flannel's `ParseSubnetKey`). Accepts the bare key or a full etcd
 * path (`/coreos.com/network/subnets/10.5.1.0-24`): the key is the text after the last `/`.
 *
 * Grammar, as flannel's regex and parsers define it: a dotted quad by Go's `net.ParseIP` (no
 * leading zeros), `-`, a decimal length 0–31 (leading zeros allowed); optionally `&`, an IPv6
 * address written in lower-case hex, digits and colons only, `-`, a length 0–127. Host bits are
 * kept, as flannel keeps them. Unlike flannel's unanchored regex, junk before the key inside the
 * last path segment is refused (`x10.5.1.0-24`, `1.2.3.4.5-24`); see docs/decisions.md.
 *
 * @throws FlannelError `SUBNET_KEY_INVALID`
 * @example
 * ```ts
 * parseSubnetKey("/coreos.com/network/subnets/10.5.1.0-24&fc00::-64");
 * // { subnet: "10.5.1.0/24", ipv6Subnet: "fc00::/64" }
 * ```
 */
export function parseSubnetKey(key: string): ParsedSubnetKey {
  const start = key.lastIndexOf("/") + 1;
  const end = key.length;
  // The IPv4 part runs to the first "-": digits and dots only, checked by scanIPv4.
  let dash = start;
  while (dash < end && key.charCodeAt(dash) !== 45) dash++;
  if (dash === end || scanIPv4(key, start, dash) < 0) throw invalidKey(key);
  let amp = dash + 1;
  let len4 = 0;
  for (; amp < end; amp++) {
    const c = key.charCodeAt(amp);
    if (c === 38) break;
    if (c < 48 || c > 57) throw invalidKey(key);
    len4 = len4 * 10 + (c - 48);
    if (len4 > MAX_V4_KEY_PREFIX) throw invalidKey(key);
  }
  if (amp === dash + 1) throw invalidKey(key);
  const subnet = `${key.slice(start, dash)}/${len4}`;
  if (amp === end) return { subnet, ipv6Subnet: null };

  // "&" + [a-f0-9:]+ + "-" + digits, to the end.
  const v6Start = amp + 1;
  let dash6 = v6Start;
  for (; dash6 < end; dash6++) {
    const c = key.charCodeAt(dash6);
    if (c === 45) break;
    if (!((c >= 48 && c <= 58) || (c >= 97 && c <= 102))) throw invalidKey(key);
  }
  if (dash6 === v6Start || dash6 === end || dash6 + 1 === end) throw invalidKey(key);
  let len6 = 0;
  for (let i = dash6 + 1; i < end; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) throw invalidKey(key);
    len6 = len6 * 10 + (c - 48);
    if (len6 > MAX_V6_KEY_PREFIX) throw invalidKey(key);
  }
  if (!scanIPv6Groups(key, v6Start, dash6)) throw invalidKey(key);
  return { subnet, ipv6Subnet: `${formatIPv6Groups(groups)}/${len6}` };
}

function invalidKey(key: string): FlannelError {
  return new FlannelError("SUBNET_KEY_INVALID", `invalid subnet key: ${JSON.stringify(key)}`, {
    details: { key },
  });
}

function unkeyable(cidr: string): FlannelError {
  return new FlannelError(
    "SUBNET_KEY_INVALID",
    `${cidr} cannot be written as a subnet key that flannel reads back`,
    { details: { subnet: cidr } },
  );
}
