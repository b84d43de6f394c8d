import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalMAC,
  formatLeaseAttrs,
  isFlannelError,
  type JsonValue,
  type LeaseAttrs,
  type LeaseJsonShape,
  parseLeaseAttrs,
  parseMacAddress,
  type VxlanBackendData,
  vxlanBackendData,
} from "../src/index.js";
import goldenFile from "./golden/lease-attrs.json" with { type: "json" };

interface Golden {
  exact: { name: string; json: string; attrs: LeaseAttrs; shape?: LeaseJsonShape }[];
  read: { name: string; json: string; attrs: LeaseAttrs }[];
  invalid: { name: string; json: string; field?: string }[];
}

const golden = goldenFile as unknown as Golden;
const hexByte = fc.integer({ min: 0, max: 255 }).map((b) => b.toString(16).padStart(2, "0"));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isFlannelError(e) ? e.code : `not a FlannelError: ${String(e)}`;
  }
  return undefined;
}

describe("formatLeaseAttrs / parseLeaseAttrs: golden values", () => {
  for (const c of golden.exact) {
    it(`writes ${c.name}`, () => {
      expect(formatLeaseAttrs(c.attrs, c.shape ? { shape: c.shape } : undefined)).toBe(c.json);
    });
    it(`reads ${c.name}`, () => {
      expect(parseLeaseAttrs(c.json)).toEqual(c.attrs);
    });
  }
  for (const c of golden.read) {
    it(`reads ${c.name}`, () => {
      expect(parseLeaseAttrs(c.json)).toEqual(c.attrs);
    });
  }
  for (const c of golden.invalid) {
    it(`refuses ${c.name}`, () => {
      let error: unknown;
      try {
        parseLeaseAttrs(c.json);
      } catch (e) {
        error = e;
      }
      expect(isFlannelError(error, "LEASE_INVALID")).toBe(true);
      if (c.field) expect((error as { field?: string }).field).toBe(c.field);
    });
  }

  it("the current shape always writes PublicIPv6", () => {
    const attrs = golden.exact[0]!.attrs;
    expect(formatLeaseAttrs(attrs)).toBe(formatLeaseAttrs(attrs, { shape: "current" }));
  });

  it("writes addresses in canonical form", () => {
    const json = formatLeaseAttrs({
      publicIP: "::ffff:10.1.2.3",
      publicIPv6: "2001:DB8:0::1",
      backendType: "",
      backendData: null,
      backendV6Data: null,
    });
    expect(json).toBe('{"PublicIP":"10.1.2.3","PublicIPv6":"2001:db8::1"}');
  });

  it("refuses to write what is not a lease", () => {
    const base: LeaseAttrs = {
      publicIP: "10.0.0.1",
      publicIPv6: null,
      backendType: "",
      backendData: null,
      backendV6Data: null,
    };
    expect(codeOf(() => formatLeaseAttrs({ ...base, publicIP: "fc00::1" }))).toBe("LEASE_INVALID");
    expect(codeOf(() => formatLeaseAttrs({ ...base, publicIP: "" }))).toBe("LEASE_INVALID");
    expect(codeOf(() => formatLeaseAttrs({ ...base, publicIPv6: "10.0.0.1" }))).toBe(
      "LEASE_INVALID",
    );
    const nan = { ...base, backendData: { x: Number.NaN } as unknown as JsonValue };
    expect(codeOf(() => formatLeaseAttrs(nan))).toBe("LEASE_INVALID");
    const fn = { ...base, backendData: { f: () => 1 } as unknown as JsonValue };
    expect(codeOf(() => formatLeaseAttrs(fn))).toBe("LEASE_INVALID");
    const date = { ...base, backendData: new Date(0) as unknown as JsonValue };
    expect(codeOf(() => formatLeaseAttrs(date))).toBe("LEASE_INVALID");
  });

  it("a __proto__ key in backend data stays plain data", () => {
    const attrs = parseLeaseAttrs('{"PublicIP":"10.0.0.5","BackendData":{"__proto__":{"x":1}}}');
    const data = attrs.backendData as Record<string, unknown>;
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
    expect(Object.hasOwn(data, "__proto__")).toBe(true);
    expect(formatLeaseAttrs(attrs)).toBe(
      '{"PublicIP":"10.0.0.5","PublicIPv6":null,"BackendData":{"__proto__":{"x":1}}}',
    );
  });
});

