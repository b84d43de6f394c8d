/**
 * TEMPORARY stand-ins for parseNetworkConfig, SubnetAllocator and the subnet keys, written
 * against the signatures in core-api.md so the lease code can be tested before the real
 * modules land on main. NOT SHIPPED: replaced by the real imports after `git merge main`.
 * @internal
 */
import type { NetworkConfig } from "../config/types.js";
import { FlannelError } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { formatIPv4, parseIPv4 } from "../ip/ipv4.js";
import { formatIPv6, parseIPv6 } from "../ip/ipv6.js";

export class SubnetAllocator {
  readonly #family: 4 | 6;
  readonly #min: bigint;
  readonly #max: bigint;
  readonly #step: bigint;
  readonly #len: number;
  readonly #taken = new Set<bigint>();
  readonly #random: () => number;
  readonly #strategy: string;

  constructor(
    config: NetworkConfig,
    options?: {
      strategy?: "random" | "sequential" | "hashed";
      random?: () => number;
      family?: 4 | 6;
      identity?: string;
    },
  ) {
    this.#family = options?.family ?? 4;
    this.#strategy = options?.strategy ?? "random";
    this.#random = options?.random ?? Math.random;
    if (this.#family === 4) {
      this.#min = BigInt(parseIPv4(config.subnetMin!));
      this.#max = BigInt(parseIPv4(config.subnetMax!));
      this.#len = config.subnetLen;
      this.#step = 1n << BigInt(32 - config.subnetLen);
    } else {
      this.#min = parseIPv6(config.ipv6SubnetMin!);
      this.#max = parseIPv6(config.ipv6SubnetMax!);
      this.#len = config.ipv6SubnetLen;
      this.#step = 1n << BigInt(128 - config.ipv6SubnetLen);
    }
  }

  #fmt(ip: bigint): string {
    return this.#family === 4
      ? `${formatIPv4(Number(ip))}/${this.#len}`
      : `${formatIPv6(ip)}/${this.#len}`;
  }

  allocate(_options?: { identity?: string }): string {
    const free: bigint[] = [];
    for (let ip = this.#min; ip <= this.#max && free.length < 100; ip += this.#step) {
      if (!this.#taken.has(ip)) free.push(ip);
      if (this.#strategy === "sequential" && free.length === 1) break;
    }
    if (free.length === 0) throw new FlannelError("OUT_OF_SUBNETS", "out of subnets");
    const pick =
      this.#strategy === "sequential" ? free[0]! : free[Math.floor(this.#random() * free.length)]!;
    this.#taken.add(pick);
    return this.#fmt(pick);
  }

  occupy(cidr: string): void {
    const fam = cidr.includes(":") ? 6 : 4;
    if (fam !== this.#family) return;
    const net = fam === 4 ? IP4Net.parse(cidr) : IP6Net.parse(cidr);
    const bits = fam === 4 ? 32 : 128;
    const len = Math.min(net.prefixLen, this.#len);
    const span = 1n << BigInt(bits - len);
    const first = (BigInt(net.networkIP as number | bigint) / span) * span;
    const last = first + span - 1n;
    let ip =
      first > this.#min
        ? this.#min + ((first - this.#min + this.#step - 1n) / this.#step) * this.#step
        : this.#min;
    for (; ip <= this.#max && ip <= last; ip += this.#step) this.#taken.add(ip);
  }

  release(cidr: string): void {
    const net = cidr.includes(":") ? IP6Net.parse(cidr) : IP4Net.parse(cidr);
    this.#taken.delete(BigInt(net.networkIP as number | bigint));
  }

  has(cidr: string): boolean {
    const net = cidr.includes(":") ? IP6Net.parse(cidr) : IP4Net.parse(cidr);
    return this.#taken.has(BigInt(net.networkIP as number | bigint));
  }
}

export function makeSubnetKey(
  subnet: string | IP4Net,
  ipv6Subnet?: string | IP6Net | null,
): string {
  const n = typeof subnet === "string" ? IP4Net.parse(subnet) : subnet;
  let key = `${n.ipString}-${n.prefixLen}`;
  if (ipv6Subnet !== null && ipv6Subnet !== undefined) {
    const n6 = typeof ipv6Subnet === "string" ? IP6Net.parse(ipv6Subnet) : ipv6Subnet;
    key += `&${formatIPv6(n6.ip)}-${n6.prefixLen}`;
  }
  return key;
}

export function parseSubnetKey(key: string): { subnet: string; ipv6Subnet: string | null } {
  const m = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/.exec(key);
  if (!m) throw new FlannelError("SUBNET_KEY_INVALID", `invalid subnet key: ${key}`);
  return {
    subnet: `${m[1]}/${m[2]}`,
    ipv6Subnet: m[3] ? `${formatIPv6(parseIPv6(m[3]))}/${m[4]}` : null,
  };
}
