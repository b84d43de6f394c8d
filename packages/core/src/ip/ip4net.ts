import { FlannelError } from "../errors.js";
import {
  formatIPv4,
  invalidIPv4,
  parseIPv4,
  scanIPv4,
  scanIPv4Cidr,
  scannedPrefixLen,
} from "./ipv4.js";

const TWO32 = 0x1_0000_0000;

/**
 * The netmask of an IPv4 prefix length (0–32), as an unsigned 32-bit integer. Never throws; a
 * length outside 0–32 gives a meaningless mask.
 *
 * @example
 * ```ts
 * ipv4Mask(24); // 4294967040 (255.255.255.0)
 * formatIPv4(ipv4Mask(20)); // "255.255.240.0"
 * ```
 */
export function ipv4Mask(prefixLen: number): number {
  return prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
}

/**
 * An IPv4 network in flannel's sense (`ip.IP4Net`): an address and a prefix length. The address
 * may carry host bits (`172.30.8.1/24` is how `FLANNEL_SUBNET` is written); {@link IP4Net.network}
 * masks them. Immutable; all arithmetic is on plain 32-bit integers.
 *
 * @example
 * ```ts
 * const net = IP4Net.parse("172.30.0.0/16");
 * net.subnetAt(8, 24).toString(); // "172.30.8.0/24"
 * net.contains("172.30.8.0/24"); // true
 * ```
 */
export class IP4Net {
  /** The address, an unsigned 32-bit integer (host bits kept as given). */
  readonly ip: number;
  /** Prefix length, 0–32. */
  readonly prefixLen: number;

  /**
   * @throws FlannelError `INVALID_CIDR` when `ip` is not a uint32 or `prefixLen` not in 0–32.
   */
  constructor(ip: number, prefixLen: number) {
    // x >>> 0 === x holds exactly for the integers 0 … 2^32 − 1.
    if (ip >>> 0 !== ip) {
      throw new FlannelError("INVALID_CIDR", `invalid IPv4 address value: ${ip}`);
    }
    if (prefixLen >>> 0 !== prefixLen || prefixLen > 32) {
      throw new FlannelError("INVALID_CIDR", `invalid IPv4 prefix length: ${prefixLen}`);
    }
    this.ip = ip;
    this.prefixLen = prefixLen;
  }

  /**
   * Parses `a.b.c.d/n` with Go's `net.ParseCIDR` rules (strict dotted quad; the prefix is
   * decimal 0–32). Host bits are kept unless `strict` is set, which refuses them.
   *
   * @throws FlannelError `INVALID_CIDR`
   * @example
   * ```ts
   * IP4Net.parse("10.1.74.1/24").network().toString(); // "10.1.74.0/24"
   * ```
   */
  static parse(text: string, options?: { strict?: boolean }): IP4Net {
    const ip = scanIPv4Cidr(text);
    if (ip < 0) throw invalidCidr(text);
    const net = new IP4Net(ip, scannedPrefixLen);
    if (options?.strict && net.hasHostBits) throw hostBitsSet(text, net.network());
    return net;
  }

  /**
   * Builds a network from an address (integer or text) and a prefix length.
   *
   * @throws FlannelError `INVALID_IP`, `INVALID_CIDR`
   */
  static of(ip: number | string, prefixLen: number): IP4Net {
    return new IP4Net(typeof ip === "string" ? parseIPv4(ip) : ip, prefixLen);
  }

  /** Always 4. */
  get family(): 4 {
    return 4;
  }

  /** The netmask as an unsigned 32-bit integer. */
  get mask(): number {
    return ipv4Mask(this.prefixLen);
  }

  /** The network address (host bits cleared), as an integer. */
  get networkIP(): number {
    return (this.ip & ipv4Mask(this.prefixLen)) >>> 0;
  }

  /** The last address of the network (the broadcast address), as an integer. */
  get lastIP(): number {
    return (this.networkIP + (TWO32 / 2 ** this.prefixLen - 1)) >>> 0;
  }

