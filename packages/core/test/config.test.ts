import { describe, expect, it } from "vitest";
import {
  type FlannelError,
  formatNetworkConfig,
  IP4Net,
  isFlannelError,
  type NetworkConfig,
  parseNetworkConfig,
} from "../src/index.js";
import { networkConfigJsonSchema, networkConfigSchema } from "../src/schema/index.js";

function configError(fn: () => unknown): FlannelError {
  try {
    fn();
  } catch (e) {
    expect(isFlannelError(e, "CONFIG_INVALID")).toBe(true);
    return e as FlannelError;
  }
  throw new Error("expected CONFIG_INVALID");
}

const NET = '"Network":"10.0.0.0/8"';

describe("backend defaults", () => {
  it.each([
    [
      "vxlan",
      {
        type: "vxlan",
        vni: 1,
        port: 0,
        gbp: false,
        learning: false,
        directRouting: false,
        mtu: null,
        macPrefix: "0E-2A",
      },
    ],
    ["host-gw", { type: "host-gw" }],
    ["udp", { type: "udp", port: 8285 }],
    ["ipip", { type: "ipip", directRouting: false }],
    [
      "wireguard",
      {
        type: "wireguard",
        listenPort: 51820,
        listenPortV6: 51821,
        mtu: null,
        psk: "",
        persistentKeepaliveInterval: 0,
        mode: "separate",
      },
    ],
    ["alloc", { type: "alloc", options: {} }],
    ["extension", { type: "extension", options: {} }],
    ["tencent-vpc", { type: "tencent-vpc", options: {} }],
    ["gce", { type: "gce", options: {} }],
    ["ali-vpc", { type: "ali-vpc", options: {} }],
  ])("%s", (type, expected) => {
    expect(parseNetworkConfig(`{${NET},"Backend":{"Type":"${type}"}}`).backend).toEqual(expected);
  });

  it("ipsec needs a 96-byte PSK and defaults the rest", () => {
    const psk = "k".repeat(96);
    expect(
      parseNetworkConfig(`{${NET},"Backend":{"Type":"ipsec","PSK":"${psk}"}}`).backend,
    ).toEqual({
      type: "ipsec",
      psk,
      udpEncap: false,
      espProposal: "aes128gcm16-sha256-prfsha256-ecp256",
    });
  });

  it("is udp on port 8285 when Backend is absent (not vxlan, whatever the docs say)", () => {
    expect(parseNetworkConfig(`{${NET}}`).backend).toEqual({ type: "udp", port: 8285 });
  });

  it("matches option keys case-insensitively, last one winning", () => {
    const c = parseNetworkConfig(
      `{${NET},"Backend":{"type":"VxLaN","vni":2,"VNI":3,"directrouting":true}}`,
    );
    expect(c.backend).toMatchObject({ type: "vxlan", vni: 3, directRouting: true });
  });

  it("rejects an empty Backend the way flanneld does at start-up", () => {
    const e = configError(() => parseNetworkConfig(`{${NET},"Backend":{}}`));
    expect(e.message).toBe("unknown backend type: ");
    expect(e.field).toBe("Backend.Type");
  });
});

