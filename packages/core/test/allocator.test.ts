import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashIndex } from "../src/allocator/hash.js";
import {
  formatIPv4,
  formatIPv6,
  IP4Net,
  IP6Net,
  isFlannelError,
  type NetworkConfig,
  parseIPv4,
  parseIPv6,
  parseNetworkConfig,
  SubnetAllocator,
} from "../src/index.js";

// NetworkConfig objects built by hand, with flannel's defaults (CheckNetworkConfig in flannel's
// pkg/subnet/config.go: SubnetMin = Network + one subnet, SubnetMax = the last subnet).
function v4Config(network: string, subnetLen: number, min?: string, max?: string): NetworkConfig {
  const net = IP4Net.parse(network).network();
  const size = 2 ** (32 - subnetLen);
  return {
    enableIPv4: true,
    enableIPv6: false,
    enableNFTables: false,
    network: net.toString(),
    subnetLen,
    subnetMin: min ?? formatIPv4(net.ip + size),
    subnetMax: max ?? formatIPv4(net.lastIP + 1 - size),
    ipv6Network: null,
    ipv6SubnetLen: 0,
    ipv6SubnetMin: null,
    ipv6SubnetMax: null,
    backend: { type: "udp", port: 8285 },
  };
}

function v6Config(network: string, subnetLen: number, min?: string, max?: string): NetworkConfig {
  const net = IP6Net.parse(network).network();
  const size = 1n << BigInt(128 - subnetLen);
  return {
    enableIPv4: false,
    enableIPv6: true,
    enableNFTables: false,
    network: null,
    subnetLen: 0,
    subnetMin: null,
    subnetMax: null,
    ipv6Network: net.toString(),
    ipv6SubnetLen: subnetLen,
    ipv6SubnetMin: min ?? formatIPv6(net.ip + size),
    ipv6SubnetMax: max ?? formatIPv6(net.lastIP + 1n - size),
    backend: { type: "udp", port: 8285 },
  };
}

function dualConfig(): NetworkConfig {
  const v4 = v4Config("10.0.0.0/16", 24);
  const v6 = v6Config("fc00::/48", 64);
  return { ...v4, ...pick6(v6), enableIPv6: true };
}

function pick6(c: NetworkConfig): Partial<NetworkConfig> {
  return {
    ipv6Network: c.ipv6Network,
    ipv6SubnetLen: c.ipv6SubnetLen,
    ipv6SubnetMin: c.ipv6SubnetMin,
    ipv6SubnetMax: c.ipv6SubnetMax,
  };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (isFlannelError(e)) return e.code;
    throw e;
  }
  return undefined;
}

