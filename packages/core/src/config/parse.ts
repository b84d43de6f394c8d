import type { FlannelError } from "../errors.js";
import {
  decodeIP4,
  decodeIP4Net,
  decodeIP6,
  decodeIP6Net,
  type GoResult,
  goIP6String,
  parseGoUint,
} from "../go/decode.js";
import { foldKey, type GoNode, GoSyntaxError, parseGoJson, syntaxPosition } from "../go/json.js";
import { ipv4Mask } from "../ip/ip4net.js";
import { ipv6Mask } from "../ip/ip6net.js";
import { formatIPv4 } from "../ip/ipv4.js";
import { formatIPv6 } from "../ip/ipv6.js";
import { decodeBackend } from "./backend.js";
import { configError, goTypeError } from "./errors.js";
import { toJsonText } from "./serialize.js";
import type { NetworkConfig } from "./types.js";

/** flannel's `subnet.Config` as `json.Unmarshal` leaves it, before `CheckNetworkConfig`. */
interface RawConfig {
  enableIPv4: boolean;
  enableIPv6: boolean;
  enableNFTables: boolean;
  network: { ip: number; prefixLen: number };
  ipv6Network: { ip: bigint; prefixLen: number; fromIPv4: boolean };
  subnetMin: number;
  subnetMax: number;
  ipv6SubnetMin: bigint | null;
  ipv6SubnetMax: bigint | null;
  subnetLen: bigint;
  ipv6SubnetLen: bigint;
  backend: GoNode | null;
}

type ConfigField =
  | "EnableIPv4"
  | "EnableIPv6"
  | "EnableNFTables"
  | "Network"
  | "IPv6Network"
  | "SubnetMin"
  | "SubnetMax"
  | "IPv6SubnetMin"
  | "IPv6SubnetMax"
  | "SubnetLen"
  | "IPv6SubnetLen"
  | "Backend";

const CONFIG_FIELDS: readonly ConfigField[] = [
  "EnableIPv4",
  "EnableIPv6",
  "EnableNFTables",
  "Network",
  "IPv6Network",
  "SubnetMin",
  "SubnetMax",
  "IPv6SubnetMin",
  "IPv6SubnetMax",
  "SubnetLen",
  "IPv6SubnetLen",
  "Backend",
];
const EXACT = new Map<string, ConfigField>(CONFIG_FIELDS.map((f) => [f, f]));
const FOLDED = new Map<string, ConfigField>(CONFIG_FIELDS.map((f) => [foldKey(f), f]));

/**
 * Parses and validates a flannel network config (the value of `<prefix>/config`) exactly as
 * flanneld v0.28 does before it starts a backend: Go `encoding/json` decoding (keys matched
 * case-insensitively, the last of duplicate keys winning in document order, unknown keys
 * ignored), `CheckNetworkConfig` (host bits masked, defaults for SubnetLen / SubnetMin /
 * SubnetMax and their IPv6 twins, every check in flannel's order), the "none defined stack"
 * check, the backend lookup (`Type` case-insensitive, `udp` when `Backend` is absent) and the
 * backend's own option decoding with its defaults. Error messages are flannel's, word for word.
 *
 * An object input is first serialized like `JSON.stringify` (with `toJSON`, skipping
 * `undefined`; a `bigint` is written as its decimal digits) and then read by the same rules.
 *
 * @param input - the config as JSON text, or as an object.
 * @returns the config with every default filled in and addresses in canonical text.
 * @throws FlannelError `CONFIG_INVALID` with flannel's message, `field` (the offending key in
 *   flannel's spelling, e.g. `"SubnetMin"`, `"Backend.VNI"`) and `details.stage`. Invalid JSON
 *   text: Go's message followed by the position, `invalid character 'o' in literal null
 *   (expecting 'u') (line 2, column 14)`, with `details.goMessage` (flanneld's text alone),
 *   `details.line`, `details.column` and `details.offset`.
 * @example
 * ```ts
 * const config = parseNetworkConfig('{"Network":"172.30.0.0/16","SubnetLen":21,"Backend":{"Type":"vxlan"}}');
 * config.subnetMin; // "172.30.8.0" (the first /21 is never leased)
 * config.backend; // { type: "vxlan", vni: 1, port: 0, gbp: false, learning: false, ... }
 * ```
 */
