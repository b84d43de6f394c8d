import { isFlannelError } from "../errors.js";
import { foldKey } from "../go/json.js";
import { configError } from "./errors.js";
import { parseNetworkConfig } from "./parse.js";
import type { BackendConfig, NetworkConfig } from "./types.js";

/**
 * Writes a network config as the JSON document flannel reads from `<prefix>/config`, in
 * flannel's key spelling and a fixed key order: the IPv4 fields with their resolved values
 * (`Network`, `SubnetLen`, `SubnetMin`, `SubnetMax`) or `"EnableIPv4":false`, the IPv6 fields
 * when enabled, `EnableNFTables` when set, and `Backend` with `Type` first and only the options
 * that differ from the backend's defaults. {@link parseNetworkConfig} reads the text back into
 * an equal config; the text is checked that way before it is returned, so it never holds a
 * config flanneld would refuse.
 *
 * @throws FlannelError `CONFIG_INVALID` when the config is one flanneld would refuse (flannel's
 *   message), or holds values JSON cannot carry.
 * @example
 * ```ts
 * formatNetworkConfig(parseNetworkConfig('{"network":"10.5.0.0/16","backend":{"type":"VXLAN"}}'));
 * // '{"Network":"10.5.0.0/16","SubnetLen":24,"SubnetMin":"10.5.1.0","SubnetMax":"10.5.255.0","Backend":{"Type":"vxlan"}}'
 * ```
 */
export function formatNetworkConfig(config: NetworkConfig): string {
  let text: string;
  try {
    const members: string[] = [];
    const put = (key: string, value: unknown): void => {
      members.push(`${JSON.stringify(key)}:${JSON.stringify(value) ?? "null"}`);
    };
    if (config.enableIPv4) {
      put("Network", config.network);
      put("SubnetLen", config.subnetLen);
      put("SubnetMin", config.subnetMin);
      put("SubnetMax", config.subnetMax);
    } else {
      put("EnableIPv4", false);
    }
    if (config.enableIPv6) {
      put("EnableIPv6", true);
      put("IPv6Network", config.ipv6Network);
      put("IPv6SubnetLen", config.ipv6SubnetLen);
      put("IPv6SubnetMin", config.ipv6SubnetMin);
      put("IPv6SubnetMax", config.ipv6SubnetMax);
    }
    if (config.enableNFTables) put("EnableNFTables", true);
    members.push(`"Backend":${formatBackend(config.backend)}`);
    text = `{${members.join(",")}}`;
  } catch (e) {
    if (isFlannelError(e)) throw e;
    throw configError("the network config cannot be written as JSON", undefined, "format", e);
  }
  parseNetworkConfig(text);
  return text;
}

function formatBackend(backend: BackendConfig): string {
  const members: string[] = [`"Type":${JSON.stringify(backend.type)}`];
  const put = (key: string, value: unknown, fallback: unknown): void => {
    if (value !== fallback)
      members.push(`${JSON.stringify(key)}:${JSON.stringify(value) ?? "null"}`);
  };
  switch (backend.type) {
    case "vxlan":
      put("VNI", backend.vni, 1);
      put("Port", backend.port, 0);
      put("GBP", backend.gbp, false);
      put("Learning", backend.learning, false);
      put("DirectRouting", backend.directRouting, false);
      put("MTU", backend.mtu, null);
      put("MacPrefix", backend.macPrefix, "0E-2A");
      break;
    case "host-gw":
      break;
    case "udp":
      put("Port", backend.port, 8285);
      break;
    case "ipip":
      put("DirectRouting", backend.directRouting, false);
      break;
    case "wireguard":
      put("ListenPort", backend.listenPort, 51820);
      put("ListenPortV6", backend.listenPortV6, 51821);
      put("MTU", backend.mtu, null);
      put("PSK", backend.psk, "");
      put("PersistentKeepaliveInterval", backend.persistentKeepaliveInterval, 0);
      put("Mode", backend.mode, "separate");
      break;
    case "ipsec":
      put("PSK", backend.psk, undefined);
      put("UDPEncap", backend.udpEncap, false);
      put("ESPProposal", backend.espProposal, "aes128gcm16-sha256-prfsha256-ecp256");
      break;
    default:
      for (const [key, value] of Object.entries(backend.options ?? {})) {
        // Another spelling of Type would override the type on reading.
        if (foldKey(key) === "TYPE") continue;
        const item = JSON.stringify(value);
        if (item !== undefined) members.push(`${JSON.stringify(key)}:${item}`);
      }
  }
  return `{${members.join(",")}}`;
}
