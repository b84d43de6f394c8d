import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIPv4,
  formatIPv6,
  IP4Net,
  IP6Net,
  isFlannelError,
  isIPv4,
  isIPv6,
  makeSubnetKey,
  parseSubnetKey,
} from "../src/index.js";

function expectInvalidKey(key: string): void {
  let caught: unknown;
  try {
    parseSubnetKey(key);
  } catch (e) {
    caught = e;
  }
  expect(isFlannelError(caught, "SUBNET_KEY_INVALID"), `key ${JSON.stringify(key)}`).toBe(true);
}

// flannel's ParseSubnetKey (subnet/subnet.go from v0.17.0, pkg/subnet/subnet.go in v0.28) as a
// model: the same regex (JavaScript and Go RE2 both take the leftmost-first submatch), Go's
// ParseIP (the same rules as ours: no leading zeros; lower case only because of the character
// class) and
// strconv.ParseUint with 5 and 7 bits.
const FLANNEL_REGEX = /(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;
const ANCHORED_REGEX = /^(\d+\.\d+.\d+.\d+)-(\d+)(?:&([a-f\d:]+)-(\d+))?$/;

function flannelModel(
  key: string,
  regex: RegExp,
): { subnet: string; ipv6Subnet: string | null } | null {
  const m = regex.exec(key);
  if (m === null) return null;
  const [, ip4, len4, ip6, len6] = m;
  if (!isIPv4(ip4!) || Number(len4) > 31) return null;
  const subnet = `${ip4}/${Number(len4)}`;
  if (ip6 === undefined) return { subnet, ipv6Subnet: null };
  if (!isIPv6(ip6) || Number(len6) > 127) return null;
  return { subnet, ipv6Subnet: IP6Net.parse(`${ip6}/${Number(len6)}`).toString() };
}

function ours(key: string): { subnet: string; ipv6Subnet: string | null } | null {
  try {
    return parseSubnetKey(key);
  } catch (e) {
    if (isFlannelError(e, "SUBNET_KEY_INVALID")) return null;
    throw e;
  }
}

describe("parseSubnetKey: golden table", () => {
  it.each([
    // upstream pkg/subnet/subnet_test.go
    ["10.12.13.0-24", "10.12.13.0/24", null],
    ["10.12.13.0-24&fd00:12:13::-56", "10.12.13.0/24", "fd00:12:13::/56"],
    // keys as flannel's MakeSubnetKey writes them (IPv4, dual stack)
    ["172.30.8.0-24", "172.30.8.0/24", null],
    ["10.5.1.0-24&fc00::-64", "10.5.1.0/24", "fc00::/64"],
    // a full etcd path (flannel applies its unanchored regex to the whole key)
    ["/coreos.com/network/subnets/10.5.1.0-24", "10.5.1.0/24", null],
    ["/coreos.com/network/subnets/10.5.1.0-24&fc00::-64", "10.5.1.0/24", "fc00::/64"],
    ["/kube-centos/network/subnets/172.30.8.0-21", "172.30.8.0/21", null],
    // flannel quirks we keep (docs/decisions.md, "Subnet keys")
    ["10.5.1.0-031", "10.5.1.0/31", null],
    ["10.5.1.0-024", "10.5.1.0/24", null],
    ["10.5.1.0-0", "10.5.1.0/0", null],
    ["10.5.1.1-24", "10.5.1.1/24", null],
    ["10.5.1.0-24&fc00:0:0::-64", "10.5.1.0/24", "fc00::/64"],
    ["10.5.1.0-24&fc00::1-64", "10.5.1.0/24", "fc00::1/64"],
    ["10.5.1.0-24&::-0", "10.5.1.0/24", "::/0"],
    ["10.5.1.0-24&fc00::-127", "10.5.1.0/24", "fc00::/127"],
    ["10.5.1.0-24&1:2:3:4:5:6:7:8-64", "10.5.1.0/24", "1:2:3:4:5:6:7:8/64"],
  ])("%s", (key, subnet, ipv6Subnet) => {
    expect(parseSubnetKey(key)).toEqual({ subnet, ipv6Subnet });
  });

  it.each([
    // upstream negative cases
    "10",
    "10.12.13.0",
    "10.12.13-24",
    "10.12.13.300-24",
    "10.12.13.0-24hi",
    "&2001::-56",
    "10.12.13.0-24&:12:13:-56",
    "10.12.13.0-24&20011::-56",
    "10.12.13.0-24&2001-56",
    "10.12.13.0-24&2001::",
    "10.12.13.0-24&2001::-56hi",
    // flannel's 5-bit and 7-bit lengths
    "10.12.13.0-32",
    "255.255.255.255-32",
    "10.12.13.0-24&fc00::-128",
    // lower-case hex only (the character class), as flannel
    "10.12.13.0-24&FC00::-64",
    "10.12.13.0-24&Fc00::-64",
    // Go's ParseIP refuses leading zeros (Go >= 1.17, which flannel v0.28 is built with)
    "010.12.13.0-24",
    "10.12.13.00-24",
    // stricter than flannel: junk before the key in its path segment
    "x10.5.1.0-24",
    "1.2.3.4.5-24",
    "10.5.1.0-24&::ffff:1.2.3.4-24",
    "/coreos.com/network/subnets/foo-10.5.1.0-24",
    // grammar
    "",
    "-24",
    "10.5.1.0-",
    "10.5.1.0-24&",
    "10.5.1.0-24&-64",
    "10.5.1.0-24&fc00::-",
    "10.5.1.0-24\n",
    "10.5.1.0-24 ",
    " 10.5.1.0-24",
    "10.5.1.0-+24",
    "10.5.1.0-24&fc00::%eth0-64",
    "10.5.1.0-24&fc00::-64&fd00::-64",
    "10.5.1.0/24",
    "10.5.1.0-24/",
    "10.5.1.0-99999999999999999999",
  ])("rejects %j", (key) => {
    expectInvalidKey(key);
  });

  it("says what was wrong", () => {
    expect(() => parseSubnetKey("10.12.13-24")).toThrowError('invalid subnet key: "10.12.13-24"');
  });

  it("flannel accepts the junk-prefixed keys we refuse (documented difference)", () => {
    expect(flannelModel("x10.5.1.0-24", FLANNEL_REGEX)?.subnet).toBe("10.5.1.0/24");
    expect(flannelModel("1.2.3.4.5-24", FLANNEL_REGEX)?.subnet).toBe("2.3.4.5/24");
    expect(flannelModel("10.5.1.0-24&::ffff:1.2.3.4-24", FLANNEL_REGEX)).toEqual({
      subnet: "1.2.3.4/24",
      ipv6Subnet: null,
    });
  });
});

describe("makeSubnetKey: golden table", () => {
  it.each([
    ["10.12.13.0/24", null, "10.12.13.0-24"],
    ["10.12.13.0/24", "fd00:12:13::/56", "10.12.13.0-24&fd00:12:13::-56"],
    ["10.5.1.0/24", "fc00::/64", "10.5.1.0-24&fc00::-64"],
    ["172.30.8.0/21", undefined, "172.30.8.0-21"],
    ["10.5.1.0/24", "FC00:0:0:0::/64", "10.5.1.0-24&fc00::-64"],
    ["0.0.0.0/0", "::/0", "0.0.0.0-0&::-0"],
    ["10.0.0.0/31", "fc00::/127", "10.0.0.0-31&fc00::-127"],
  ])("%s + %s", (v4, v6, key) => {
    expect(makeSubnetKey(v4, v6)).toBe(key);
    expect(makeSubnetKey(IP4Net.parse(v4), v6 ? IP6Net.parse(v6) : v6)).toBe(key);
  });

  it.each([
    ["10.5.1.1/24", null],
    ["10.5.1.0/32", null],
    ["10.5.1.0/24", "fc00::/128"],
    ["10.5.1.0/24", "fc00::1/64"],
    ["10.5.1.0/24", "::ffff:10.5.1.0/120"],
  ])("refuses %s + %s (flannel could not read it back as the same lease)", (v4, v6) => {
    expect(() => makeSubnetKey(v4, v6)).toThrowError(
      expect.objectContaining({ name: "FlannelError", code: "SUBNET_KEY_INVALID" }),
    );
  });

  it.each([
    ["10.5.1.0", null],
    ["fc00::/64", null],
    ["10.5.1.0/24", "10.6.0.0/16"],
    ["10.5.1.0/24", "fc00::"],
  ])("refuses CIDR text of the wrong shape: %s + %s", (v4, v6) => {
    expect(() => makeSubnetKey(v4, v6)).toThrowError(
      expect.objectContaining({ name: "FlannelError", code: "INVALID_CIDR" }),
    );
  });
});

const arbV4Net = fc
  .tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 31 }))
  .map(([ip, len]) => new IP4Net(ip, len).network());
