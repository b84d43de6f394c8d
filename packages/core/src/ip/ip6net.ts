import { FlannelError } from "../errors.js";
import { checkSubLen, hostBitsSet, invalidCidr, scanPrefix } from "./ip4net.js";
import {
  bigIntToGroups,
  formatIPv6,
  formatIPv6Words,
  groups,
  groupsToBigInt,
  IPV6_MAX,
  invalidIPv6,
  parseIPv6,
  scanIPv6Groups,
} from "./ipv6.js";

const MASKS: readonly bigint[] = Array.from({ length: 129 }, (_, p) =>
  p === 0 ? 0n : (IPV6_MAX << BigInt(128 - p)) & IPV6_MAX,
);

// The same masks as four int32 words each (most significant first), for word comparisons.
const MASK_WORDS = new Int32Array(129 * 4);
for (let p = 0; p <= 128; p++) {
  for (let k = 0; k < 4; k++) {
    const bits = Math.min(32, Math.max(0, p - 32 * k));
    MASK_WORDS[p * 4 + k] = bits === 0 ? 0 : bits === 32 ? -1 : ~((1 << (32 - bits)) - 1);
  }
}

/**
 * The netmask of an IPv6 prefix length, as a 128-bit `bigint`.
 *
 * @throws FlannelError `INVALID_ARGUMENT` when `prefixLen` is not an integer in 0–128.
 * @example
 * ```ts
 * formatIPv6(ipv6Mask(64)); // "ffff:ffff:ffff:ffff::"
 * ```
 */
export function ipv6Mask(prefixLen: number): bigint {
  const mask = MASKS[prefixLen];
  if (mask === undefined) {
    throw new FlannelError("INVALID_ARGUMENT", `invalid IPv6 prefix length: ${prefixLen}`);
  }
  return mask;
}

/**
 * An IPv6 network in flannel's sense (`ip.IP6Net`): a 128-bit address (`bigint`) and a prefix
 * length. The address may carry host bits; {@link IP6Net.network} masks them. Immutable.
 *
 * @example
 * ```ts
 * const net = IP6Net.parse("fc00::/48");
 * net.subnetAt(1, 64).toString(); // "fc00:0:0:1::/64"
 * ```
 */
export class IP6Net {
  /** The address as a 128-bit unsigned `bigint` (host bits kept as given). */
  readonly ip: bigint;
  /** Prefix length, 0–128. */
  readonly prefixLen: number;
  // The address as four int32 words (most significant first), so that containment and overlap
  // tests are plain integer work: set by parse, or derived from `ip` on first use.
  #w0 = 0;
  #w1 = 0;
  #w2 = 0;
  #w3 = 0;
  #words = false;

  /**
   * @throws FlannelError `INVALID_CIDR` when `ip` is not a 128-bit value or `prefixLen` not in 0–128.
   */
  constructor(ip: bigint, prefixLen: number) {
    if (typeof ip !== "bigint" || ip < 0n || ip > IPV6_MAX) {
      throw new FlannelError("INVALID_CIDR", `invalid IPv6 address value: ${ip}`);
    }
    if (!(prefixLen >= 0 && prefixLen <= 128 && prefixLen === Math.floor(prefixLen))) {
      throw new FlannelError("INVALID_CIDR", `invalid IPv6 prefix length: ${prefixLen}`);
    }
    this.ip = ip;
    this.prefixLen = prefixLen;
  }

  /**
   * Parses `addr/n` with Go's `net.ParseCIDR` rules (no zone; prefix decimal 0–128). Host bits
   * are kept unless `strict` is set, which refuses them.
   *
   * @throws FlannelError `INVALID_CIDR`
   * @example
   * ```ts
   * IP6Net.parse("2001:cafe:42::1/64").network().toString(); // "2001:cafe:42::/64"
   * ```
   */
  static parse(text: string, options?: { strict?: boolean }): IP6Net {
    const slash = text.indexOf("/");
    const prefixLen =
      slash > 0 && scanIPv6Groups(text, 0, slash) ? scanPrefix(text, slash + 1, 128) : -1;
    if (prefixLen < 0) throw invalidCidr(text);
    const net = new IP6Net(groupsToBigInt(), prefixLen);
    net.#fromGroups();
    if (options?.strict && net.hasHostBits) throw hostBitsSet(text, net.network());
    return net;
  }