export function parseNetworkConfig(input: string | object): NetworkConfig {
  let text: string;
  if (typeof input === "string") text = input;
  else if (typeof input === "object") text = toJsonText(input);
  else {
    throw configError(
      `the network config must be JSON text or an object, not ${typeof input}`,
      undefined,
      "syntax",
    );
  }
  let root: GoNode;
  try {
    root = parseGoJson(text);
  } catch (e) {
    if (e instanceof GoSyntaxError) {
      const { line, column, text: at } = syntaxPosition(text, e.offset);
      throw configError(`${e.message}${at}`, undefined, "syntax", undefined, {
        goMessage: e.message,
        offset: e.offset,
        line,
        column,
      });
    }
    throw e;
  }
  const raw = decodeConfig(text, root);
  const backendType = parseBackendType(raw.backend);
  if (raw.enableIPv4) checkIPv4(raw);
  if (raw.enableIPv6) checkIPv6(raw);
  if (!raw.enableIPv4 && !raw.enableIPv6) {
    throw configError("none defined stack", "EnableIPv4", "stack");
  }
  const backend = decodeBackend(text, backendType, raw.backend);
  return {
    enableIPv4: raw.enableIPv4,
    enableIPv6: raw.enableIPv6,
    enableNFTables: raw.enableNFTables,
    network: raw.enableIPv4 ? `${formatIPv4(raw.network.ip)}/${raw.network.prefixLen}` : null,
    subnetLen: raw.enableIPv4 ? Number(raw.subnetLen) : 0,
    subnetMin: raw.enableIPv4 ? formatIPv4(raw.subnetMin) : null,
    subnetMax: raw.enableIPv4 ? formatIPv4(raw.subnetMax) : null,
    ipv6Network: raw.enableIPv6
      ? `${formatIPv6(raw.ipv6Network.ip)}/${raw.ipv6Network.prefixLen}`
      : null,
    ipv6SubnetLen: raw.enableIPv6 ? Number(raw.ipv6SubnetLen) : 0,
    ipv6SubnetMin: raw.enableIPv6 ? formatIPv6(raw.ipv6SubnetMin!) : null,
    ipv6SubnetMax: raw.enableIPv6 ? formatIPv6(raw.ipv6SubnetMax!) : null,
    backend,
  };
}

/**
 * `json.Unmarshal` into flannel's `Config`: type mismatches are remembered (the first one is
 * reported once decoding ends), while an address field's `UnmarshalJSON` error stops at once —
 * so a bad CIDR after a bad SubnetLen is the error flannel shows.
 */