const arbV6Net = fc
  .tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 127 }))
  .map(([ip, len]) => new IP6Net(ip, len).network())
  .filter((net) => !formatIPv6(net.ip).includes("."));

describe("subnet keys: properties", () => {
  it("parse(make(v4, v6)) gives the subnets back", () => {
    fc.assert(
      fc.property(arbV4Net, fc.option(arbV6Net), (v4, v6) => {
        const key = makeSubnetKey(v4, v6);
        expect(parseSubnetKey(key)).toEqual({
          subnet: v4.toString(),
          ipv6Subnet: v6 === null ? null : v6.toString(),
        });
        expect(parseSubnetKey(`/coreos.com/network/subnets/${key}`)).toEqual(parseSubnetKey(key));
      }),
      { numRuns: 2000 },
    );
  });

  it("make(parse(key)) is the key itself for every key we write", () => {
    fc.assert(
      fc.property(arbV4Net, fc.option(arbV6Net), (v4, v6) => {
        const key = makeSubnetKey(v4, v6);
        const parsed = parseSubnetKey(key);
        expect(makeSubnetKey(parsed.subnet, parsed.ipv6Subnet)).toBe(key);
      }),
    );
  });

  it("keys we write are read by flannel's own regex as the same lease", () => {
    fc.assert(
      fc.property(arbV4Net, fc.option(arbV6Net), (v4, v6) => {
        const key = `/coreos.com/network/subnets/${makeSubnetKey(v4, v6)}`;
        expect(flannelModel(key, FLANNEL_REGEX)).toEqual(parseSubnetKey(key));
      }),
      { numRuns: 2000 },
    );
  });

  // Strings built from the characters that matter to the grammar, so that near-misses are common.
  const keyish = fc
    .array(
      fc.oneof(
        fc.constantFrom(".", "-", "&", ":", "/", "a", "f", "F", "x", "0", "1", "2", "3", "9"),
        fc.integer({ min: 0, max: 300 }).map(String),
        fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16)),
      ),
      { maxLength: 24 },
    )
    .map((parts) => parts.join(""));
  const validish = fc
    .tuple(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 40 }),
      fc.option(
        fc.tuple(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), fc.integer({ min: 0, max: 140 })),
      ),
      fc.constantFrom("", "/", "/coreos.com/network/subnets/", "x", "1.", "9/"),
      fc.constantFrom("", "\n", "x", "-1"),
    )
    .map(
      ([ip, len, v6, head, tail]) =>
        `${head}${formatIPv4(ip)}-${len}${v6 ? `&${formatIPv6(v6[0])}-${v6[1]}` : ""}${tail}`,
    );

  it("equals flannel's parser applied to the last path segment, anchored", () => {
    fc.assert(
      fc.property(fc.oneof(keyish, validish, fc.string()), (key) => {
        const segment = key.slice(key.lastIndexOf("/") + 1);
        expect(ours(key)).toEqual(flannelModel(segment, ANCHORED_REGEX));
      }),
      { numRuns: 20000 },
    );
  });

  it("whatever we accept, flannel reads the same way", () => {
    fc.assert(
      fc.property(fc.oneof(keyish, validish), (key) => {
        const result = ours(key);
        if (result !== null) expect(flannelModel(key, FLANNEL_REGEX)).toEqual(result);
      }),
      { numRuns: 20000 },
    );
  });

  it("throws nothing but SUBNET_KEY_INVALID", () => {
    fc.assert(
      fc.property(fc.oneof(keyish, fc.string(), fc.string({ unit: "binary" })), (key) => {
        ours(key);
      }),
      { numRuns: 5000 },
    );
  });
});
