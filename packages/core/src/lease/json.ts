/**
 * A lease's value under `<prefix>/subnets/<key>`: flannel's `LeaseAttrs` JSON, byte for byte.
 */

import { FlannelError } from "../errors.js";
import { parseGoIP4 } from "../go/decode.js";
import {
  foldKey,
  type GoNode,
  GoSyntaxError,
  parseGoJson,
  setOwn,
  syntaxPosition,
  toJsonValue,
} from "../go/json.js";
import { goQuote, goStringify } from "../go/json-write.js";
import { formatIPv4 } from "../ip/ipv4.js";
import { formatIPv6, scanIPv6 } from "../ip/ipv6.js";
import { parseMacAddress } from "../mac.js";
import type { JsonValue, LeaseAttrs } from "./types.js";

/**
 * Which flanneld's bytes {@link formatLeaseAttrs} writes:
 * - `"current"` (v0.15 and later, the default): `PublicIPv6` is always present, `null` when unset;
 * - `"v0.11"`: `PublicIPv6` is left out when unset, as flannel v0.11 (etcd v2) writes it. A set
 *   `PublicIPv6` is still written: v0.11 ignores keys it does not know, and dropping it would
 *   lose the node's IPv6 identity.
 */
export type LeaseJsonShape = "current" | "v0.11";

/** Options of {@link formatLeaseAttrs}. */
export interface FormatLeaseAttrsOptions {
  /** Default `"current"`. */
  readonly shape?: LeaseJsonShape;
}

function invalid(
  message: string,
  field?: string,
  cause?: unknown,
  details?: Record<string, unknown>,
): FlannelError {
  return new FlannelError("LEASE_INVALID", message, {
    ...(field === undefined ? {} : { field }),
    ...(cause === undefined ? {} : { cause }),
    ...(details === undefined ? {} : { details }),
  });
}

/**
 * Serializes lease attributes exactly as flanneld's Go `json.Marshal` does: compact, fields in
 * the order `PublicIP`, `PublicIPv6` (`null` when unset), `BackendType` (left out when `""`),
 * `BackendData`, `BackendV6Data` (each left out when `null`); strings escaped like Go's encoder
 * (`<` `>` `&` as `\u003c` `\u003e` `\u0026`, U+2028/U+2029, `\b` `\f` `\n` `\r` `\t`, other
 * control characters as `\u00xx`). Addresses are written in canonical form.
 *
 * @throws FlannelError `LEASE_INVALID` when `publicIP` is not IPv4, `publicIPv6` not IPv6, or
 * backend data is not JSON (a function, `undefined`, a non-finite number, a class instance…).
 * @example
 * ```ts
 * formatLeaseAttrs({
 *   publicIP: "192.168.64.3",
 *   publicIPv6: null,
 *   backendType: "vxlan",
 *   backendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" },
 *   backendV6Data: null,
 * });
 * // '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}'
 * ```
 */
export function formatLeaseAttrs(attrs: LeaseAttrs, options?: FormatLeaseAttrsOptions): string {
  const ip = typeof attrs.publicIP === "string" ? readIPv4(attrs.publicIP) : null;
  if (ip === null) throw invalid(`invalid IPv4 address format: ${attrs.publicIP}`, "PublicIP");
  let out = `{"PublicIP":"${ip}"`;
  if (attrs.publicIPv6 !== null && attrs.publicIPv6 !== undefined) {
    const ip6 = typeof attrs.publicIPv6 === "string" ? readIPv6(attrs.publicIPv6) : null;
    if (ip6 === null) throw invalid(`invalid IPv6 address: ${attrs.publicIPv6}`, "PublicIPv6");
    out += `,"PublicIPv6":"${ip6}"`;
  } else if ((options?.shape ?? "current") === "current") {
    out += `,"PublicIPv6":null`;
  }
  if (attrs.backendType !== "" && attrs.backendType !== undefined) {
    if (typeof attrs.backendType !== "string") {
      throw invalid("BackendType must be a string", "BackendType");
    }
    out += `,"BackendType":${goQuote(attrs.backendType)}`;
  }
  out += backendField("BackendData", attrs.backendData);
  out += backendField("BackendV6Data", attrs.backendV6Data);
  return `${out}}`;
}

