import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalCidr,
  canonicalIP,
  formatIPv4,
  formatIPv6,
  IP4Net,
  IP6Net,
  ipFamily,
  isFlannelError,
  parseCidr,
  parseIPv4,
  parseIPv6,
} from "../src/index.js";

describe("IPv4 addresses", () => {
  it.each([
    ["0.0.0.0", 0],
    ["10.0.0.1", 0x0a000001],
    ["255.255.255.255", 0xffffffff],
    ["172.30.8.0", 0xac1e0800],
  ])("parses %s", (text, value) => {
    expect(parseIPv4(text)).toBe(value);
    expect(formatIPv4(value)).toBe(text);
  });

  it.each([
    "010.1.1.1",
    "10.1",
    "10.0.0",
    "10.0.0.0.0",
    " 10.0.0.1",
    "10.0.0.1 ",
    "10.0.0.256",
    "10..0.1",
    "10.0.0.",
    ".10.0.0",
    "1e1.0.0.1",
    "",
    "::1",
    "10.0.0.1%eth0",
    "00.0.0.0",
    "+1.0.0.0",
  ])("rejects %j", (text) => {
    expect(() => parseIPv4(text)).toThrowError(/invalid IPv4 address/);
    try {
      parseIPv4(text);
    } catch (e) {
      expect(isFlannelError(e, "INVALID_IP")).toBe(true);
    }
  });

  it("round-trips every uint32", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(parseIPv4(formatIPv4(n))).toBe(n);
      }),
    );
  });
});

describe("IPv6 addresses", () => {
  it.each([
    ["::", "::"],
    ["::1", "::1"],
    ["FC00:0:0:1::", "fc00:0:0:1::"],
    ["fc00:0000:0000:ffff:0000:0000:0000:0000", "fc00:0:0:ffff::"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8::0:1", "2001:db8::1"],
    ["1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["1::2:3:4:5:6:7", "1:0:2:3:4:5:6:7"],
    ["::ffff:10.1.2.3", "::ffff:10.1.2.3"],
    ["::10.1.2.3", "::a01:203"],
    ["fd00:12:13::", "fd00:12:13::"],
    ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ])("parses %s as %s", (text, canonical) => {
    expect(formatIPv6(parseIPv6(text))).toBe(canonical);
  });

  it.each([
    "",
    ":",
    ":::",
    "1:::2",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "12345::",
    "fe80::1%eth0",
    "g::",
    "1:",
    ":1",
    "1:2:3:4:5:6:7:8::",
    "::1.2.3",
    "1:2:3:4:5:6:7:1.2.3.4",
    " ::1",
  ])("rejects %j", (text) => {
    expect(() => parseIPv6(text)).toThrowError(/invalid IPv6 address/);
  });

  it("round-trips every 128-bit value", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (n) => {
        expect(parseIPv6(formatIPv6(n))).toBe(n);
      }),
    );
  });

  it("compresses the first longest zero run and never a single group", () => {
    expect(formatIPv6(parseIPv6("1:0:0:2:0:0:3:4"))).toBe("1::2:0:0:3:4");
    expect(formatIPv6(parseIPv6("1:0:2:0:0:0:3:4"))).toBe("1:0:2::3:4");
  });
});

describe("IP4Net", () => {
  it("parses with host bits and masks them on request", () => {
    const net = IP4Net.parse("172.30.8.1/16");
    expect(net.toString()).toBe("172.30.8.1/16");
    expect(net.network().toString()).toBe("172.30.0.0/16");
    expect(net.hasHostBits).toBe(true);
    expect(() => IP4Net.parse("172.30.8.1/16", { strict: true })).toThrowError(/host bits/);
    expect(canonicalCidr("172.30.8.0/16", { mask: true })).toBe("172.30.0.0/16");
  });

  it.each([
    "10.0.0.0",
    "10.0.0.0/33",
    "10.0.0.0/",
    "10.0.0.0/-1",
    "10.1/8",
    "/8",
    "10.0.0.0/8 ",
    "10.0.0.0/ 8",
    "10.0.0.0/0x8",
  ])("rejects %j with Go's message", (text) => {
    expect(() => IP4Net.parse(text)).toThrowError(`invalid CIDR address: ${text}`);
  });

  it("accepts a zero-padded prefix as Go's ParseCIDR does", () => {
    expect(IP4Net.parse("10.0.0.0/08").prefixLen).toBe(8);
  });

  it("does subnet arithmetic", () => {
    const net = IP4Net.parse("10.0.0.0/8");
    expect(net.count(24)).toBe(65536n);
    expect(net.count()).toBe(16777216n);
    expect(net.subnetAt(1, 24).toString()).toBe("10.0.1.0/24");
    expect(net.subnetAt(65535n, 24).toString()).toBe("10.255.255.0/24");
    expect(net.indexOf("10.255.255.0/24")).toBe(65535n);
    expect(net.indexOf("11.0.0.0/24")).toBe(-1n);
    expect(() => net.subnetAt(65536, 24)).toThrowError(/outside/);
    expect(() => net.subnetAt(0, 7)).toThrowError(/prefix length/);
    expect(net.contains("10.1.2.3")).toBe(true);
    expect(net.contains("10.1.0.0/16")).toBe(true);
    expect(net.contains("10.0.0.0/7")).toBe(false);
    expect(net.overlaps(IP4Net.parse("10.3.0.0/16"))).toBe(true);
    expect(net.overlaps(IP4Net.parse("11.0.0.0/16"))).toBe(false);
    expect(IP4Net.parse("172.30.8.0/24").hostAt(1).toString()).toBe("172.30.8.1/24");
    expect(IP4Net.parse("255.255.255.0/24").next()).toBeNull();
    expect(IP4Net.parse("0.0.0.0/24").previous()).toBeNull();
    expect(IP4Net.parse("10.0.0.0/24").next()?.toString()).toBe("10.0.1.0/24");
    expect(IP4Net.parse("10.0.1.0/24").previous()?.toString()).toBe("10.0.0.0/24");
    expect([...IP4Net.parse("192.168.0.0/23").subnets(25)].map(String)).toEqual([
      "192.168.0.0/25",
      "192.168.0.128/25",
      "192.168.1.0/25",
      "192.168.1.128/25",
    ]);
    expect(IP4Net.parse("0.0.0.0/0").lastIP).toBe(0xffffffff);
  });

  it("keeps the containment laws", () => {
    const arbNet = fc
      .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 }))
      .map(([ip, len]) => new IP4Net(ip, len));
    fc.assert(
      fc.property(arbNet, arbNet, (a, b) => {
        expect(IP4Net.parse(a.toString()).equals(a)).toBe(true);
        expect(a.contains(a)).toBe(true);
        expect(a.overlaps(b)).toBe(b.overlaps(a));
        expect(a.overlaps(b)).toBe(a.contains(b) || b.contains(a));
        if (a.contains(b)) {
          const k = a.indexOf(b);
          expect(a.subnetAt(k, b.prefixLen).equals(b.network())).toBe(true);
          expect(a.contains(b.networkIP) && a.contains(b.lastIP)).toBe(true);
        }
      }),
    );
  });
});