  /** True when the address has bits set beyond the prefix. */
  get hasHostBits(): boolean {
    return this.ip !== this.networkIP;
  }

  /** The address alone, as dotted-quad text. */
  get ipString(): string {
    return formatIPv4(this.ip);
  }

  /** The same network with host bits cleared (flannel's `IP4Net.Network()`). */
  network(): IP4Net {
    const ip = this.networkIP;
    return ip === this.ip ? this : new IP4Net(ip, this.prefixLen);
  }

  /**
   * The network with the address set to network + `k`, same prefix: `hostAt(1)` of
   * `172.30.8.0/24` is `172.30.8.1/24`, the form of `FLANNEL_SUBNET`.
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `k` is outside the network.
   */
  hostAt(k: number | bigint): IP4Net {
    const n = Number(k);
    if (!(n >= 0 && n < TWO32 / 2 ** this.prefixLen) || n !== Math.floor(n)) {
      throw new FlannelError("INVALID_ARGUMENT", `host index ${k} is outside ${this.network()}`);
    }
    return new IP4Net(this.networkIP + n, this.prefixLen);
  }

  /**
   * Number of subnets of length `prefixLen` in this network (by default, of addresses).
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `prefixLen` is shorter than this prefix or > 32.
   */
  count(prefixLen = 32): bigint {
    checkSubLen(prefixLen, this.prefixLen, 32);
    return 1n << BigInt(prefixLen - this.prefixLen);
  }

  /**
   * True when `other` (a network or an address) lies wholly inside this network.
   *
   * @throws FlannelError `INVALID_CIDR` / `INVALID_IP` when given unparsable text.
   */
  contains(other: IP4Net | string | number): boolean {
    if (typeof other === "string") return containsIPv4Text(this.ip, this.prefixLen, other);
    const mask = ipv4Mask(this.prefixLen);
    if (typeof other === "number") return (other & mask) >>> 0 === (this.ip & mask) >>> 0;
    return other.prefixLen >= this.prefixLen && (other.ip & mask) >>> 0 === (this.ip & mask) >>> 0;
  }

  /** True when the two networks share at least one address (equal under the shorter mask). */
  overlaps(other: IP4Net): boolean {
    const mask = ipv4Mask(Math.min(this.prefixLen, other.prefixLen));
    return (this.ip & mask) >>> 0 === (other.ip & mask) >>> 0;
  }

  /** True when both have the same address and prefix length. */
  equals(other: IP4Net): boolean {
    return this.ip === other.ip && this.prefixLen === other.prefixLen;
  }

  /**
   * The `k`-th subnet of length `prefixLen`, counting from this network's address.
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `k` or `prefixLen` is out of range.
   * @example
   * ```ts
   * IP4Net.parse("10.0.0.0/8").subnetAt(1, 24).toString(); // "10.0.1.0/24"
   * ```
   */
  subnetAt(k: number | bigint, prefixLen: number): IP4Net {
    checkSubLen(prefixLen, this.prefixLen, 32);
    const n = typeof k === "bigint" ? Number(k) : k;
    const limit = 2 ** (prefixLen - this.prefixLen);
    if (!(n >= 0 && n < limit) || n !== Math.floor(n)) {
      throw new FlannelError("INVALID_ARGUMENT", `subnet index ${k} is outside 0..${limit - 1}`);
    }
    return new IP4Net(this.networkIP + n * (TWO32 / 2 ** prefixLen), prefixLen);
  }

  /**
   * The index of `subnet` among this network's subnets of its length, or `-1n` when it is not
   * inside this network. Host bits of `subnet` are ignored.
   */
  indexOf(subnet: IP4Net | string): bigint {
    const net = typeof subnet === "string" ? IP4Net.parse(subnet) : subnet;
    if (!this.contains(net)) return -1n;
    return BigInt(Math.floor((net.networkIP - this.networkIP) / (TWO32 / 2 ** net.prefixLen)));
  }

