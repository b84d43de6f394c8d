import type { NetworkConfig } from "../config/types.js";
import { FlannelError } from "../errors.js";
import { IP4Net, invalidCidr, scanPrefix } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { formatIPv4, parseIPv4, scanIPv4Cidr, scannedPrefixLen } from "../ip/ipv4.js";
import {
  formatIPv6,
  formatIPv6Words,
  groupsToBigInt,
  parseIPv6,
  scanIPv6Groups,
} from "../ip/ipv6.js";

/**
 * The candidates of one address family: subnets of `subnetLen` from `subnetMin` to `subnetMax`
 * in steps of one subnet, numbered 0…count-1 (flannel's `allocateSubnet` walk in `local_manager.go`).
 * @internal
 */
export interface Grid {
  readonly family: 4 | 6;
  readonly subnetLen: number;
  /** Number of candidates (0 when SubnetMin > SubnetMax). */
  readonly count: bigint;
  /** CIDR text of candidate `i` (`i` < 2^53). */
  format(i: number): string;
  /** CIDR text of candidate `i`, any size. */
  formatBig(i: bigint): string;
  /**
   * Fast path for a lease of SubnetLen: its candidate index (host bits ignored), -1 when it is
   * outside the window, -2 when its length differs (then ask {@link Grid.rangeOf}). Index is a
   * number: call only when count < 2^53.
   */
  locate(cidr: string): number;
  /**
   * The candidates a lease overlaps (equal under the shorter mask), or null when none of the
   * window. `exact` when the lease is the candidate itself.
   */
  rangeOf(cidr: string): CandidateRange | null;
}

/** @internal */
export interface CandidateRange {
  readonly lo: bigint;
  readonly hi: bigint;
  readonly exact: boolean;
  /** The lease as canonical CIDR text with host bits masked: its identity in the allocator. */
  readonly key: string;
}

const TWO32 = 0x1_0000_0000;

/** @internal */
export function makeGrid(config: NetworkConfig, family: 4 | 6): Grid {
  return family === 4 ? grid4(config) : grid6(config);
}

function grid4(config: NetworkConfig): Grid {
  const len = config.subnetLen;
  if (!config.enableIPv4 || config.subnetMin === null || config.subnetMax === null) {
    throw new FlannelError("INVALID_ARGUMENT", "IPv4 is not enabled in the network config");
  }
  if (!(Number.isInteger(len) && len >= 0 && len <= 32)) {
    throw badConfig("SubnetLen", `invalid SubnetLen: ${len}`);
  }
  const min = parseIPv4(config.subnetMin);
  const max = parseIPv4(config.subnetMax);
  const step = TWO32 / 2 ** len;
  if (min % step !== 0) {
    throw badConfig("SubnetMin", `SubnetMin is not on a SubnetLen boundary: ${config.subnetMin}`);
  }
  if (max % step !== 0) {
    throw badConfig("SubnetMax", `SubnetMax is not on a SubnetLen boundary: ${config.subnetMax}`);
  }
  const n = min > max ? 0 : (max - min) / step + 1;
  const suffix = `/${len}`;
  return {
    family: 4,
    subnetLen: len,
    count: BigInt(n),
    format: (i) => formatIPv4(min + i * step) + suffix,
    formatBig: (i) => formatIPv4(min + Number(i) * step) + suffix,
    locate(cidr) {
      const ip = scanIPv4Cidr(cidr);
      if (ip < 0) throw invalidCidr(cidr);
      if (scannedPrefixLen !== len) return -2;
      const at = (ip - (ip % step) - min) / step;
      return at >= 0 && at < n ? at : -1;
    },
    rangeOf(cidr) {
      const net = IP4Net.parse(cidr).network();
      const start = net.ip;
      let lo: number;
      let hi: number;
      if (net.prefixLen >= len) {
        const at = start - (start % step);
        lo = (at - min) / step;
        hi = lo;
      } else {
        lo = Math.ceil((start - min) / step);
        hi = Math.floor((start + TWO32 / 2 ** net.prefixLen - step - min) / step);
      }
      lo = Math.max(lo, 0);
      hi = Math.min(hi, n - 1);
      if (lo > hi) return null;
      const exact = net.prefixLen === len;
      return { lo: BigInt(lo), hi: BigInt(hi), exact, key: exact ? "" : net.toString() };
    },
  };
}