describe("SubnetAllocator: windows (flannel's default SubnetMin/SubnetMax)", () => {
  it.each([
    [v4Config("10.3.0.0/16", 24), 255n, "10.3.1.0/24", "10.3.255.0/24"],
    [v4Config("172.30.0.0/16", 21), 31n, "172.30.8.0/21", "172.30.248.0/21"],
    [v4Config("10.0.0.0/8", 24), 65535n, "10.0.1.0/24", "10.255.255.0/24"],
    [v4Config("192.168.0.0/23", 25), 3n, "192.168.0.128/25", "192.168.1.128/25"],
    [v4Config("10.0.0.0/28", 30), 3n, "10.0.0.4/30", "10.0.0.12/30"],
    [v6Config("fc00::/48", 64), 65535n, "fc00:0:0:1::/64", "fc00:0:0:ffff::/64"],
  ])("%#: size %s, first %s, last %s", (config, size, first, last) => {
    const alloc = new SubnetAllocator(config, { strategy: "sequential" });
    expect(alloc.size).toBe(size);
    expect(alloc.freeCount).toBe(size);
    expect(alloc.allocatedCount).toBe(0n);
    expect(alloc.allocate()).toBe(first);
    const all = [first];
    for (let i = 1n; i < size; i++) all.push(alloc.allocate());
    expect(all[all.length - 1]).toBe(last);
    expect(new Set(all).size).toBe(Number(size));
    expect(alloc.freeCount).toBe(0n);
    expect(() => alloc.allocate()).toThrowError("out of subnets");
    expect(codeOf(() => alloc.allocate())).toBe("OUT_OF_SUBNETS");
  });

  it("takes its window from parseNetworkConfig", () => {
    const dual = parseNetworkConfig(
      '{"Network":"172.30.0.0/16","SubnetLen":21,"EnableIPv6":true,"IPv6Network":"fc00::/48"}',
    );
    const four = new SubnetAllocator(dual, { strategy: "sequential" });
    expect(four.size).toBe(31n);
    expect(four.allocate()).toBe("172.30.8.0/21");
    const six = new SubnetAllocator(dual, { family: 6, strategy: "sequential" });
    expect(six.size).toBe(65535n);
    expect(six.allocate()).toBe("fc00:0:0:1::/64");
    const small = new SubnetAllocator(parseNetworkConfig('{"Network":"10.0.0.0/28"}'));
    expect(small.size).toBe(3n);
  });

  it("has no candidates when SubnetMin > SubnetMax (flannel does not reject it)", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/16", 24, "10.0.9.0", "10.0.8.0"));
    expect(alloc.size).toBe(0n);
    expect(codeOf(() => alloc.allocate())).toBe("OUT_OF_SUBNETS");
    expect(alloc.has("10.0.8.0/24")).toBe(false);
    alloc.occupy("10.0.8.0/24");
    expect(alloc.allocatedCount).toBe(0n);
  });

  it("uses an explicit SubnetMin/SubnetMax window", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24, "10.0.1.0", "10.0.20.0"), {
      strategy: "sequential",
    });
    expect(alloc.size).toBe(20n);
    expect(alloc.allocate()).toBe("10.0.1.0/24");
  });

  it("picks the family: IPv4 by default, IPv6 when asked or when IPv4 is off", () => {
    expect(new SubnetAllocator(dualConfig()).family).toBe(4);
    const six = new SubnetAllocator(dualConfig(), { family: 6, strategy: "sequential" });
    expect(six.family).toBe(6);
    expect(six.allocate()).toBe("fc00:0:0:1::/64");
    expect(new SubnetAllocator(v6Config("fc00::/48", 64)).family).toBe(6);
    expect(codeOf(() => new SubnetAllocator(v4Config("10.0.0.0/8", 24), { family: 6 }))).toBe(
      "INVALID_ARGUMENT",
    );
  });

  it("refuses a window that is not on a SubnetLen boundary", () => {
    const err = (() => {
      try {
        new SubnetAllocator(v4Config("10.0.0.0/8", 24, "10.0.1.1"));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toMatchObject({
      code: "CONFIG_INVALID",
      field: "SubnetMin",
      message: "SubnetMin is not on a SubnetLen boundary: 10.0.1.1",
    });
    expect(codeOf(() => new SubnetAllocator(v6Config("fc00::/48", 64, undefined, "fc00::1")))).toBe(
      "CONFIG_INVALID",
    );
  });

  it("refuses unknown options", () => {
    const config = v4Config("10.0.0.0/16", 24);
    // biome-ignore lint/suspicious/noExplicitAny: testing what plain JavaScript callers can pass
    expect(codeOf(() => new SubnetAllocator(config, { strategy: "lowest" as any }))).toBe(
      "INVALID_ARGUMENT",
    );
    // biome-ignore lint/suspicious/noExplicitAny: as above
    expect(codeOf(() => new SubnetAllocator(config, { family: 5 as any }))).toBe(
      "INVALID_ARGUMENT",
    );
  });
});

describe("SubnetAllocator: strategies", () => {
  it("random picks uniformly among the first 100 free from SubnetMin (flannel)", () => {
    const config = v4Config("10.0.0.0/8", 24);
    expect(new SubnetAllocator(config, { random: () => 0 }).allocate()).toBe("10.0.1.0/24");
    expect(new SubnetAllocator(config, { random: () => 0.999999 }).allocate()).toBe(
      "10.0.100.0/24",
    );
    expect(new SubnetAllocator(config, { random: () => 0.5 }).allocate()).toBe("10.0.51.0/24");
    const alloc = new SubnetAllocator(config, { random: () => 0.999999 });
    for (let i = 1; i <= 50; i++) alloc.occupy(`10.0.${2 * i}.0/24`);
    // free: 1, 3, …, 99, then 101, 102, …: the 100th free is 150.
    expect(alloc.allocate()).toBe("10.0.150.0/24");
  });

  it("random with fewer than 100 free picks among those", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/28", 30), { random: () => 0.999 });
    expect(alloc.allocate()).toBe("10.0.0.12/30");
    expect(alloc.allocate()).toBe("10.0.0.8/30");
    expect(alloc.allocate()).toBe("10.0.0.4/30");
  });

  it("random refuses an RNG outside [0, 1)", () => {
    for (const bad of [1, -0.1, Number.NaN]) {
      const alloc = new SubnetAllocator(v4Config("10.0.0.0/16", 24), { random: () => bad });
      expect(codeOf(() => alloc.allocate())).toBe("INVALID_ARGUMENT");
      expect(alloc.allocatedCount).toBe(0n);
    }
  });

  it("sequential takes the lowest free, refilling holes", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/16", 24), { strategy: "sequential" });
    expect(alloc.allocate()).toBe("10.0.1.0/24");
    expect(alloc.allocate()).toBe("10.0.2.0/24");
    alloc.occupy("10.0.3.0/24");
    expect(alloc.allocate()).toBe("10.0.4.0/24");
    alloc.release("10.0.2.0/24");
    expect(alloc.allocate()).toBe("10.0.2.0/24");
  });

  it("hashed starts at a stable hash of the identity and spreads nodes apart", () => {
    const config = v4Config("10.0.0.0/8", 24);
    const a = new SubnetAllocator(config, { strategy: "hashed", identity: "192.168.64.3" });
    const b = new SubnetAllocator(config, { strategy: "hashed", identity: "192.168.64.3" });
    const first = a.allocate();
    expect(b.allocate()).toBe(first);
    expect(a.allocate({ identity: "192.168.64.3" })).not.toBe(first); // next free after it
    const picks = new Set<string>();
    const c = new SubnetAllocator(config, { strategy: "hashed" });
    for (let i = 0; i < 200; i++) picks.add(c.allocate({ identity: `192.168.0.${i}` }));
    expect(picks.size).toBe(200);
    // spread: the picks are not bunched at the start of the window
    const thirdOctets = [...picks].map((p) => Number(p.split(".")[1]));
    expect(Math.max(...thirdOctets) - Math.min(...thirdOctets)).toBeGreaterThan(200);
  });

  it("hashed takes the next free after its start, wrapping to SubnetMin", () => {
    const config = v4Config("10.0.0.0/28", 30);
    const alloc = new SubnetAllocator(config, { strategy: "hashed", identity: "node-a" });
    const got = [alloc.allocate(), alloc.allocate(), alloc.allocate()];
    expect(new Set(got)).toEqual(new Set(["10.0.0.4/30", "10.0.0.8/30", "10.0.0.12/30"]));
    expect(codeOf(() => alloc.allocate())).toBe("OUT_OF_SUBNETS");
  });

  it("hashed needs an identity", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/16", 24), { strategy: "hashed" });
    expect(codeOf(() => alloc.allocate())).toBe("INVALID_ARGUMENT");
  });

  it("the hash is stable across releases (pinned values)", () => {
    expect(hashIndex("192.168.64.3", 65535n)).toMatchInlineSnapshot(`4532n`);
    expect(hashIndex("", 1n << 56n)).toMatchInlineSnapshot(`18607841090351155n`);
  });
});