describe("IP6Net", () => {
  it("does subnet arithmetic like flannel's upstream test", () => {
    const net = IP6Net.parse("fc00::/48");
    expect(net.subnetAt(1, 64).toString()).toBe("fc00:0:0:1::/64");
    expect(net.subnetAt(0xffff, 64).toString()).toBe("fc00:0:0:ffff::/64");
    expect(net.indexOf("fc00:0:0:ffff::/64")).toBe(0xffffn);
    expect(net.count(64)).toBe(65536n);
    expect(IP6Net.parse("2001:cafe:42::/64").hostAt(1).toString()).toBe("2001:cafe:42::1/64");
    expect(IP6Net.parse("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120").next()).toBeNull();
    expect(IP6Net.parse("::/120").previous()).toBeNull();
    expect(() => IP6Net.parse("fe80::/64%eth0")).toThrowError(/invalid CIDR/);
    expect(() => IP6Net.parse("fe80::%eth0/64")).toThrowError(/invalid CIDR/);
    expect(() => IP6Net.parse("::/129")).toThrowError(/invalid CIDR/);
  });

  it("keeps the containment laws", () => {
    const arbNet = fc
      .tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 128 }))
      .map(([ip, len]) => new IP6Net(ip, len));
    fc.assert(
      fc.property(arbNet, arbNet, (a, b) => {
        expect(IP6Net.parse(a.toString()).equals(a)).toBe(true);
        expect(a.overlaps(b)).toBe(b.overlaps(a));
        expect(a.overlaps(b)).toBe(a.contains(b) || b.contains(a));
        if (a.contains(b)) {
          expect(a.subnetAt(a.indexOf(b), b.prefixLen).equals(b.network())).toBe(true);
        }
      }),
    );
  });
});

describe("family-generic helpers", () => {
  it("parses and names families", () => {
    expect(parseCidr("10.0.0.0/8").family).toBe(4);
    expect(parseCidr("fc00::/7").family).toBe(6);
    expect(ipFamily("10.0.0.1")).toBe(4);
    expect(ipFamily("fc00::/7")).toBe(6);
    expect(ipFamily("nope")).toBeNull();
    expect(canonicalIP("FC00:0::1")).toBe("fc00::1");
  });
});

describe("canonical text fast paths", () => {
  // canonicalIP / canonicalCidr return an IPv4 text as is when it is already canonical: they
  // must agree with parsing and printing on every text, accepted or not.
  const slow = (f: () => string) => {
    try {
      return f();
    } catch (e) {
      return isFlannelError(e) ? `throws ${e.code}` : "throws";
    }
  };
  const text = fc
    .array(
      fc.constantFrom(
        "0",
        "1",
        "2",
        "5",
        "9",
        "25",
        "255",
        "256",
        "00",
        "01",
        ".",
        "/",
        "3",
        "32",
        "33",
        "08",
      ),
      {
        maxLength: 12,
      },
    )
    .map((parts) => parts.join(""));

  it("canonicalIP agrees with parseIPv4 + formatIPv4", () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(slow(() => canonicalIP(t))).toBe(slow(() => formatIPv4(parseIPv4(t))));
      }),
      { numRuns: 2000 },
    );
  });

  it("canonicalCidr agrees with parseCidr + toString", () => {
    fc.assert(
      fc.property(text, (t) => {
        expect(slow(() => canonicalCidr(t))).toBe(slow(() => parseCidr(t).toString()));
      }),
      { numRuns: 2000 },
    );
    expect(canonicalCidr("10.1.0.0/08")).toBe("10.1.0.0/8");
    expect(canonicalCidr("10.1.0.0/0")).toBe("10.1.0.0/0");
  });
});
