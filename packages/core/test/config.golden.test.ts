import { describe, expect, it } from "vitest";
import {
  type FlannelError,
  formatNetworkConfig,
  isFlannelError,
  type NetworkConfig,
  parseNetworkConfig,
} from "../src/index.js";
import goldenFile from "./golden/network-config.json" with { type: "json" };

interface GoldenCase {
  name: string;
  input: string;
  config?: NetworkConfig;
  error?: string;
  field?: string;
  /** Set on deliberate differences from flannel: what flannel does instead. */
  flannel?: string;
}

// Expected errors were checked against flannel's own config.go / pkg/ip under Go's
// encoding/json; see the file's description.
const golden = goldenFile as { cases: GoldenCase[] };

const accepted = golden.cases.filter((c) => c.config !== undefined);
const rejected = golden.cases.filter((c) => c.error !== undefined);

describe("network config golden table", () => {
  it("covers every error flannel's config path gives (pkg/subnet/config.go, pkg/ip, json)", () => {
    const messages = new Set(rejected.map((c) => c.error));
    for (const m of [
      "please define a correct Network parameter in the flannel config",
      "SubnetLen must be less than /31",
      "network must be able to accommodate at least four subnets",
      "network is too small. Minimum useful network prefix is /28",
      "SubnetMin is not in the range of the Network",
      "SubnetMax is not in the range of the Network",
      "SubnetMin is not on a SubnetLen boundary: 10.3.1.1",
      "SubnetMax is not on a SubnetLen boundary: 10.3.9.0",
      "please define a correct IPv6Network parameter in the flannel config",
      "SubnetLen must be less than /127",
      "IPv6Network is too small. Minimum useful network prefix is /124",
      "IPv6SubnetMin is not in the range of the IPv6Network",
      "IPv6SubnetMax is not in the range of the IPv6Network",
      "IPv6SubnetMin is not on a SubnetLen boundary: fc00:0:0:1::1",
      "IPv6SubnetMax is not on a SubnetLen boundary: fc00:0:0:2::1",
      "none defined stack",
      "unknown backend type: ",
      "invalid CIDR address: 10.0.0.0",
      "invalid IPv4 CIDR format",
      "invalid IP address format",
      "invalid IPv4 address format",
      "json: cannot unmarshal string into Go struct field Config.SubnetLen of type uint",
      "json: cannot unmarshal number -1 into Go struct field Config.SubnetLen of type uint",
      "json: cannot unmarshal number 24.5 into Go struct field Config.SubnetLen of type uint",
      "error decoding Backend property of config: json: cannot unmarshal string into Go value of type struct { Type string }",
      "unexpected end of JSON input",
    ]) {
      expect(messages, m).toContain(m);
    }
  });

  it.each(accepted.map((c) => [c.name, c] as const))("accepts: %s", (_name, c) => {
    const config = parseNetworkConfig(c.input);
    expect(config).toEqual(c.config);
    expect(parseNetworkConfig(formatNetworkConfig(config))).toEqual(config);
  });

  it.each(rejected.map((c) => [c.name, c] as const))("rejects: %s", (_name, c) => {
    let error: unknown;
    try {
      parseNetworkConfig(c.input);
    } catch (e) {
      error = e;
    }
    expect(isFlannelError(error, "CONFIG_INVALID")).toBe(true);
    const { details, message } = error as FlannelError;
    if (details.stage === "syntax") {
      // flannel's message word for word, then the position (docs/decisions.md)
      expect(details.goMessage).toBe(c.error);
      expect(message).toBe(`${c.error} (line ${details.line}, column ${details.column})`);
    } else {
      expect(message).toBe(c.error);
    }
    expect((error as { field?: string }).field).toBe(c.field);
  });
});

describe("flannel's defaults (CheckNetworkConfig): SubnetLen, SubnetMin, SubnetMax, count", () => {
  it.each([
    ['{"Network":"10.3.0.0/16"}', 24, "10.3.1.0", "10.3.255.0", 255],
    ['{"Network":"172.30.0.0/16","SubnetLen":21}', 21, "172.30.8.0", "172.30.248.0", 31],
    ['{"Network":"172.30.8.0/16"}', 24, "172.30.1.0", "172.30.255.0", 255],
    ['{"Network":"10.0.0.0/8"}', 24, "10.0.1.0", "10.255.255.0", 65535],
    ['{"Network":"192.168.0.0/23"}', 25, "192.168.0.128", "192.168.1.128", 3],
    ['{"Network":"10.0.0.0/28"}', 30, "10.0.0.4", "10.0.0.12", 3],
  ])("%s", (input, subnetLen, subnetMin, subnetMax, leasable) => {
    const c = parseNetworkConfig(input);
    expect([c.subnetLen, c.subnetMin, c.subnetMax]).toEqual([subnetLen, subnetMin, subnetMax]);
    const toInt = (ip: string) => ip.split(".").reduce((a, o) => a * 256 + Number(o), 0);
    const count = (toInt(subnetMax) - toInt(subnetMin)) / 2 ** (32 - subnetLen) + 1;
    expect(count).toBe(leasable);
  });

  it("masks host bits in Network", () => {
    expect(parseNetworkConfig('{"Network":"172.30.8.0/16"}').network).toBe("172.30.0.0/16");
  });

  it("fills the IPv6 defaults of the upstream test", () => {
    const c = parseNetworkConfig(
      '{"EnableIPv6":true,"IPv6Network":"fc00::/48","EnableIPv4":false}',
    );
    expect(c).toMatchObject({
      ipv6Network: "fc00::/48",
      ipv6SubnetLen: 64,
      ipv6SubnetMin: "fc00:0:0:1::",
      ipv6SubnetMax: "fc00:0:0:ffff::",
      network: null,
      subnetLen: 0,
    });
  });
});