describe("SubnetAllocator: leases of other lengths and reference counting", () => {
  it("a shorter lease takes every candidate it overlaps", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24), { strategy: "sequential" });
    alloc.occupy("10.0.0.0/16");
    expect(alloc.allocatedCount).toBe(255n); // 10.0.1.0 … 10.0.255.0 (10.0.0.0 is outside)
    expect(alloc.has("10.0.7.0/24")).toBe(true);
    expect(alloc.allocate()).toBe("10.1.0.0/24");
  });

  it("a longer lease takes the candidate it lies in", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24), { strategy: "sequential" });
    alloc.occupy("10.0.1.128/25");
    alloc.occupy("10.0.1.0/25");
    expect(alloc.allocatedCount).toBe(1n);
    alloc.release("10.0.1.128/25");
    expect(alloc.has("10.0.1.0/24")).toBe(true); // the other /25 still holds it
    expect(alloc.allocate()).toBe("10.0.2.0/24");
    alloc.release("10.0.1.0/25");
    expect(alloc.has("10.0.1.0/24")).toBe(false);
    expect(alloc.allocate()).toBe("10.0.1.0/24");
  });

  it("releasing one of two overlapping leases frees nothing the other covers", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24));
    alloc.occupy("10.0.0.0/16");
    alloc.occupy("10.0.1.0/24");
    alloc.release("10.0.0.0/16");
    expect(alloc.allocatedCount).toBe(1n);
    expect(alloc.has("10.0.1.0/24")).toBe(true);
    alloc.occupy("10.0.0.0/16");
    alloc.release("10.0.1.0/24");
    expect(alloc.allocatedCount).toBe(255n);
    expect(alloc.has("10.0.1.0/24")).toBe(true);
  });

  it("occupying the same lease twice is occupying it once; host bits are ignored", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24));
    alloc.occupy("10.0.5.0/24");
    alloc.occupy("10.0.5.1/24");
    alloc.occupy("10.0.0.0/16");
    alloc.occupy("10.0.7.7/16");
    alloc.release("10.0.5.0/24");
    alloc.release("10.0.0.0/16");
    expect(alloc.allocatedCount).toBe(0n);
  });

  it("leases outside the window change nothing", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24));
    alloc.occupy("192.168.0.0/24");
    alloc.occupy("10.0.0.0/24"); // the network's first subnet is never a candidate
    alloc.occupy("10.0.0.0/25");
    expect(alloc.allocatedCount).toBe(0n);
    expect(alloc.has("192.168.0.0/24")).toBe(false);
    alloc.release("172.16.0.0/12");
    alloc.occupy("0.0.0.0/0");
    expect(alloc.freeCount).toBe(0n);
  });

  it("refuses CIDR text of the other family", () => {
    const alloc = new SubnetAllocator(v4Config("10.0.0.0/8", 24));
    expect(codeOf(() => alloc.occupy("fc00::/64"))).toBe("INVALID_CIDR");
    expect(codeOf(() => alloc.has("10.0.0.1"))).toBe("INVALID_CIDR");
    const six = new SubnetAllocator(v6Config("fc00::/48", 64));
    expect(codeOf(() => six.release("10.0.0.0/24"))).toBe("INVALID_CIDR");
  });
});