  /**
   * Builds a network from an address (bigint or text) and a prefix length.
   *
   * @throws FlannelError `INVALID_IP`, `INVALID_CIDR`
   */
  static of(ip: bigint | string, prefixLen: number): IP6Net {
    return new IP6Net(typeof ip === "string" ? parseIPv6(ip) : ip, prefixLen);
  }

  /** Always 6. */
  get family(): 6 {
    return 6;
  }

  /** The netmask as a 128-bit `bigint`. */
  get mask(): bigint {
    return ipv6Mask(this.prefixLen);
  }

  /** The network address (host bits cleared). */
  get networkIP(): bigint {
    return this.ip & MASKS[this.prefixLen]!;
  }

  /** The last address of the network. */
  get lastIP(): bigint {
    return this.networkIP | (IPV6_MAX >> BigInt(this.prefixLen));
  }

  /** True when the address has bits set beyond the prefix. */
  get hasHostBits(): boolean {
    if (!this.#words) this.#sync();
    const m = this.prefixLen * 4;
    const w = MASK_WORDS;
    return (
      ((this.#w0 & ~w[m]!) |
        (this.#w1 & ~w[m + 1]!) |
        (this.#w2 & ~w[m + 2]!) |
        (this.#w3 & ~w[m + 3]!)) !==
      0
    );
  }

  /** The address alone, in Go's canonical text. */
  get ipString(): string {
    return formatIPv6(this.ip);
  }

  /** The same network with host bits cleared. */
  network(): IP6Net {
    const ip = this.networkIP;
    return ip === this.ip ? this : new IP6Net(ip, this.prefixLen);
  }

  /**
   * The network with the address set to network + `k`, same prefix (`fc00::1/64` for k = 1).
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `k` is outside the network.
   */
  hostAt(k: number | bigint): IP6Net {
    const n = BigInt(k);
    if (n < 0n || n > IPV6_MAX >> BigInt(this.prefixLen)) {
      throw new FlannelError("INVALID_ARGUMENT", `host index ${k} is outside ${this.network()}`);
    }
    return new IP6Net(this.networkIP + n, this.prefixLen);
  }

  /**
   * Number of subnets of length `prefixLen` in this network (by default, of addresses).
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `prefixLen` is out of range.
   */
  count(prefixLen = 128): bigint {
    checkSubLen(prefixLen, this.prefixLen, 128);
    return 1n << BigInt(prefixLen - this.prefixLen);
  }

  /**
   * True when `other` (a network or an address) lies wholly inside this network.
   *
   * @throws FlannelError `INVALID_CIDR` / `INVALID_IP` when given unparsable text.
   */
  contains(other: IP6Net | string | bigint): boolean {
    if (typeof other === "string") return this.#containsText(other);
    if (typeof other === "bigint") {
      const mask = MASKS[this.prefixLen]!;
      return (other & mask) === (this.ip & mask);
    }
    return other.prefixLen >= this.prefixLen && this.#sameUnder(other, this.prefixLen);
  }

  /** True when the two networks share at least one address. */
  overlaps(other: IP6Net): boolean {
    return this.#sameUnder(other, Math.min(this.prefixLen, other.prefixLen));
  }

  /** True when both have the same address and prefix length. */
  equals(other: IP6Net): boolean {
    return this.ip === other.ip && this.prefixLen === other.prefixLen;
  }

  /**
   * The `k`-th subnet of length `prefixLen`, counting from this network's address.
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `k` or `prefixLen` is out of range.
   */
  subnetAt(k: number | bigint, prefixLen: number): IP6Net {
    checkSubLen(prefixLen, this.prefixLen, 128);
    const n = BigInt(k);
    if (n < 0n || n >= 1n << BigInt(prefixLen - this.prefixLen)) {
      throw new FlannelError("INVALID_ARGUMENT", `subnet index ${k} is outside ${this.network()}`);
    }
    return new IP6Net(this.networkIP + (n << BigInt(128 - prefixLen)), prefixLen);
  }

  /** The index of `subnet` among this network's subnets of its length, or `-1n` when outside. */
  indexOf(subnet: IP6Net | string): bigint {
    const net = typeof subnet === "string" ? IP6Net.parse(subnet) : subnet;
    if (!this.contains(net)) return -1n;
    return (net.networkIP - this.networkIP) >> BigInt(128 - net.prefixLen);
  }

  /**
   * Lazily yields every subnet of length `prefixLen`, in address order (there may be 2^128).
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `prefixLen` is out of range.
   */
  *subnets(prefixLen: number): Generator<IP6Net, void, undefined> {
    checkSubLen(prefixLen, this.prefixLen, 128);
    const step = 1n << BigInt(128 - prefixLen);
    const last = this.lastIP;
    for (let ip = this.networkIP; ip <= last; ip += step) yield new IP6Net(ip, prefixLen);
  }

  /** The next network of the same size, or `null` past the end of the address space. */
  next(): IP6Net | null {
    const ip = this.networkIP + (1n << BigInt(128 - this.prefixLen));
    return ip > IPV6_MAX ? null : new IP6Net(ip, this.prefixLen);
  }

  /** The previous network of the same size, or `null` before `::`. */
  previous(): IP6Net | null {
    const ip = this.networkIP - (1n << BigInt(128 - this.prefixLen));
    return ip < 0n ? null : new IP6Net(ip, this.prefixLen);
  }

  /** `addr/n` with the address in Go's canonical text (host bits included). */
  toString(): string {
    if (!this.#words) return `${formatIPv6(this.ip)}/${this.prefixLen}`;
    return `${formatIPv6Words(this.#w0 >>> 0, this.#w1 >>> 0, this.#w2 >>> 0, this.#w3 >>> 0)}/${this.prefixLen}`;
  }

  /** Same as {@link IP6Net.toString}. */
  toJSON(): string {
    return this.toString();
  }

  #fromGroups(): void {
    const g = groups;
    this.#w0 = (g[0]! << 16) | g[1]!;
    this.#w1 = (g[2]! << 16) | g[3]!;
    this.#w2 = (g[4]! << 16) | g[5]!;
    this.#w3 = (g[6]! << 16) | g[7]!;
    this.#words = true;
  }

  #sync(): void {
    bigIntToGroups(this.ip);
    this.#fromGroups();
  }

  /** Equal under the first `p` bits. */
  #sameUnder(other: IP6Net, p: number): boolean {
    if (!this.#words) this.#sync();
    if (!other.#words) other.#sync();
    const m = p * 4;
    const w = MASK_WORDS;
    return (
      ((this.#w0 ^ other.#w0) & w[m]!) === 0 &&
      ((this.#w1 ^ other.#w1) & w[m + 1]!) === 0 &&
      ((this.#w2 ^ other.#w2) & w[m + 2]!) === 0 &&
      ((this.#w3 ^ other.#w3) & w[m + 3]!) === 0
    );
  }

  /** {@link IP6Net.contains} of CIDR or address text, without building a network or a bigint. */
  #containsText(text: string): boolean {
    // First, as syncing goes through the same scratch groups the text is scanned into.
    if (!this.#words) this.#sync();
    const slash = text.indexOf("/");
    let prefixLen = 128;
    if (slash < 0) {
      if (!scanIPv6Groups(text, 0, text.length)) throw invalidIPv6(text);
    } else {
      prefixLen =
        slash > 0 && scanIPv6Groups(text, 0, slash) ? scanPrefix(text, slash + 1, 128) : -1;
      if (prefixLen < 0) throw invalidCidr(text);
    }
    const p = this.prefixLen;
    if (prefixLen < p) return false;
    const g = groups;
    const m = p * 4;
    const w = MASK_WORDS;
    return (
      ((this.#w0 ^ ((g[0]! << 16) | g[1]!)) & w[m]!) === 0 &&
      ((this.#w1 ^ ((g[2]! << 16) | g[3]!)) & w[m + 1]!) === 0 &&
      ((this.#w2 ^ ((g[4]! << 16) | g[5]!)) & w[m + 2]!) === 0 &&
      ((this.#w3 ^ ((g[6]! << 16) | g[7]!)) & w[m + 3]!) === 0
    );
  }

  /** Orders by address, then by prefix length. */
  static compare(a: IP6Net, b: IP6Net): number {
    return a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : a.prefixLen - b.prefixLen;
  }
}