function grid6(config: NetworkConfig): Grid {
  const len = config.ipv6SubnetLen;
  if (!config.enableIPv6 || config.ipv6SubnetMin === null || config.ipv6SubnetMax === null) {
    throw new FlannelError("INVALID_ARGUMENT", "IPv6 is not enabled in the network config");
  }
  if (!(Number.isInteger(len) && len >= 0 && len <= 128)) {
    throw badConfig("IPv6SubnetLen", `invalid IPv6SubnetLen: ${len}`);
  }
  const min = parseIPv6(config.ipv6SubnetMin);
  const max = parseIPv6(config.ipv6SubnetMax);
  const shift = BigInt(128 - len);
  const hostMask = (1n << shift) - 1n;
  if ((min & hostMask) !== 0n) {
    throw badConfig(
      "IPv6SubnetMin",
      `IPv6SubnetMin is not on a SubnetLen boundary: ${config.ipv6SubnetMin}`,
    );
  }
  if ((max & hostMask) !== 0n) {
    throw badConfig(
      "IPv6SubnetMax",
      `IPv6SubnetMax is not on a SubnetLen boundary: ${config.ipv6SubnetMax}`,
    );
  }
  const n = min > max ? 0n : ((max - min) >> shift) + 1n;
  const suffix = `/${len}`;
  // SubnetMin as four 32-bit words (w[0] least significant) so that printing candidate i is
  // number arithmetic: i * 2^shift spans at most two words when i < 2^21.
  const base = [
    Number(BigInt.asUintN(32, min)),
    Number(BigInt.asUintN(32, min >> 32n)),
    Number(BigInt.asUintN(32, min >> 64n)),
    Number(BigInt.asUintN(32, min >> 96n)),
  ];
  const wordAt = (128 - len) >>> 5;
  const scale = 2 ** ((128 - len) & 31);
  const w = [0, 0, 0, 0];
  const formatSmall = (i: number): string => {
    w[0] = base[0]!;
    w[1] = base[1]!;
    w[2] = base[2]!;
    w[3] = base[3]!;
    if (i !== 0 && wordAt < 4) {
      const v = i * scale; // exact: i < 2^21 and scale ≤ 2^31
      const low = v % TWO32;
      let carry = (v - low) / TWO32;
      let sum = w[wordAt]! + low;
      if (sum >= TWO32) {
        sum -= TWO32;
        carry++;
      }
      w[wordAt] = sum;
      for (let k = wordAt + 1; k < 4 && carry !== 0; k++) {
        sum = w[k]! + carry;
        carry = 0;
        if (sum >= TWO32) {
          sum -= TWO32;
          carry = 1;
        }
        w[k] = sum;
      }
    }
    return formatIPv6Words(w[3]!, w[2]!, w[1]!, w[0]!) + suffix;
  };
  const formatBig = (i: bigint): string => formatIPv6(min + (i << shift)) + suffix;
  return {
    family: 6,
    subnetLen: len,
    count: n,
    format: (i) => (i < 0x20_0000 ? formatSmall(i) : formatBig(BigInt(i))),
    formatBig,
    locate(cidr) {
      const slash = cidr.indexOf("/");
      const prefixLen =
        slash > 0 && scanIPv6Groups(cidr, 0, slash) ? scanPrefix(cidr, slash + 1, 128) : -1;
      if (prefixLen < 0) throw invalidCidr(cidr);
      if (prefixLen !== len) return -2;
      const at = groupsToBigInt() & ~hostMask;
      return at >= min && at <= max ? Number((at - min) >> shift) : -1;
    },
    rangeOf(cidr) {
      const net = IP6Net.parse(cidr).network();
      const start = net.ip;
      let lo: bigint;
      let hi: bigint;
      if (net.prefixLen >= len) {
        const at = start & ~hostMask;
        lo = at < min ? -1n : (at - min) >> shift;
        hi = lo;
      } else {
        const end = start | ((1n << BigInt(128 - net.prefixLen)) - 1n);
        lo = start <= min ? 0n : (start - min) >> shift;
        hi = end < min ? -1n : (end - min) >> shift;
      }
      if (lo < 0n) lo = 0n;
      if (hi > n - 1n) hi = n - 1n;
      if (lo > hi || hi < 0n) return null;
      const exact = net.prefixLen === len;
      return { lo, hi, exact, key: exact ? "" : net.toString() };
    },
  };
}

function badConfig(field: string, message: string): FlannelError {
  return new FlannelError("CONFIG_INVALID", message, { field });
}