describe("SubnetAllocator: windows far bigger than memory", () => {
  it("allocates /64s of fc00::/8 (2^56 candidates) and counts in bigint", () => {
    const alloc = new SubnetAllocator(v6Config("fc00::/8", 64), { strategy: "sequential" });
    expect(alloc.size).toBe((1n << 56n) - 1n);
    expect(alloc.allocate()).toBe("fc00:0:0:1::/64");
    alloc.occupy("fc00:0:0:2::/63"); // 2 and 3
    expect(alloc.allocate()).toBe("fc00:0:0:4::/64");
    alloc.occupy("fc00::/16");
    expect(alloc.allocatedCount).toBe((1n << 48n) - 1n);
    expect(alloc.allocate()).toBe("fc01::/64");
    alloc.release("fc00::/16");
    expect(alloc.allocatedCount).toBe(5n);
    expect(alloc.allocate()).toBe("fc00:0:0:5::/64");
    expect(alloc.freeCount + alloc.allocatedCount).toBe(alloc.size);
    const random = new SubnetAllocator(v6Config("fc00::/8", 64), { random: () => 0.999 });
    expect(random.allocate()).toBe("fc00:0:0:64::/64");
    const hashed = new SubnetAllocator(v6Config("fc00::/8", 64), {
      strategy: "hashed",
      identity: "node-1",
    });
    const h = hashed.allocate();
    expect(hashed.has(h)).toBe(true);
    expect(IP6Net.parse("fc00::/8").contains(h)).toBe(true);
  });

  it("handles the whole IPv4 space at /32 (sparse) and the IPv6 space at /128", () => {
    const v4 = new SubnetAllocator(v4Config("0.0.0.0/0", 32, "0.0.0.0", "255.255.255.255"), {
      strategy: "sequential",
    });
    expect(v4.size).toBe(1n << 32n);
    expect(v4.allocate()).toBe("0.0.0.0/32");
    v4.occupy("0.0.0.0/8");
    expect(v4.allocate()).toBe("1.0.0.0/32");
    const v6 = new SubnetAllocator(
      v6Config("::/0", 128, "::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
      {
        strategy: "sequential",
      },
    );
    expect(v6.size).toBe(1n << 128n);
    expect(v6.allocate()).toBe("::/128");
    v6.occupy("::/1");
    expect(v6.allocate()).toBe("8000::/128");
    expect(v6.allocatedCount).toBe((1n << 127n) + 1n);
  });
});

// ---------------------------------------------------------------------------------------------
// Model-based properties: flannel's own walk (allocateSubnet in pkg/subnet/etcd/local_manager.go,
// v0.28: up from SubnetMin, skipping overlaps, the first 100 free) over a set of leases,
// written the obvious way with bigint, against the allocator, through random operations.

interface Window {
  readonly config: NetworkConfig;
  readonly family: 4 | 6;
  readonly bits: number;
  readonly len: number;
  readonly min: bigint;
  readonly n: bigint;
}

function windowOf(config: NetworkConfig, family: 4 | 6): Window {
  const bits = family === 4 ? 32 : 128;
  const len = family === 4 ? config.subnetLen : config.ipv6SubnetLen;
  const min =
    family === 4 ? BigInt(parseIPv4(config.subnetMin!)) : parseIPv6(config.ipv6SubnetMin!);
  const max =
    family === 4 ? BigInt(parseIPv4(config.subnetMax!)) : parseIPv6(config.ipv6SubnetMax!);
  const step = 1n << BigInt(bits - len);
  return { config, family, bits, len, min, n: min > max ? 0n : (max - min) / step + 1n };
}

function cidrOf(w: Window, address: bigint, len: number): string {
  return w.family === 4
    ? new IP4Net(Number(address), len).network().toString()
    : new IP6Net(address, len).network().toString();
}

class FlannelModel {
  readonly leases = new Set<string>();
  constructor(readonly w: Window) {}

  /** Candidates [lo, hi] a lease overlaps (equal under the shorter mask), clipped. */
  range(cidr: string): [bigint, bigint] | null {
    const { bits, len, min, n } = this.w;
    const net = this.w.family === 4 ? IP4Net.parse(cidr) : IP6Net.parse(cidr);
    const start = BigInt(net.network().ip);
    const end = start + (1n << BigInt(bits - net.prefixLen)) - 1n;
    const step = 1n << BigInt(bits - len);
    if (end < min || n === 0n) return null;
    const lo = start <= min ? 0n : (start - min) / step;
    let hi = (end - min) / step;
    if (hi > n - 1n) hi = n - 1n;
    return lo > hi ? null : [lo, hi];
  }

  ranges(): Array<[bigint, bigint]> {
    const out: Array<[bigint, bigint]> = [];
    for (const l of this.leases) {
      const r = this.range(l);
      if (r) out.push(r);
    }
    return out;
  }

  /** Free candidates from `from`, at most `limit`, jumping over taken runs. */
  free(from: bigint, limit: number): bigint[] {
    const ranges = this.ranges();
    const out: bigint[] = [];
    let k = from;
    while (k < this.w.n && out.length < limit) {
      let jump = -1n;
      for (const [a, b] of ranges) if (a <= k && k <= b && b > jump) jump = b;
      if (jump >= 0n) k = jump + 1n;
      else out.push(k++);
    }
    return out;
  }

  taken(): bigint {
    const merged = this.ranges().sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    let total = 0n;
    let end = -1n;
    for (const [a, b] of merged) {
      if (b <= end) continue;
      total += b - (a > end ? a : end + 1n) + 1n;
      end = b;
    }
    return total;
  }

  candidate(k: bigint): string {
    const step = 1n << BigInt(this.w.bits - this.w.len);
    return cidrOf(this.w, this.w.min + k * step, this.w.len);
  }

  allocate(strategy: string, x: number, identity: string): string | null {
    let k: bigint | undefined;
    if (this.w.n === 0n) return null;
    if (strategy === "random") {
      const bag = this.free(0n, 100);
      k = bag[Math.floor(x * bag.length)];
    } else if (strategy === "sequential") {
      k = this.free(0n, 1)[0];
    } else {
      k = this.free(hashIndex(identity, this.w.n), 1)[0] ?? this.free(0n, 1)[0];
    }
    if (k === undefined) return null;
    const cidr = this.candidate(k);
    this.leases.add(cidr);
    return cidr;
  }
}

type Op =
  | { op: "allocate"; x: number; identity: string }
  | { op: "occupy"; k: bigint; dlen: number; host: bigint }
  | { op: "release"; pick: number }
  | { op: "has"; k: bigint; dlen: number };

function arbOps(nearStart: boolean): fc.Arbitrary<Op[]> {
  const k = nearStart
    ? fc.bigInt({ min: -3n, max: 400n })
    : fc.bigInt({ min: -3n, max: (1n << 40n) - 1n });
  return fc.array(
    fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          op: fc.constant("allocate" as const),
          x: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
          identity: fc.constantFrom("a", "b", "10.0.0.1", "node-7", "fd00::1"),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          op: fc.constant("occupy" as const),
          k,
          dlen: fc.integer({ min: -4, max: 3 }),
          host: fc.bigInt({ min: 0n, max: (1n << 20n) - 1n }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({ op: fc.constant("release" as const), pick: fc.nat() }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant("has" as const),
          k,
          dlen: fc.integer({ min: -4, max: 3 }),
        }),
      },
    ),
    { maxLength: 120 },
  );
}