describe("parseMacAddress", () => {
  const ok: [string, string][] = [
    ["00:00:5e:00:53:01", "00:00:5e:00:53:01"],
    ["02:00:5e:10:00:00:00:01", "02:00:5e:10:00:00:00:01"],
    [
      "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
      "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01",
    ],
    ["00-00-5E-00-53-01", "00:00:5e:00:53:01"],
    ["0000.5e00.5301", "00:00:5e:00:53:01"],
    ["0200.5e10.0000.0001", "02:00:5e:10:00:00:00:01"],
  ];
  for (const [input, want] of ok) {
    it(`reads ${input}`, () => expect(parseMacAddress(input)).toBe(want));
  }
  // Go's net.ParseMAC negative cases (mac_test.go), plus the bare form Go 1.25 lacks.
  const bad = [
    "01.02.03.04.05.06",
    "01:02:03:04:05:06:",
    "x1:02:03:04:05:06",
    "01002:03:04:05:06",
    "01:02003:04:05:06",
    "01:02:03004:05:06",
    "01:02:03:04005:06",
    "01:02:03:04:05006",
    "01-02:03:04:05:06",
    "01:02-03-04-05-06",
    "0123:4567:89AF",
    "0123-4567-89AF",
    "00005e005301",
    "",
  ];
  for (const input of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => {
      expect(codeOf(() => parseMacAddress(input))).toBe("INVALID_ARGUMENT");
    });
  }

  const macLike = fc
    .tuple(fc.array(hexByte, { minLength: 5, maxLength: 9 }), fc.constantFrom(":", "-", "."))
    .map(([bytes, sep]) =>
      sep === "." ? bytes.join("").replace(/(.{4})(?=.)/g, "$1.") : bytes.join(sep),
    );

  it("agrees with canonicalMAC on 48-bit addresses, and only there", () => {
    for (const [input, want] of ok) {
      if (want.length === 17) expect(canonicalMAC(input)).toBe(want);
      else expect(codeOf(() => canonicalMAC(input))).toBe("INVALID_ARGUMENT");
    }
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 24 }), macLike), (text) => {
        const parsed = codeOf(() => parseMacAddress(text)) ?? parseMacAddress(text);
        const canonical = codeOf(() => canonicalMAC(text)) ?? canonicalMAC(text);
        if (canonical !== "INVALID_ARGUMENT") expect(canonical).toBe(parsed);
        else expect(parsed === "INVALID_ARGUMENT" || parsed.length !== 17).toBe(true);
      }),
    );
  });

  it("refuses what is not a string with its own code", () => {
    expect(codeOf(() => parseMacAddress(42 as unknown as string))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => canonicalMAC(null as unknown as string))).toBe("INVALID_ARGUMENT");
  });
});

describe("parseLeaseAttrs: the Go JSON reader", () => {
  function errorOf(json: string): { message: string; field?: string; details: object } {
    try {
      parseLeaseAttrs(json);
    } catch (e) {
      if (isFlannelError(e, "LEASE_INVALID")) return e;
      throw e;
    }
    throw new Error(`accepted ${json}`);
  }

  it("reports syntax errors with Go's message and the offset", () => {
    expect(errorOf('{"PublicIP":"10.0.0.1",}')).toMatchObject({
      message:
        "invalid lease JSON: invalid character '}' looking for beginning of object key string (line 1, column 24)",
      details: { offset: 23, line: 1, column: 24 },
    });
    expect(errorOf('{"PublicIP":"10.0.0.1"')).toMatchObject({
      message: "invalid lease JSON: unexpected end of JSON input (line 1, column 23)",
      details: { offset: 22, goMessage: "unexpected end of JSON input" },
    });
  });

  it("ignores a number out of a double's range under an unknown key, as Go does", () => {
    expect(parseLeaseAttrs('{"PublicIP":"10.0.0.1","Other":1e999}').publicIP).toBe("10.0.0.1");
  });

  it("refuses one inside backend data, naming the field", () => {
    const e = errorOf('{"PublicIP":"10.0.0.1","BackendType":"udp","BackendV6Data":[1e999]}');
    expect(e.field).toBe("BackendV6Data");
  });
});

const mac = fc.array(hexByte, { minLength: 6, maxLength: 6 }).map((b) => b.join(":"));
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6().map((text) => {
  // Canonical text, as the parser returns it.
  return parseLeaseAttrs(`{"PublicIPv6":${JSON.stringify(text)}}`).publicIPv6!;
});
const jsonValue: fc.Arbitrary<JsonValue> = fc
  .jsonValue()
  .map((v) => JSON.parse(JSON.stringify(v)) as JsonValue)
  .filter((v) => !Object.is(v, -0));

const attrsArb: fc.Arbitrary<LeaseAttrs> = fc.oneof(
  fc.record({
    publicIP: ipv4,
    publicIPv6: fc.option(ipv6, { nil: null }),
    backendType: fc.constant("vxlan"),
    backendData: fc.option(
      fc.record({ VNI: fc.integer({ min: 0, max: 16777215 }), VtepMAC: mac }),
      { nil: null },
    ),
    backendV6Data: fc.option(
      fc.record({ VNI: fc.integer({ min: 0, max: 16777215 }), VtepMAC: mac }),
      { nil: null },
    ),
  }),
  fc.record({
    publicIP: ipv4,
    publicIPv6: fc.option(ipv6, { nil: null }),
    backendType: fc.string().filter((s) => s !== "vxlan"),
    backendData: fc.option(
      jsonValue.filter((v) => v !== null),
      { nil: null },
    ),
    backendV6Data: fc.option(
      jsonValue.filter((v) => v !== null),
      { nil: null },
    ),
  }),
);