function backendField(name: string, value: JsonValue | null | undefined): string {
  if (value === null || value === undefined) return "";
  try {
    return `,"${name}":${goStringify(value)}`;
  } catch (e) {
    throw invalid(`${name} is not JSON: ${(e as Error).message}`, name, e);
  }
}

// flannel's ip.ParseIP4: a dotted quad, or an IPv4-mapped IPv6 address.
function readIPv4(text: string): string | null {
  const ip = parseGoIP4(text);
  return ip.ok ? formatIPv4(ip.value) : null;
}

// An IPv6 address in canonical text. Go's ParseIP would also take a dotted quad here (and store
// it IPv4-mapped); a dotted quad in PublicIPv6 is a mistake, so we refuse it.
function readIPv6(text: string): string | null {
  const v6 = scanIPv6(text, 0, text.length);
  return v6 >= 0n ? formatIPv6(v6) : null;
}

const FIELDS = {
  PUBLICIP: "PublicIP",
  PUBLICIPV6: "PublicIPv6",
  BACKENDTYPE: "BackendType",
  BACKENDDATA: "BackendData",
  BACKENDV6DATA: "BackendV6Data",
} as const;

type Field = (typeof FIELDS)[keyof typeof FIELDS];

function fieldOf(key: string): Field | undefined {
  switch (key) {
    // Go tries the exact name first; flannel's own spelling is by far the common case.
    case "PublicIP":
    case "PublicIPv6":
    case "BackendType":
    case "BackendData":
    case "BackendV6Data":
      return key;
    default:
      return (FIELDS as Record<string, Field | undefined>)[foldKey(key)];
  }
}

/**
 * Parses a lease value with the tolerance of flanneld's Go decoder: keys match field names
 * case-insensitively (the last occurrence wins), unknown keys are ignored, both the v0.11 shape
 * (no `PublicIPv6`) and the current one are read, a missing `PublicIP` reads as `"0.0.0.0"`.
 * `PublicIP` must be IPv4 (Go's `net.ParseIP` forms, IPv4-mapped IPv6 included); `PublicIPv6`
 * must be IPv6 or `null`. For a `"vxlan"` lease, a `VtepMAC` inside `BackendData` /
 * `BackendV6Data` must be a MAC in one of Go's `net.ParseMAC` forms and is rewritten to
 * `"VtepMAC"` in canonical form (lower-case, colons), so every consumer sees one spelling; flannel's
 * vxlan backend refuses such a lease too. Other backend data is kept as parsed.
 *
 * Differences from Go, deliberate: a value that is not a JSON object (including `null`, which
 * Go reads as an all-zero lease) is refused; numbers in backend data must fit a double.
 *
 * @throws FlannelError `LEASE_INVALID` (with `field` when one field is at fault; for a JSON
 * syntax error, Go's message and `details.offset`, the index of the offending character)
 * @example
 * ```ts
 * const attrs = parseLeaseAttrs('{"PublicIP":"172.27.128.149","BackendType":"vxlan","BackendData":{"VtepMAC":"1e:38:19:e2:7e:3a"}}');
 * attrs.publicIPv6; // null (v0.11 shape)
 * ```
 */
