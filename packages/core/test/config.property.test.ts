import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  formatIPv4,
  formatIPv6,
  formatNetworkConfig,
  isFlannelError,
  parseNetworkConfig,
} from "../src/index.js";
import { networkConfigSchema } from "../src/schema/index.js";

/** Runs the parser and lets through only a successful result or CONFIG_INVALID. */
function parseOrConfigInvalid(input: string | object): void {
  try {
    parseNetworkConfig(input);
  } catch (e) {
    if (!isFlannelError(e, "CONFIG_INVALID") || typeof (e as Error).message !== "string") throw e;
  }
}

// Keys as people (and Go's case folding) may spell them.
const spelling = (key: string) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(key) },
    fc.constant(key.toLowerCase()),
    fc.constant(key.toUpperCase()),
    fc.constant(key.replace(/k/gi, "\u212a").replace(/s/gi, "\u017f")),
  );

const member = (key: string, value: fc.Arbitrary<string>) =>
  fc.tuple(spelling(key), value).map(([k, v]) => `${JSON.stringify(k)}:${v}`);

const junk = fc.constantFrom("null", "true", "[]", "{}", '"x"', "-1", "1.5", '"10.0.0.0/8"');

const ipv4Part = fc
  .tuple(fc.integer({ min: 1, max: 28 }), fc.nat({ max: 0xffffffff }))
  .chain(([prefix, ip]) => {
    const base = prefix === 0 ? 0 : (ip & (0xffffffff << (32 - prefix))) >>> 0;
    return fc
      .record({
        subnetLen: fc.option(fc.integer({ min: prefix + 2, max: 30 }), { nil: undefined }),
        hostBits: fc.nat({ max: 2 ** (32 - prefix) - 1 }),
        min: fc.option(fc.nat({ max: 2 ** 16 }), { nil: undefined }),
        max: fc.option(fc.nat({ max: 2 ** 16 }), { nil: undefined }),
      })
      .map(({ subnetLen, hostBits, min, max }) => {
        const len = subnetLen ?? (prefix <= 22 ? 24 : prefix + 2);
        const count = 2 ** (len - prefix);
        const at = (k: number) => formatIPv4(base + (k % count) * 2 ** (32 - len));
        return [
          `"Network":${JSON.stringify(`${formatIPv4(base + hostBits)}/${prefix}`)}`,
          ...(subnetLen === undefined ? [] : [`"SubnetLen":${subnetLen}`]),
          ...(min === undefined ? [] : [`"SubnetMin":"${at(min)}"`]),
          ...(max === undefined ? [] : [`"SubnetMax":"${at(max)}"`]),
        ];
      });
  });

const ipv6Part = fc
  .tuple(fc.integer({ min: 1, max: 124 }), fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }))
  .chain(([prefix, ip]) => {
    const mask = ((1n << BigInt(prefix)) - 1n) << BigInt(128 - prefix);
    const base = ip & mask;
    return fc
      .record({
        subnetLen: fc.option(fc.integer({ min: prefix + 2, max: 126 }), { nil: undefined }),
        min: fc.option(fc.bigInt({ min: 0n, max: 1n << 20n }), { nil: undefined }),
        max: fc.option(fc.bigInt({ min: 0n, max: 1n << 20n }), { nil: undefined }),
      })
      .map(({ subnetLen, min, max }) => {
        const len = subnetLen ?? (prefix <= 62 ? 64 : prefix + 2);
        const count = 1n << BigInt(len - prefix);
        const at = (k: bigint) => formatIPv6(base + (k % count) * (1n << BigInt(128 - len)));
        return [
          '"EnableIPv6":true',
          `"IPv6Network":"${formatIPv6(base)}/${prefix}"`,
          ...(subnetLen === undefined ? [] : [`"IPv6SubnetLen":${subnetLen}`]),
          ...(min === undefined ? [] : [`"IPv6SubnetMin":"${at(min)}"`]),
          ...(max === undefined ? [] : [`"IPv6SubnetMax":"${at(max)}"`]),
        ];
      });
  });

const int = fc.integer({ min: -100_000, max: 100_000 }).map(String);
const bool = fc.boolean().map(String);
const text = fc.string({ maxLength: 120 }).map((s) => JSON.stringify(s));
const options: Record<string, [string, fc.Arbitrary<string>][]> = {
  vxlan: [
    ["VNI", int],
    ["Port", int],
    ["GBP", bool],
    ["Learning", bool],
    ["DirectRouting", bool],
    ["MTU", int],
    ["MacPrefix", text],
  ],
  "host-gw": [],
  udp: [["Port", int]],
  ipip: [["DirectRouting", bool]],
  wireguard: [
    ["ListenPort", int],
    ["ListenPortV6", int],
    ["MTU", int],
    ["PSK", text],
    ["PersistentKeepaliveInterval", int],
    ["Mode", fc.constantFrom('"separate"', '"auto"', '"ipv4"', '"ipv6"')],
  ],
  ipsec: [
    ["PSK", fc.string({ minLength: 96, maxLength: 130 }).map((s) => JSON.stringify(s))],
    ["UDPEncap", bool],
    ["ESPProposal", text],
  ],
  alloc: [["Anything", fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v))]],
  extension: [["SubnetAddCommand", text]],
  "tencent-vpc": [],
};

