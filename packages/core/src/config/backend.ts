import { parseGoInt } from "../go/decode.js";
import { foldKey, type GoNode } from "../go/json.js";
import { goToLower, utf8Length } from "../go/text.js";
import { configError, goTypeError } from "./errors.js";
import type { BackendConfig, OtherBackendConfig } from "./types.js";

type Scalar = number | boolean | string;

interface StructField {
  /** The Go field name (or its json tag), as Go's errors print it. */
  readonly go: string;
  /** The key as flannel documents it, for `FlannelError.field`. */
  readonly key: string;
  readonly kind: "int" | "bool" | "string";
  /** Go's type name in `UnmarshalTypeError`. */
  readonly goType: string;
}

interface BackendStruct {
  /** Go's struct name in errors; "" for the anonymous structs most backends use. */
  readonly name: string;
  /** flannel's wrapping of the decode error in `RegisterNetwork`. */
  readonly prefix: string;
  readonly fields: readonly StructField[];
}

const int = (go: string, key = go, goType = "int"): StructField => ({
  go,
  key,
  kind: "int",
  goType,
});
const bool = (go: string, key = go): StructField => ({ go, key, kind: "bool", goType: "bool" });
const str = (go: string, goType = "string"): StructField => ({
  go,
  key: go,
  kind: "string",
  goType,
});

// Option structs of flannel v0.28's Linux backends (pkg/backend/*), plus vxlan's Windows-only
// MacPrefix, which our model keeps.
const VXLAN: BackendStruct = {
  name: "VXLANConfig",
  prefix: "error decoding VXLAN backend config: ",
  fields: [
    int("vni", "VNI"),
    int("port", "Port"),
    int("mtu", "MTU"),
    bool("gbp", "GBP"),
    bool("learning", "Learning"),
    bool("directRouting", "DirectRouting"),
    str("MacPrefix"),
  ],
};
const UDP: BackendStruct = {
  name: "",
  prefix: "error decoding UDP backend config: ",
  fields: [int("Port")],
};
const IPIP: BackendStruct = {
  name: "",
  prefix: "error decoding IPIP backend config: ",
  fields: [bool("DirectRouting")],
};
const WIREGUARD: BackendStruct = {
  name: "",
  prefix: "error decoding backend config: ",
  fields: [
    int("ListenPort"),
    int("ListenPortV6"),
    int("MTU"),
    str("PSK"),
    int("PersistentKeepaliveInterval", "PersistentKeepaliveInterval", "time.Duration"),
    str("Mode", "wireguard.Mode"),
  ],
};
const IPSEC: BackendStruct = {
  name: "",
  prefix: "error decoding IPSEC backend config: ",
  fields: [bool("UDPEncap"), str("ESPProposal"), str("PSK")],
};

const WIREGUARD_MODES: ReadonlySet<string> = new Set(["separate", "auto", "ipv4", "ipv6"]);
const OTHER_TYPES: ReadonlySet<string> = new Set([
  "alloc",
  "extension",
  "tencent-vpc",
  "aws-vpc",
  "gce",
  "ali-vpc",
]);
const IPSEC_MIN_PSK_BYTES = 96;

function stageError(message: string, field: string): never {
  throw configError(message, field, "backend");
}

/**
 * What flanneld does with the `Backend` object after the network checks: look the type up
 * (lower-cased, `unknown backend type: <type>` otherwise), then let the backend decode its
 * options over its defaults and check them. `backend` is null when the key was absent.
 * @internal
 */