function decodeConfig(src: string, root: GoNode): RawConfig {
  const c: RawConfig = {
    enableIPv4: true, // flannel sets this before unmarshalling: only an explicit false disables
    enableIPv6: false,
    enableNFTables: false,
    network: { ip: 0, prefixLen: 0 },
    ipv6Network: { ip: 0n, prefixLen: 0, fromIPv4: false },
    subnetMin: 0,
    subnetMax: 0,
    ipv6SubnetMin: null,
    ipv6SubnetMax: null,
    subnetLen: 0n,
    ipv6SubnetLen: 0n,
    backend: null,
  };
  let saved: FlannelError | null = null;
  const save = (value: string, field: ConfigField | undefined, goType: string): void => {
    saved ??= configError(
      goTypeError(value, field === undefined ? null : "Config", field ?? "", goType),
      field,
      "decode",
    );
  };
  if (root.kind !== "object") {
    if (root.kind !== "null") save(root.kind, undefined, "subnet.Config");
    if (saved) throw saved;
    return c;
  }
  for (const { key, value } of root.members) {
    const field = EXACT.get(key) ?? FOLDED.get(foldKey(key));
    if (field === undefined) continue;
    const rawText = src.slice(value.start, value.end);
    switch (field) {
      case "EnableIPv4":
      case "EnableIPv6":
      case "EnableNFTables": {
        if (value.kind === "null") break;
        if (value.kind !== "bool") {
          save(value.kind, field, "bool");
          break;
        }
        if (field === "EnableIPv4") c.enableIPv4 = value.value;
        else if (field === "EnableIPv6") c.enableIPv6 = value.value;
        else c.enableNFTables = value.value;
        break;
      }
      case "SubnetLen":
      case "IPv6SubnetLen": {
        if (value.kind === "null") break;
        if (value.kind !== "number") {
          save(value.kind, field, "uint");
          break;
        }
        const n = parseGoUint(rawText);
        if (n === null) {
          save(`number ${rawText}`, field, "uint");
          break;
        }
        if (field === "SubnetLen") c.subnetLen = n;
        else c.ipv6SubnetLen = n;
        break;
      }
      case "Network":
        c.network = hard(decodeIP4Net(rawText), field);
        break;
      case "IPv6Network":
        c.ipv6Network = hard(decodeIP6Net(rawText), field);
        break;
      case "SubnetMin":
        c.subnetMin = hard(decodeIP4(rawText), field);
        break;
      case "SubnetMax":
        c.subnetMax = hard(decodeIP4(rawText), field);
        break;
      case "IPv6SubnetMin":
        // A pointer field: null sets it back to nil instead of calling UnmarshalJSON.
        c.ipv6SubnetMin = value.kind === "null" ? null : hard(decodeIP6(rawText), field);
        break;
      case "IPv6SubnetMax":
        c.ipv6SubnetMax = value.kind === "null" ? null : hard(decodeIP6(rawText), field);
        break;
      case "Backend":
        c.backend = value;
        break;
    }
  }
  if (saved) throw saved;
  return c;
}

function hard<T>(result: GoResult<T>, field: ConfigField): T {
  if (!result.ok) throw configError(result.error, field, "decode");
  return result.value;
}

/** flannel's `parseBackendType`: `udp` when absent, else `Type` decoded as Go would. */
function parseBackendType(backend: GoNode | null): string {
  if (backend === null) return "udp";
  const fail = (goError: string): never => {
    throw configError(
      `error decoding Backend property of config: ${goError}`,
      backend.kind === "object" ? "Backend.Type" : "Backend",
      "decode",
    );
  };
  if (backend.kind === "null") return "";
  if (backend.kind !== "object")
    return fail(goTypeError(backend.kind, null, "", "struct { Type string }"));
  let type = "";
  let error: string | null = null;
  for (const { key, value } of backend.members) {
    if (key !== "Type" && foldKey(key) !== "TYPE") continue;
    if (value.kind === "string") type = value.value;
    else if (value.kind !== "null") error ??= goTypeError(value.kind, "", "Type", "string");
  }
  if (error !== null) return fail(error);
  return type;
}

function fail(message: string, field: string): never {
  throw configError(message, field, "check");
}