const backendPart = fc.constantFrom(...Object.keys(options)).chain((type) =>
  fc
    .tuple(
      // Type is lower-cased, not case-folded: only ASCII case variants name the same backend.
      fc.constantFrom(type, type.toUpperCase()),
      ...options[type]!.map(([key, value]) => fc.option(member(key, value), { nil: undefined })),
    )
    .map(([typeText, ...opts]) => {
      const members = [
        `"Type":${JSON.stringify(typeText)}`,
        ...opts.filter((o) => o !== undefined),
      ];
      if (type === "ipsec" && !members.some((m) => m.startsWith('"PSK"'))) {
        members.push(`"PSK":${JSON.stringify("p".repeat(96))}`);
      }
      return `"Backend":{${members.join(",")}}`;
    }),
);

/** Documents flannel accepts: valid by construction, in any spelling, with earlier junk duplicates. */
const validDocument = fc
  .record({
    v4: fc.option(ipv4Part, { nil: undefined }),
    v6: ipv6Part,
    dual: fc.boolean(),
    backend: fc.option(backendPart, { nil: undefined }),
    nft: fc.boolean(),
    shadowed: fc.array(fc.tuple(fc.constantFrom("SubnetLen", "EnableNFTables", "Foo"), junk), {
      maxLength: 2,
    }),
  })
  .map(({ v4, v6, dual, backend, nft, shadowed }) => {
    const members: string[] = [];
    // Type errors would survive later duplicates, so shadowed junk goes under unknown keys only.
    for (const [key, value] of shadowed) if (key === "Foo") members.push(`"${key}":${value}`);
    if (v4 === undefined) members.push('"EnableIPv4":false', ...v6);
    else members.push(...v4, ...(dual ? v6 : []));
    if (nft) members.push('"EnableNFTables":true');
    if (backend !== undefined) members.push(backend);
    return `{${members.join(",")}}`;
  });

describe("parseNetworkConfig properties", () => {
  it("throws nothing but CONFIG_INVALID on arbitrary text", () => {
    fc.assert(fc.property(fc.string({ unit: "binary", maxLength: 200 }), parseOrConfigInvalid), {
      numRuns: 2000,
    });
  });

  it("throws nothing but CONFIG_INVALID on damaged documents", () => {
    const damaged = fc
      .tuple(
        validDocument,
        fc.nat(),
        fc.nat({ max: 3 }),
        fc.string({ unit: "binary", maxLength: 3 }),
      )
      .map(([doc, at, op, ins]) => {
        const i = at % (doc.length + 1);
        if (op === 0) return doc.slice(0, i);
        if (op === 1) return doc.slice(0, i) + doc.slice(i + 1);
        return doc.slice(0, i) + ins + doc.slice(i);
      });
    fc.assert(fc.property(damaged, parseOrConfigInvalid), { numRuns: 1000 });
  });

  it("throws nothing but CONFIG_INVALID on arbitrary JSON and arbitrary objects", () => {
    fc.assert(fc.property(fc.json(), parseOrConfigInvalid), { numRuns: 500 });
    fc.assert(
      fc.property(
        fc.object({
          withBigInt: true,
          withNullPrototype: true,
          withTypedArray: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withBoxedValues: true,
        }),
        parseOrConfigInvalid,
      ),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.record({
          Network: fc.oneof(fc.constant("10.0.0.0/8"), fc.anything()),
          SubnetLen: fc.anything(),
          Backend: fc.oneof(
            fc.record({ Type: fc.constantFrom("vxlan", "wireguard", "alloc") }),
            fc.anything(),
          ),
        }),
        parseOrConfigInvalid,
      ),
      { numRuns: 500 },
    );
  });

  it("reads back what formatNetworkConfig writes, and the schema accepts it", () => {
    fc.assert(
      fc.property(validDocument, (doc) => {
        const config = parseNetworkConfig(doc);
        const text = formatNetworkConfig(config);
        expect(parseNetworkConfig(text)).toEqual(config);
        expect(formatNetworkConfig(parseNetworkConfig(text))).toBe(text);
        const checked = networkConfigSchema.safeParse(JSON.parse(text));
        expect(checked.error?.issues ?? []).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });

  it("reads an object the same as its JSON text", () => {
    fc.assert(
      fc.property(validDocument, (doc) => {
        expect(parseNetworkConfig(JSON.parse(doc))).toEqual(parseNetworkConfig(doc));
      }),
      { numRuns: 200 },
    );
  });

  it("accepts through the schema only what the parser accepts", () => {
    const doc = fc.record(
      {
        Network: fc.constantFrom("10.0.0.0/8", "10.0.0.0/29", "172.30.8.0/16", "fc00::/48"),
        SubnetLen: fc.integer({ min: 0, max: 32 }),
        SubnetMin: fc.constantFrom("10.0.1.0", "10.0.1.1", "11.0.0.0", "172.30.1.0"),
        EnableIPv4: fc.boolean(),
        EnableIPv6: fc.boolean(),
        IPv6Network: fc.constantFrom("fc00::/48", "fc00::/126", "10.0.0.0/8"),
        Backend: fc.record({
          Type: fc.constantFrom("vxlan", "VXLAN", "udp", "nope", "ipsec"),
          VNI: fc.integer(),
        }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(doc, (d) => {
        if (!networkConfigSchema.safeParse(d).success) return;
        expect(() => parseNetworkConfig(d)).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });
});