  /**
   * Lazily yields every subnet of length `prefixLen`, in address order.
   *
   * @throws FlannelError `INVALID_ARGUMENT` when `prefixLen` is out of range.
   */
  *subnets(prefixLen: number): Generator<IP4Net, void, undefined> {
    checkSubLen(prefixLen, this.prefixLen, 32);
    const step = TWO32 / 2 ** prefixLen;
    const end = this.networkIP + TWO32 / 2 ** this.prefixLen;
    for (let ip = this.networkIP; ip < end; ip += step) yield new IP4Net(ip, prefixLen);
  }

  /** The next network of the same size (flannel's `IP4Net.Next()`), or `null` past 255.255.255.255. */
  next(): IP4Net | null {
    const ip = this.networkIP + TWO32 / 2 ** this.prefixLen;
    return ip >= TWO32 ? null : new IP4Net(ip, this.prefixLen);
  }

  /** The previous network of the same size, or `null` before 0.0.0.0. */
  previous(): IP4Net | null {
    const ip = this.networkIP - TWO32 / 2 ** this.prefixLen;
    return ip < 0 ? null : new IP4Net(ip, this.prefixLen);
  }

  /** `a.b.c.d/n`, the address as stored (host bits included). */
  toString(): string {
    return `${formatIPv4(this.ip)}/${this.prefixLen}`;
  }

  /** Same as {@link IP4Net.toString}, so `JSON.stringify` writes the CIDR text. */
  toJSON(): string {
    return this.toString();
  }

  /** Orders by address, then by prefix length; for `Array.prototype.sort`. */
  static compare(a: IP4Net, b: IP4Net): number {
    return a.ip - b.ip || a.prefixLen - b.prefixLen;
  }
}

/**
 * Parses the decimal prefix of a CIDR like Go's `dtoi`: digits only (leading zeros allowed, as
 * Go allows them), value ≤ max. Returns -1 when invalid.
 * @internal
 */
export function scanPrefix(text: string, start: number, max: number): number {
  if (start >= text.length) return -1;
  let n = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
    if (n > max) return -1;
  }
  return n;
}

/** @internal */
export function checkSubLen(prefixLen: number, base: number, bits: number): void {
  if (!(prefixLen >= base && prefixLen <= bits) || prefixLen !== Math.floor(prefixLen)) {
    throw new FlannelError(
      "INVALID_ARGUMENT",
      `prefix length ${prefixLen} must be between ${base} and ${bits}`,
    );
  }
}

/**
 * True when `other` (`a.b.c.d/n` or `a.b.c.d`) lies wholly inside the network `ip`/`prefixLen`.
 * Scanned in place: no network object for the argument.
 * @throws FlannelError `INVALID_CIDR` / `INVALID_IP` when `other` is unparsable.
 * @internal
 */
export function containsIPv4Text(ip: number, prefixLen: number, other: string): boolean {
  let otherIP = scanIPv4Cidr(other);
  let otherLen: number;
  if (otherIP >= 0) {
    otherLen = scannedPrefixLen;
  } else if (other.includes("/")) {
    throw invalidCidr(other);
  } else {
    otherIP = scanIPv4(other, 0, other.length);
    if (otherIP < 0) throw invalidIPv4(other);
    otherLen = 32;
  }
  const mask = ipv4Mask(prefixLen);
  return otherLen >= prefixLen && (otherIP & mask) >>> 0 === (ip & mask) >>> 0;
}

/** @internal */
export function invalidCidr(text: string): FlannelError {
  return new FlannelError("INVALID_CIDR", `invalid CIDR address: ${text}`, {
    details: { input: text },
  });
}

/** `strict` parsing met an address with host bits. @internal */
export function hostBitsSet(text: string, network: { toString(): string }): FlannelError {
  return new FlannelError("INVALID_CIDR", `${text} has host bits set (network is ${network})`, {
    details: { input: text },
  });
}