function run(w: Window, strategy: "random" | "sequential" | "hashed", ops: Op[]): void {
  const xs: number[] = [];
  const alloc = new SubnetAllocator(w.config, {
    family: w.family,
    strategy,
    random: () => xs.shift() ?? 0,
  });
  const model = new FlannelModel(w);
  const step = 1n << BigInt(w.bits - w.len);
  const span = 1n << BigInt(w.bits);
  const seen: string[] = [];
  const lenOf = (dlen: number) => Math.min(w.bits, Math.max(0, w.len + dlen));
  const addrOf = (k: bigint, host: bigint) => {
    const a = w.min + k * step + (host % step);
    return ((a % span) + span) % span;
  };
  expect(alloc.size).toBe(w.n);
  for (const o of ops) {
    if (o.op === "allocate") {
      xs.push(o.x);
      const expected = model.allocate(strategy, o.x, o.identity);
      let got: string | null;
      try {
        got = alloc.allocate({ identity: o.identity });
      } catch (e) {
        if (!isFlannelError(e, "OUT_OF_SUBNETS")) throw e;
        got = null;
      }
      xs.length = 0;
      expect(got).toBe(expected);
      if (got !== null) {
        seen.push(got);
        // inside [min, max] and aligned
        const net = w.family === 4 ? IP4Net.parse(got) : IP6Net.parse(got);
        expect(net.hasHostBits).toBe(false);
        expect(net.prefixLen).toBe(w.len);
        expect(model.range(got)).not.toBeNull();
      }
    } else if (o.op === "occupy") {
      const cidr = cidrOf(w, addrOf(o.k, o.host), lenOf(o.dlen));
      alloc.occupy(cidr);
      model.leases.add(cidr);
      seen.push(cidr);
    } else if (o.op === "release") {
      if (seen.length === 0) continue;
      const cidr = seen[o.pick % seen.length]!;
      alloc.release(cidr);
      model.leases.delete(cidr);
    } else {
      const cidr = cidrOf(w, addrOf(o.k, 0n), lenOf(o.dlen));
      const r = model.range(cidr);
      const expected = r !== null && model.ranges().some(([a, b]) => a <= r[1] && r[0] <= b);
      expect(alloc.has(cidr)).toBe(expected);
    }
    const taken = model.taken();
    expect(alloc.allocatedCount).toBe(taken);
    expect(alloc.freeCount).toBe(w.n - taken);
  }
}