describe("object input", () => {
  it("reads an object like its JSON text", () => {
    expect(parseNetworkConfig({ Network: "10.0.0.0/8", Backend: { Type: "vxlan" } })).toEqual(
      parseNetworkConfig(`{${NET},"Backend":{"Type":"vxlan"}}`),
    );
  });

  it("applies Go's rules to its keys", () => {
    const c = parseNetworkConfig({ network: "10.0.0.0/8", NETWORK: "10.1.0.0/16", subnetlen: 20 });
    expect(c.network).toBe("10.1.0.0/16");
    expect(c.subnetLen).toBe(20);
  });

  it("honours toJSON, skips undefined and writes bigint digits", () => {
    const c = parseNetworkConfig({
      Network: IP4Net.parse("10.5.0.0/16"),
      SubnetLen: 22n,
      SubnetMin: undefined,
    });
    expect(c).toMatchObject({ network: "10.5.0.0/16", subnetLen: 22, subnetMin: "10.5.4.0" });
  });

  it("gives a number's text to the address decoders, as Go does", () => {
    expect(configError(() => parseNetworkConfig({ Network: 10 })).message).toBe(
      "invalid CIDR address: 10",
    );
  });

  it.each([
    [{ Network: "10.0.0.0/8", SubnetLen: Number.NaN }, "json: unsupported value: NaN"],
    [
      { Network: "10.0.0.0/8", SubnetLen: Number.POSITIVE_INFINITY },
      "json: unsupported value: +Inf",
    ],
  ])("refuses what JSON cannot carry: %j", (input, message) => {
    expect(configError(() => parseNetworkConfig(input)).message).toBe(message);
  });

  it("refuses cycles and deep nesting", () => {
    const cyclic: Record<string, unknown> = { Network: "10.0.0.0/8" };
    cyclic.Backend = cyclic;
    expect(configError(() => parseNetworkConfig(cyclic)).message).toBe(
      "json: unsupported value: encountered a cycle",
    );
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(configError(() => parseNetworkConfig({ x: deep })).message).toBe(
      "json: exceeded max depth",
    );
  });

  it("turns a throwing getter or toJSON into CONFIG_INVALID", () => {
    const bad = {
      get Network(): string {
        throw new TypeError("boom");
      },
    };
    const e = configError(() => parseNetworkConfig(bad));
    expect(e.message).toContain("boom");
    expect(e.cause).toBeInstanceOf(TypeError);
    const proxy = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error("trap");
        },
      },
    );
    expect(configError(() => parseNetworkConfig(proxy)).message).toContain("trap");
  });

  it("refuses other input types", () => {
    expect(configError(() => parseNetworkConfig(42 as unknown as string)).message).toBe(
      "the network config must be JSON text or an object, not number",
    );
    expect(configError(() => parseNetworkConfig(null as unknown as object)).message).toBe(
      "please define a correct Network parameter in the flannel config",
    );
  });
});

describe("text input details", () => {
  it("reports syntax errors with Go's wording and the first offending byte", () => {
    expect(configError(() => parseNetworkConfig('{"Network":é}')).details.goMessage).toBe(
      "invalid character 'Ã' looking for beginning of value",
    );
    expect(configError(() => parseNetworkConfig("[".repeat(10_001))).details.goMessage).toBe(
      "invalid character '[' exceeded max depth",
    );
    expect(configError(() => parseNetworkConfig('{"a":\u0001}')).details.goMessage).toBe(
      "invalid character '\\x01' looking for beginning of value",
    );
  });

  it("says the line and column after flannel's message", () => {
    const text = '{\n  "Network": "10.1.0.0/16",\n  "Backend": nol\n}';
    expect(configError(() => parseNetworkConfig(text))).toMatchObject({
      message: "invalid character 'o' in literal null (expecting 'u') (line 3, column 15)",
      details: {
        stage: "syntax",
        goMessage: "invalid character 'o' in literal null (expecting 'u')",
        line: 3,
        column: 15,
        offset: text.indexOf("nol") + 1,
      },
    });
    expect(configError(() => parseNetworkConfig('{"Network":')).message).toBe(
      "unexpected end of JSON input (line 1, column 12)",
    );
  });

  it("keeps a syntax error free of field and marks its stage", () => {
    const e = configError(() => parseNetworkConfig("{"));
    expect(e.field).toBeUndefined();
    expect(e.details).toEqual({
      stage: "syntax",
      goMessage: "unexpected end of JSON input",
      offset: 1,
      line: 1,
      column: 2,
    });
  });

  it("decodes escapes in keys and in option strings", () => {
    const c = parseNetworkConfig(
      '{"\\u004eetwork":"10.0.0.0/8","Backend":{"Type":"wireguard","PSK":"\\ud83d\\ude00\\ud800x"}}',
    );
    expect(c.backend).toMatchObject({ psk: "\u{1f600}\ufffdx" });
  });
});