/** The IPv4 half of flannel's `CheckNetworkConfig`, in its order, with its uint32 arithmetic. */
function checkIPv4(c: RawConfig): void {
  const { ip, prefixLen } = c.network;
  if (ip === 0 && prefixLen === 0) {
    fail("please define a correct Network parameter in the flannel config", "Network");
  }
  let len: number;
  if (c.subnetLen > 0n) {
    if (c.subnetLen > 30n) fail("SubnetLen must be less than /31", "SubnetLen");
    len = Number(c.subnetLen);
    if (len < prefixLen + 2) {
      fail("network must be able to accommodate at least four subnets", "SubnetLen");
    }
  } else {
    // Default: a /24 per host, or a quarter of a network too small for four /24s.
    if (prefixLen > 28)
      fail("network is too small. Minimum useful network prefix is /28", "Network");
    len = prefixLen <= 22 ? 24 : prefixLen + 2;
  }
  c.subnetLen = BigInt(len);
  const size = 2 ** (32 - len);
  const netMask = ipv4Mask(prefixLen);
  const inNetwork = (a: number): boolean => (a & netMask) >>> 0 === (ip & netMask) >>> 0;

  // 0.0.0.0 is flannel's "unset": the first subnet is skipped, the last one kept.
  if (c.subnetMin === 0) c.subnetMin = (ip + size) >>> 0;
  else if (!inNetwork(c.subnetMin))
    fail("SubnetMin is not in the range of the Network", "SubnetMin");
  if (c.subnetMax === 0) c.subnetMax = (ip + 2 ** (32 - prefixLen) - size) >>> 0;
  else if (!inNetwork(c.subnetMax))
    fail("SubnetMax is not in the range of the Network", "SubnetMax");

  const mask = ipv4Mask(len);
  if ((c.subnetMin & mask) >>> 0 !== c.subnetMin) {
    fail(`SubnetMin is not on a SubnetLen boundary: ${formatIPv4(c.subnetMin)}`, "SubnetMin");
  }
  if ((c.subnetMax & mask) >>> 0 !== c.subnetMax) {
    fail(`SubnetMax is not on a SubnetLen boundary: ${formatIPv4(c.subnetMax)}`, "SubnetMax");
  }
}

/** The IPv6 half of flannel's `CheckNetworkConfig`. */
function checkIPv6(c: RawConfig): void {
  const { ip, prefixLen, fromIPv4 } = c.ipv6Network;
  if (ip === 0n && prefixLen === 0) {
    fail("please define a correct IPv6Network parameter in the flannel config", "IPv6Network");
  }
  let len: number;
  if (c.ipv6SubnetLen > 0n) {
    if (c.ipv6SubnetLen > 126n) fail("SubnetLen must be less than /127", "IPv6SubnetLen");
    len = Number(c.ipv6SubnetLen);
    if (len < prefixLen + 2) {
      fail("network must be able to accommodate at least four subnets", "IPv6SubnetLen");
    }
  } else {
    if (prefixLen > 124) {
      fail("IPv6Network is too small. Minimum useful network prefix is /124", "IPv6Network");
    }
    len = prefixLen <= 62 ? 64 : prefixLen + 2;
  }
  c.ipv6SubnetLen = BigInt(len);
  const size = 1n << BigInt(128 - len);
  const netMask = ipv6Mask(prefixLen);
  const inNetwork = (a: bigint): boolean => (a & netMask) === (ip & netMask);

  if (c.ipv6SubnetMin === null || c.ipv6SubnetMin === 0n) c.ipv6SubnetMin = ip + size;
  else if (!inNetwork(c.ipv6SubnetMin)) {
    fail("IPv6SubnetMin is not in the range of the IPv6Network", "IPv6SubnetMin");
  }
  if (c.ipv6SubnetMax === null || c.ipv6SubnetMax === 0n) {
    c.ipv6SubnetMax = ip + (1n << BigInt(128 - prefixLen)) - size;
  } else if (!inNetwork(c.ipv6SubnetMax)) {
    fail("IPv6SubnetMax is not in the range of the IPv6Network", "IPv6SubnetMax");
  }

  const mask = ipv6Mask(len);
  if ((c.ipv6SubnetMin & mask) !== c.ipv6SubnetMin) {
    fail(
      `IPv6SubnetMin is not on a SubnetLen boundary: ${goIP6String(c.ipv6SubnetMin)}`,
      "IPv6SubnetMin",
    );
  }
  if ((c.ipv6SubnetMax & mask) !== c.ipv6SubnetMax) {
    fail(
      `IPv6SubnetMax is not on a SubnetLen boundary: ${goIP6String(c.ipv6SubnetMax)}`,
      "IPv6SubnetMax",
    );
  }
  if (fromIPv4) {
    // flannel takes an IPv4 CIDR here as an unmasked IPv4-mapped network; the rare layouts
    // that pass the checks above would lease nonsense, so we stop (docs/decisions.md).
    fail("invalid IPv6 CIDR format", "IPv6Network");
  }
}