const arbV4Window = fc
  .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 8, max: 28 }))
  .chain(([ip, prefix]) =>
    fc
      .tuple(
        fc.integer({ min: prefix + 2, max: Math.min(30, prefix + 10) }),
        fc.option(fc.nat(), { freq: 3 }),
        fc.option(fc.nat(), { freq: 3 }),
      )
      .map(([len, lo, hi]) => {
        const net = new IP4Net(ip, prefix).network();
        const subnets = 2 ** (len - prefix);
        const at = (k: number) => formatIPv4(net.ip + k * 2 ** (32 - len));
        return windowOf(
          v4Config(
            net.toString(),
            len,
            lo === null ? undefined : at(lo % subnets),
            hi === null ? undefined : at(hi % subnets),
          ),
          4,
        );
      }),
  );

const arbV6Window = fc
  .tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 16, max: 120 }))
  .chain(([ip, prefix]) =>
    fc
      .tuple(
        fc.integer({ min: prefix + 2, max: Math.min(126, prefix + 12) }),
        fc.option(fc.nat(), { freq: 3 }),
      )
      .map(([len, lo]) => {
        const net = new IP6Net(ip, prefix).network();
        const subnets = 1n << BigInt(len - prefix);
        const min =
          lo === null
            ? undefined
            : formatIPv6(net.ip + (BigInt(lo) % subnets) * (1n << BigInt(128 - len)));
        return windowOf(v6Config(net.toString(), len, min), 6);
      }),
  );