export function decodeBackend(src: string, type: string, backend: GoNode | null): BackendConfig {
  const name = goToLower(type);
  switch (name) {
    case "vxlan": {
      const o = decodeStruct(src, backend, VXLAN, {
        vni: 1,
        port: 0,
        mtu: null,
        gbp: false,
        learning: false,
        directRouting: false,
        MacPrefix: "0E-2A",
      });
      return {
        type: "vxlan",
        vni: o.vni as number,
        port: o.port as number,
        gbp: o.gbp as boolean,
        learning: o.learning as boolean,
        directRouting: o.directRouting as boolean,
        mtu: o.mtu as number | null,
        macPrefix: o.MacPrefix as string,
      };
    }
    case "host-gw":
      return { type: "host-gw" };
    case "udp": {
      const o = decodeStruct(src, backend, UDP, { Port: 8285 });
      return { type: "udp", port: o.Port as number };
    }
    case "ipip": {
      const o = decodeStruct(src, backend, IPIP, { DirectRouting: false });
      return { type: "ipip", directRouting: o.DirectRouting as boolean };
    }
    case "wireguard": {
      const o = decodeStruct(src, backend, WIREGUARD, {
        ListenPort: 51820,
        ListenPortV6: 51821,
        MTU: null,
        PSK: "",
        PersistentKeepaliveInterval: 0,
        Mode: "separate",
      });
      const mode = o.Mode as string;
      if (!WIREGUARD_MODES.has(mode)) stageError("no valid Mode configured", "Backend.Mode");
      return {
        type: "wireguard",
        listenPort: o.ListenPort as number,
        listenPortV6: o.ListenPortV6 as number,
        mtu: o.MTU as number | null,
        psk: o.PSK as string,
        persistentKeepaliveInterval: o.PersistentKeepaliveInterval as number,
        mode: mode as "separate" | "auto" | "ipv4" | "ipv6",
      };
    }
    case "ipsec": {
      const o = decodeStruct(src, backend, IPSEC, {
        UDPEncap: false,
        ESPProposal: "aes128gcm16-sha256-prfsha256-ecp256",
        PSK: "",
      });
      // Go's len() counts bytes.
      if (utf8Length(o.PSK as string) < IPSEC_MIN_PSK_BYTES) {
        stageError("config error, password is too short", "Backend.PSK");
      }
      return {
        type: "ipsec",
        psk: o.PSK as string,
        udpEncap: o.UDPEncap as boolean,
        espProposal: o.ESPProposal as string,
      };
    }
  }
  if (OTHER_TYPES.has(name) && backend?.kind === "object") {
    return { type: name as OtherBackendConfig["type"], options: otherOptions(src, backend) };
  }
  return stageError(`unknown backend type: ${name}`, "Backend.Type");
}

/** Go's `json.Unmarshal(config.Backend, &cfg)` over the defaults; the first type error wins. */
function decodeStruct(
  src: string,
  node: GoNode | null,
  spec: BackendStruct,
  defaults: Record<string, Scalar | null>,
): Record<string, Scalar | null> {
  const out = { ...defaults };
  if (node === null || node.kind !== "object") return out;
  let error: { message: string; field: string } | null = null;
  for (const { key, value } of node.members) {
    const folded = foldKey(key);
    const field =
      spec.fields.find((f) => f.go === key) ?? spec.fields.find((f) => foldKey(f.go) === folded);
    if (field === undefined || value.kind === "null") continue;
    let kind: string = value.kind;
    if (field.kind === "int" && value.kind === "number") {
      const text = src.slice(value.start, value.end);
      const n = parseGoInt(text);
      if (n !== null) {
        out[field.go] = n;
        continue;
      }
      kind = `number ${text}`;
    } else if (field.kind === "bool" && value.kind === "bool") {
      out[field.go] = value.value;
      continue;
    } else if (field.kind === "string" && value.kind === "string") {
      out[field.go] = value.value;
      continue;
    }
    error ??= {
      message: spec.prefix + goTypeError(kind, spec.name, field.go, field.goType),
      field: `Backend.${field.key}`,
    };
  }
  if (error !== null) stageError(error.message, error.field);
  return out;
}

// Opaque options are rebuilt with JSON.parse and written back with JSON.stringify, both of
// which recurse natively; this keeps them far from the engine's stack limit.
const MAX_OPTIONS_DEPTH = 64;

/** The `Backend` object as written (Go's last-wins per exact key), minus every spelling of Type. */
function otherOptions(src: string, node: GoNode): Readonly<Record<string, unknown>> {
  if (nestingDepth(src, node.start, node.end) > MAX_OPTIONS_DEPTH) {
    stageError(`Backend options are nested deeper than ${MAX_OPTIONS_DEPTH} levels`, "Backend");
  }
  const all = JSON.parse(src.slice(node.start, node.end), (key, value: unknown) => {
    if (typeof value !== "number") return value;
    if (!Number.isFinite(value))
      stageError(`Backend option ${key} is out of range`, `Backend.${key}`);
    return value + 0; // no -0: it would not survive formatting
  }) as Record<string, unknown>;
  for (const key of Object.keys(all)) {
    if (foldKey(key) === "TYPE") delete all[key];
  }
  return all;
}

/** Deepest bracket nesting in `src[start, end)`, strings skipped. */
function nestingDepth(src: string, start: number, end: number): number {
  let depth = 0;
  let max = 0;
  for (let i = start; i < end; i++) {
    const c = src.charCodeAt(i);
    if (c === 0x22) {
      for (i++; src.charCodeAt(i) !== 0x22; i++) if (src.charCodeAt(i) === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}