export function parseLeaseAttrs(json: string): LeaseAttrs {
  if (typeof json !== "string") throw invalid("a lease value must be a string of JSON");
  let root: GoNode;
  try {
    root = parseGoJson(json);
  } catch (e) {
    if (e instanceof GoSyntaxError) {
      const { line, column, text: at } = syntaxPosition(json, e.offset);
      throw invalid(`invalid lease JSON: ${e.message}${at}`, undefined, e, {
        goMessage: e.message,
        offset: e.offset,
        line,
        column,
      });
    }
    throw invalid("invalid lease JSON", undefined, e);
  }
  if (root.kind !== "object")
    throw invalid(`a lease value must be a JSON object, not ${root.kind}`);

  let publicIP = "0.0.0.0";
  let publicIPv6: string | null = null;
  let backendType = "";
  let backendData: GoNode | null = null;
  let backendV6Data: GoNode | null = null;

  for (const { key, value: node } of root.members) {
    switch (fieldOf(key)) {
      case "PublicIP": {
        // Go hands the raw token to ip.IP4.UnmarshalJSON: only an unescaped string can parse.
        const ip = node.kind === "string" && !node.escaped ? readIPv4(node.value) : null;
        if (ip === null) throw invalid(`invalid IPv4 address format: ${raw(node)}`, "PublicIP");
        publicIP = ip;
        break;
      }
      case "PublicIPv6":
        if (node.kind === "null") publicIPv6 = null;
        else {
          const ip = node.kind === "string" && !node.escaped ? readIPv6(node.value) : null;
          if (ip === null) throw invalid(`invalid IPv6 address format: ${raw(node)}`, "PublicIPv6");
          publicIPv6 = ip;
        }
        break;
      case "BackendType":
        // Go leaves a string field untouched on null; anything else but a string is an error.
        if (node.kind === "string") backendType = KNOWN_BACKEND_TYPES.get(node.value) ?? node.value;
        else if (node.kind !== "null") {
          throw invalid(
            `cannot unmarshal ${node.kind} into BackendType of type string`,
            "BackendType",
          );
        }
        break;
      case "BackendData":
        backendData = node.kind === "null" ? null : node;
        break;
      case "BackendV6Data":
        backendV6Data = node.kind === "null" ? null : node;
        break;
      default:
        break;
    }
  }

  const vxlan = backendType === "vxlan";
  return {
    publicIP,
    publicIPv6,
    backendType,
    backendData: backendValue(json, backendData, vxlan, "BackendData"),
    backendV6Data: backendValue(json, backendV6Data, vxlan, "BackendV6Data"),
  };
}

/**
 * flannel's backend names, one string each: every lease of a cluster names the same backend, and
 * a parsed value is a fresh string per lease (24 bytes × 10,000 leases in a watcher's snapshot).
 */
const KNOWN_BACKEND_TYPES = new Map(
  [
    "vxlan",
    "host-gw",
    "udp",
    "ipip",
    "ipsec",
    "wireguard",
    "alloc",
    "extension",
    "tencent-vpc",
    "gce",
    "aws-vpc",
    "ali-vpc",
  ].map((t) => [t, t]),
);

function raw(node: GoNode): string {
  return node.kind === "string" ? JSON.stringify(node.value) : node.kind;
}

function backendValue(
  src: string,
  node: GoNode | null,
  vxlan: boolean,
  field: string,
): JsonValue | null {
  if (node === null) return null;
  try {
    if (!vxlan || node.kind !== "object") return toJsonValue(src, node);
    const out: Record<string, JsonValue> = {};
    let mac: GoNode | undefined;
    for (const { key, value } of node.members) {
      if (key === "VtepMAC" || foldKey(key) === "VTEPMAC") {
        // Every spelling lands on flannel's, at the first one's position; the last value wins.
        if (mac === undefined) out.VtepMAC = null;
        mac = value;
      } else setOwn(out, key, toJsonValue(src, value));
    }
    if (mac !== undefined) out.VtepMAC = vtepMac(mac, field);
    return out;
  } catch (e) {
    if (e instanceof RangeError) throw invalid(`${field}: ${e.message}`, field, e);
    throw e;
  }
}

function vtepMac(node: GoNode, field: string): string {
  // Go's hardwareAddr.UnmarshalJSON takes the raw token: a quoted string without escapes.
  if (node.kind !== "string" || node.escaped) {
    throw invalid(`error parsing hardware addr in ${field}.VtepMAC`, field);
  }
  try {
    return parseMacAddress(node.value);
  } catch (e) {
    throw invalid(`${field}.VtepMAC: ${(e as Error).message}`, field, e);
  }
}