// Windows over 2^22 candidates take the sparse path.
const arbHugeWindow = fc.oneof(
  fc.constantFrom(
    windowOf(v6Config("fc00::/8", 64), 6),
    windowOf(v6Config("2001:db8::/32", 96), 6),
    windowOf(v4Config("10.0.0.0/8", 30), 4),
    windowOf(v4Config("0.0.0.0/0", 30, "0.0.0.0", "255.255.255.252"), 4),
  ),
  fc
    .tuple(
      fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
      fc.integer({ min: 0, max: 80 }),
      fc.integer({ min: 23, max: 44 }),
    )
    .map(([ip, prefix, extra]) => {
      const net = new IP6Net(ip, prefix).network();
      return windowOf(v6Config(net.toString(), prefix + extra), 6);
    }),
);

const strategies = fc.constantFrom("random" as const, "sequential" as const, "hashed" as const);

describe("SubnetAllocator: properties against flannel's walk", () => {
  it("IPv4 windows: same picks, never twice, never outside, counts consistent", () => {
    fc.assert(
      fc.property(arbV4Window, strategies, arbOps(true), (w, strategy, ops) =>
        run(w, strategy, ops),
      ),
      { numRuns: 300 },
    );
  });

  it("IPv6 windows: same", () => {
    fc.assert(
      fc.property(arbV6Window, strategies, arbOps(true), (w, strategy, ops) =>
        run(w, strategy, ops),
      ),
      { numRuns: 300 },
    );
  });

  it("sparse windows (more than 2^22 candidates): same", () => {
    fc.assert(
      fc.property(
        arbHugeWindow,
        strategies,
        fc.boolean(),
        fc.context(),
        (w, strategy, near, ctx) => {
          fc.assert(
            fc.property(arbOps(near), (ops) => {
              ctx.log(`${w.config.ipv6Network ?? w.config.network} /${w.len}`);
              run(w, strategy, ops);
            }),
            { numRuns: 3 },
          );
        },
      ),
      { numRuns: 100 },
    );
  });

  it("fills a small window completely with every strategy, each subnet once", () => {
    fc.assert(
      fc.property(
        arbV4Window.filter((w) => w.n <= 600n),
        strategies,
        fc.integer(),
        (w, strategy, seed) => {
          let s = seed >>> 0;
          const random = () => {
            s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
            return s / 0x1_0000_0000;
          };
          const alloc = new SubnetAllocator(w.config, { strategy, random, identity: `n${seed}` });
          const got = new Set<string>();
          for (let i = 0n; i < w.n; i++) got.add(alloc.allocate({ identity: `n${i}` }));
          expect(got.size).toBe(Number(w.n));
          expect(alloc.freeCount).toBe(0n);
          expect(codeOf(() => alloc.allocate())).toBe("OUT_OF_SUBNETS");
        },
      ),
      { numRuns: 100 },
    );
  });
});
