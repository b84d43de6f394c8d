/**
 * The parsed network configuration (the value of `<prefix>/config`), as plain data with
 * addresses in canonical text. Field meanings follow flannel's `pkg/subnet/config.go`.
 */

/** Options of the `vxlan` backend, with flannel's defaults filled in. */
export interface VxlanBackendConfig {
  readonly type: "vxlan";
  /** VXLAN network identifier; the device is `flannel.<vni>`. Default 1. */
  readonly vni: number;
  /** UDP port; 0 means the kernel default (8472 on Linux). Default 0. */
  readonly port: number;
  /** Group-based policy extension. Default false. */
  readonly gbp: boolean;
  /** Kernel FDB learning on the device. Default false. */
  readonly learning: boolean;
  /** Route directly (no encapsulation) to hosts on the same L2 segment. Default false. */
  readonly directRouting: boolean;
  /** Underlay MTU to derive the device MTU from (minus 50); `null` = the external interface's. */
  readonly mtu: number | null;
  /** Windows-only MAC prefix. Default `"0E-2A"`. */
  readonly macPrefix: string;
}

/** Options of the `host-gw` backend (it has none). */
export interface HostGwBackendConfig {
  readonly type: "host-gw";
}

/** Options of the `udp` backend. */
export interface UdpBackendConfig {
  readonly type: "udp";
  /** UDP port. Default 8285. */
  readonly port: number;
}

/** Options of the `ipip` backend. */
export interface IpipBackendConfig {
  readonly type: "ipip";
  /** Default false. */
  readonly directRouting: boolean;
}

/** Options of the `wireguard` backend. */
export interface WireguardBackendConfig {
  readonly type: "wireguard";
  /** Default 51820. */
  readonly listenPort: number;
  /** Default 51821. */
  readonly listenPortV6: number;
  /** Underlay MTU (minus 80 for the device); `null` = the external interface's. */
  readonly mtu: number | null;
  /** Pre-shared key. Default "". */
  readonly psk: string;
  /** Seconds; 0 disables. Default 0. */
  readonly persistentKeepaliveInterval: number;
  /** Default `"separate"`. */
  readonly mode: "separate" | "auto" | "ipv4" | "ipv6";
}

/** Options of the `ipsec` backend. */
export interface IpsecBackendConfig {
  readonly type: "ipsec";
  /** Pre-shared key, at least 96 characters. */
  readonly psk: string;
  /** Default false. */
  readonly udpEncap: boolean;
  /** Default `"aes128gcm16-sha256-prfsha256-ecp256"`. */
  readonly espProposal: string;
}

/**
 * A backend flannel registers but this SDK does not model (`alloc`, `extension`,
 * `tencent-vpc`, and v0.11's cloud backends): its options are kept as given.
 */
export interface OtherBackendConfig {
  readonly type: "alloc" | "extension" | "tencent-vpc" | "aws-vpc" | "gce" | "ali-vpc";
  /** The `Backend` object as written, minus `Type`. */
  readonly options: Readonly<Record<string, unknown>>;
}

/** The `Backend` object of the config, by type. */
export type BackendConfig =
  | VxlanBackendConfig
  | HostGwBackendConfig
  | UdpBackendConfig
  | IpipBackendConfig
  | WireguardBackendConfig
  | IpsecBackendConfig
  | OtherBackendConfig;

/** Backend type names flannel registers. */
export type BackendType = BackendConfig["type"];

/**
 * A validated network config with every default filled in (flannel's `Config` after
 * `CheckNetworkConfig`). IPv4 fields are `null` / 0 when IPv4 is disabled, IPv6 fields when
 * IPv6 is disabled.
 */
export interface NetworkConfig {
  readonly enableIPv4: boolean;
  readonly enableIPv6: boolean;
  readonly enableNFTables: boolean;
  /** The whole overlay range, host bits masked: `"172.30.0.0/16"`. */
  readonly network: string | null;
  /** Prefix length leased to each node. */
  readonly subnetLen: number;
  /** Network address of the first leasable subnet: `"172.30.1.0"`. */
  readonly subnetMin: string | null;
  /** Network address of the last leasable subnet: `"172.30.255.0"`. */
  readonly subnetMax: string | null;
  readonly ipv6Network: string | null;
  readonly ipv6SubnetLen: number;
  readonly ipv6SubnetMin: string | null;
  readonly ipv6SubnetMax: string | null;
  readonly backend: BackendConfig;
}