function stripNegativeZero(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v));
}

describe("formatLeaseAttrs / parseLeaseAttrs: properties", () => {
  it("parse(format(attrs)) gives the attrs back, in both shapes", () => {
    fc.assert(
      fc.property(attrsArb, fc.constantFrom<LeaseJsonShape>("current", "v0.11"), (attrs, shape) => {
        const json = formatLeaseAttrs(attrs, { shape });
        expect(parseLeaseAttrs(json)).toEqual(stripNegativeZero(attrs));
        // Compact and stable: formatting what was read gives the same bytes.
        expect(formatLeaseAttrs(parseLeaseAttrs(json), { shape })).toBe(json);
      }),
      { numRuns: 500 },
    );
  });

  it("the output is JSON that JSON.parse reads to the same values", () => {
    fc.assert(
      fc.property(attrsArb, (attrs) => {
        const doc = JSON.parse(formatLeaseAttrs(attrs));
        expect(doc.PublicIP).toBe(attrs.publicIP);
        expect(doc.PublicIPv6).toBe(attrs.publicIPv6);
        expect(doc.BackendData ?? null).toEqual(stripNegativeZero(attrs.backendData));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but LEASE_INVALID on any string", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => {
        const code = codeOf(() => parseLeaseAttrs(text));
        expect(code === undefined || code === "LEASE_INVALID").toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("never throws anything but LEASE_INVALID on JSON-ish documents", () => {
    const fieldName = fc.constantFrom(
      "PublicIP",
      "publicip",
      "PublicIPv6",
      "BackendType",
      "BackendData",
      "BackendV6Data",
      "VtepMAC",
      "x",
    );
    const value = fc.oneof(
      fc.jsonValue(),
      ipv4,
      fc.ipV6(),
      mac,
      fc.record({ VtepMAC: fc.oneof(mac, fc.string(), fc.integer()) }),
    );
    const doc = fc.dictionary(fieldName, value).map((o) => JSON.stringify(o));
    fc.assert(
      fc.property(doc, fc.boolean(), (text, vxlan) => {
        const input = vxlan ? text.replace(/^\{/, '{"BackendType":"vxlan",') : text;
        const code = codeOf(() => parseLeaseAttrs(input));
        expect(code === undefined || code === "LEASE_INVALID").toBe(true);
        if (code === undefined) {
          const attrs = parseLeaseAttrs(input);
          expect(parseLeaseAttrs(formatLeaseAttrs(attrs))).toEqual(attrs);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("accepts the same JSON grammar as JSON.parse (both are RFC 8259, as Go's is)", () => {
    fc.assert(
      fc.property(fc.json(), fc.string({ maxLength: 3 }), (json, junk) => {
        for (const text of [json, json + junk, junk + json]) {
          let jsOk = true;
          try {
            const v = JSON.parse(text);
            // Numbers beyond a double are refused on purpose.
            if (typeof v === "number" && !Number.isFinite(v)) jsOk = false;
          } catch {
            jsOk = false;
          }
          const code = codeOf(() => parseLeaseAttrs(`{"BackendData":${text}}`));
          expect(code).toBe(jsOk ? undefined : "LEASE_INVALID");
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe("typed backend data (vxlanBackendData)", () => {
  const json =
    '{"PublicIP":"10.0.0.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"1e:38:19:e2:7e:3a"}}';

  it("reads VNI and VtepMAC typed, Go's way, without a cast", () => {
    const attrs = parseLeaseAttrs(json);
    const data: VxlanBackendData | null = vxlanBackendData(attrs);
    expect(data).toEqual({ VNI: 1, VtepMAC: "1e:38:19:e2:7e:3a" });
    expect(
      vxlanBackendData(
        parseLeaseAttrs(
          '{"PublicIP":"10.0.0.2","BackendType":"vxlan","BackendData":{"vni":7,"vtepmac":"1E:38:19:E2:7E:3A"}}',
        ),
      ),
    ).toEqual({ VNI: 7, VtepMAC: "1e:38:19:e2:7e:3a" });
    expect(
      vxlanBackendData(parseLeaseAttrs('{"PublicIP":"10.0.0.2","BackendType":"host-gw"}')),
    ).toBeNull();
    expect(
      vxlanBackendData(
        parseLeaseAttrs('{"PublicIP":"10.0.0.2","BackendType":"vxlan","BackendData":{"VNI":1}}'),
      ),
    ).toBeNull();
    expect(vxlanBackendData(parseLeaseAttrs(json), 6)).toBeNull();
  });

  it("writes typed data back byte for byte (flannel's JSON round trip)", () => {
    const backendData: VxlanBackendData = { VNI: 1, VtepMAC: "1e:38:19:e2:7e:3a" };
    const text = formatLeaseAttrs({
      publicIP: "10.0.0.2",
      publicIPv6: null,
      backendType: "vxlan",
      backendData,
      backendV6Data: null,
    });
    expect(text).toBe(json);
    expect(vxlanBackendData(parseLeaseAttrs(text))).toEqual(backendData);
  });
});