describe("formatNetworkConfig", () => {
  it("writes flannel's spelling with resolved values and non-default options only", () => {
    const c = parseNetworkConfig(
      '{"network":"10.5.0.0/16","backend":{"type":"VXLAN","vni":1,"port":4789}}',
    );
    expect(formatNetworkConfig(c)).toBe(
      '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.255.0","Backend":{"Type":"vxlan","Port":4789}}',
    );
  });

  it("writes the IPv6 half and the switches", () => {
    const c = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","EnableNFTables":true,"Backend":{"Type":"host-gw"}}',
    );
    expect(formatNetworkConfig(c)).toBe(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fc00::/48","IPv6SubnetLen":64,"IPv6SubnetMin":"fc00:0:0:1::","IPv6SubnetMax":"fc00:0:0:ffff::","EnableNFTables":true,"Backend":{"Type":"host-gw"}}',
    );
  });

  it("keeps opaque options and drops stray spellings of Type", () => {
    const c = {
      ...parseNetworkConfig(`{${NET},"Backend":{"Type":"extension","SubnetAddCommand":"x"}}`),
    };
    const withType = {
      ...c,
      backend: { type: "extension", options: { TYPE: "vxlan", A: [1] } },
    } as NetworkConfig;
    expect(formatNetworkConfig(withType)).toContain('"Backend":{"Type":"extension","A":[1]}');
  });

  it("refuses a config flanneld would refuse, with flannel's message", () => {
    const c = parseNetworkConfig(`{${NET}}`);
    expect(configError(() => formatNetworkConfig({ ...c, subnetLen: 31 })).message).toBe(
      "SubnetLen must be less than /31",
    );
    expect(configError(() => formatNetworkConfig({ ...c, enableIPv4: false })).message).toBe(
      "none defined stack",
    );
    expect(configError(() => formatNetworkConfig(null as unknown as NetworkConfig)).code).toBe(
      "CONFIG_INVALID",
    );
  });
});

describe("networkConfigSchema", () => {
  it("accepts what people write", () => {
    for (const doc of [
      { Network: "172.30.0.0/16", SubnetLen: 24, Backend: { Type: "vxlan" } },
      {
        Network: "10.0.0.0/8",
        Backend: { Type: "vxlan", VNI: 4096, Port: 4789, DirectRouting: true },
      },
      {
        EnableIPv4: false,
        EnableIPv6: true,
        IPv6Network: "fc00::/48",
        Backend: { Type: "host-gw" },
      },
      {
        Network: "10.0.0.0/8",
        Backend: { Type: "wireguard", Mode: "auto", PersistentKeepaliveInterval: 25 },
      },
      { Network: "10.0.0.0/8", Backend: { Type: "extension", SubnetAddCommand: "true" } },
    ]) {
      expect(networkConfigSchema.safeParse(doc).success, JSON.stringify(doc)).toBe(true);
    }
  });

  it("reports flannel's own message at the offending key", () => {
    const result = networkConfigSchema.safeParse({ Network: "10.3.0.0/16", SubnetMin: "10.4.0.0" });
    expect(result.success).toBe(false);
    expect(result.error?.issues).toEqual([
      expect.objectContaining({
        path: ["SubnetMin"],
        message: "SubnetMin is not in the range of the Network",
      }),
    ]);
  });

  it("is stricter than flannel about spelling and types", () => {
    expect(
      networkConfigSchema.safeParse({ Network: "10.0.0.0/8", Backend: { Type: "VXLAN" } }).success,
    ).toBe(false);
    expect(
      parseNetworkConfig({ Network: "10.0.0.0/8", Backend: { Type: "VXLAN" } }).backend.type,
    ).toBe("vxlan");
    expect(networkConfigSchema.safeParse({ Network: "10.0.0.0/8", SubnetLen: null }).success).toBe(
      false,
    );
    expect(networkConfigSchema.safeParse({ Network: "010.0.0.0/8" }).success).toBe(false);
    expect(
      networkConfigSchema.safeParse({
        Network: "10.0.0.0/8",
        Backend: { Type: "ipsec", PSK: "short" },
      }).success,
    ).toBe(false);
  });

  it("exports a JSON Schema for editors", () => {
    const schema = networkConfigJsonSchema();
    expect(schema).toMatchObject({
      $schema: "https://json-schema.org/draft/2020-12/schema",
      title: "flannel network config",
      type: "object",
      additionalProperties: {},
    });
    const props = schema.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(props)).toEqual([
      "Network",
      "SubnetLen",
      "SubnetMin",
      "SubnetMax",
      "EnableIPv4",
      "EnableIPv6",
      "EnableNFTables",
      "IPv6Network",
      "IPv6SubnetLen",
      "IPv6SubnetMin",
      "IPv6SubnetMax",
      "Backend",
    ]);
    expect(props.SubnetLen).toMatchObject({ type: "integer", minimum: 0, maximum: 30 });
    expect(new RegExp(props.Network!.pattern as string).test("10.0.0.0/8")).toBe(true);
    expect(new RegExp(props.Network!.pattern as string).test("10.0.0.256/8")).toBe(false);
    const types = (props.Backend!.oneOf as { properties: { Type: Record<string, unknown> } }[]).map(
      (b) => b.properties.Type,
    );
    expect(types).toContainEqual({ type: "string", const: "vxlan" });
    expect(JSON.parse(JSON.stringify(schema))).toEqual(schema);
  });
});
