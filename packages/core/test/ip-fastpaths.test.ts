import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cidrContains, formatIPv4, formatIPv6, IP4Net, IP6Net, ipv6Mask } from "../src/index.js";
import { scanPrefix } from "../src/ip/ip4net.js";
import * as ipv4 from "../src/ip/ipv4.js";
import { scanIPv4 } from "../src/ip/ipv4.js";
import { formatIPv6Groups, formatIPv6Words } from "../src/ip/ipv6.js";

// The hot paths (word comparisons, text scanned in place, word printing) against plain bigint
// arithmetic, for networks built by parsing and by the constructor alike.

const MAX128 = (1n << 128n) - 1n;
const mask = (p: number) => (p === 0 ? 0n : (MAX128 << BigInt(128 - p)) & MAX128);

// Addresses with long zero runs and ffff groups are the interesting ones for printing.
const arbGroupedV6 = fc
  .array(fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })), {
    minLength: 8,
    maxLength: 8,
  })
  .map((g) => g.reduce((acc, x) => (acc << 16n) | BigInt(x), 0n));
const arbV6 = fc.oneof(arbGroupedV6, fc.bigInt({ min: 0n, max: MAX128 }));
const arbLen = fc.integer({ min: 0, max: 128 });

/** RFC 5952 as Go prints it, written independently of the implementation. */
function reference(v: bigint): string {
  const g = Array.from({ length: 8 }, (_, k) => Number((v >> BigInt(112 - 16 * k)) & 0xffffn));
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

describe("IPv6 printing", () => {
  it("formatIPv6 / formatIPv6Words / formatIPv6Groups equal the RFC 5952 reference", () => {
    fc.assert(
      fc.property(arbV6, (v) => {
        const want = reference(v);
        expect(formatIPv6(v)).toBe(want);
        const w = [96n, 64n, 32n, 0n].map((s) => Number((v >> s) & 0xffffffffn));
        expect(formatIPv6Words(w[0]!, w[1]!, w[2]!, w[3]!)).toBe(want);
        const g = new Uint16Array(8);
        for (let k = 0; k < 8; k++) g[k] = Number((v >> BigInt(112 - 16 * k)) & 0xffffn);
        expect(formatIPv6Groups(g)).toBe(want);
      }),
      { numRuns: 3000 },
    );
  });
});

describe("IP6Net word paths", () => {
  it("contains / overlaps / hasHostBits / toString agree with bigint arithmetic", () => {
    fc.assert(
      fc.property(arbV6, arbLen, arbV6, arbLen, fc.boolean(), (a, p, b, q, viaText) => {
        const x = viaText ? IP6Net.parse(`${formatIPv6(a)}/${p}`) : new IP6Net(a, p);
        const y = viaText ? new IP6Net(b, q) : IP6Net.parse(`${formatIPv6(b)}/${q}`);
        const m = mask(Math.min(p, q));
        expect(x.contains(y)).toBe(q >= p && (a & mask(p)) === (b & mask(p)));
        expect(x.contains(y.toString())).toBe(x.contains(y));
        expect(x.contains(formatIPv6(b))).toBe((a & mask(p)) === (b & mask(p)));
        expect(x.contains(b)).toBe((a & mask(p)) === (b & mask(p)));
        expect(x.overlaps(y)).toBe((a & m) === (b & m));
        expect(y.overlaps(x)).toBe(x.overlaps(y));
        expect(x.hasHostBits).toBe((a & mask(p)) !== a);
        expect(x.toString()).toBe(`${reference(a)}/${p}`);
        expect(x.network().toString()).toBe(`${reference(a & mask(p))}/${p}`);
        expect(ipv6Mask(p)).toBe(mask(p));
      }),
      { numRuns: 3000 },
    );
  });

  it("a containing network contains its own subnets, found through words", () => {
    fc.assert(
      fc.property(
        arbV6,
        fc.integer({ min: 0, max: 120 }),
        fc.integer({ min: 0, max: 8 }),
        fc.nat(),
        (a, p, d, k) => {
          const net = IP6Net.parse(`${formatIPv6(a)}/${p}`).network();
          const sub = net.subnetAt(BigInt(k) % net.count(p + d), p + d);
          expect(net.contains(sub)).toBe(true);
          expect(net.contains(sub.toString())).toBe(true);
          expect(sub.contains(net)).toBe(d === 0);
        },
      ),
    );
  });
});

describe("IP4Net.contains of text, scanned in place", () => {
  it("equals contains of the parsed network", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        (a, p, b, q) => {
          const x = new IP4Net(a, p);
          const y = new IP4Net(b, q);
          expect(x.contains(`${formatIPv4(b)}/${q}`)).toBe(x.contains(y));
          expect(x.contains(formatIPv4(b))).toBe(x.contains(new IP4Net(b, 32)));
          expect(x.contains(b)).toBe(x.contains(new IP4Net(b, 32)));
        },
      ),
    );
  });

  it("cidrContains(network, other) answers as parse + contains, for both families", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 32 }),
        (a, p, b, q) => {
          const net = `${formatIPv4(a)}/${p}`;
          const sub = `${formatIPv4(b)}/${q}`;
          expect(cidrContains(net, sub)).toBe(IP4Net.parse(net).contains(sub));
          expect(cidrContains(net, formatIPv4(b))).toBe(IP4Net.parse(net).contains(formatIPv4(b)));
        },
      ),
    );
    fc.assert(
      fc.property(arbV6, arbLen, arbV6, arbLen, (a, p, b, q) => {
        const net = `${formatIPv6(a)}/${p}`;
        const sub = `${formatIPv6(b)}/${q}`;
        expect(cidrContains(net, sub)).toBe(IP6Net.parse(net).contains(sub));
      }),
    );
    expect(cidrContains("172.30.0.0/16", "172.30.8.0/24")).toBe(true);
    expect(cidrContains("172.30.0.0/16", "172.31.0.1")).toBe(false);
    expect(() => cidrContains("172.30.0/16", "172.30.8.0/24")).toThrowError(
      "invalid CIDR address: 172.30.0/16",
    );
    expect(() => cidrContains("010.0.0.0/8", "10.0.0.0/24")).toThrowError(/invalid CIDR/);
    expect(() => cidrContains("10.0.0.0/8", "10.0.0.0/33")).toThrowError(
      "invalid CIDR address: 10.0.0.0/33",
    );
  });

  it("still refuses bad text with the CIDR parser's errors", () => {
    const net = IP4Net.parse("10.0.0.0/8");
    expect(() => net.contains("10.0.0.0/33")).toThrowError("invalid CIDR address: 10.0.0.0/33");
    expect(() => net.contains("/8")).toThrowError("invalid CIDR address: /8");
    expect(() => net.contains("10.0.0")).toThrowError(/invalid IPv4 address/);
    const six = IP6Net.parse("fc00::/8");
    expect(() => six.contains("fc00::/129")).toThrowError("invalid CIDR address: fc00::/129");
    expect(() => six.contains("fc00:::1")).toThrowError(/invalid IPv6 address/);
  });
});

describe("one-pass IPv4 CIDR scan", () => {
  it("equals finding the slash, then scanning the address and the prefix", () => {
    const cidrish = fc
      .array(
        fc.oneof(
          fc.constantFrom(".", "/", "0", "1", "9", "a", " ", "-"),
          fc.integer({ min: 0, max: 300 }).map(String),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(fc.oneof(cidrish, fc.string()), (text) => {
        const slash = text.indexOf("/");
        const ip = slash > 0 ? scanIPv4(text, 0, slash) : -1;
        const len = ip >= 0 ? scanPrefix(text, slash + 1, 32) : -1;
        const got = ipv4.scanIPv4Cidr(text);
        expect(got).toBe(len < 0 ? -1 : ip);
        if (got >= 0) expect(ipv4.scannedPrefixLen).toBe(len);
      }),
      { numRuns: 20000 },
    );
  });
});
