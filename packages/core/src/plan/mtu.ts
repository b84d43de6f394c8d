import type { BackendConfig, BackendType } from "../config/types.js";
import { FlannelError, printable } from "../errors.js";

/**
 * Bytes each backend's encapsulation takes from the underlay MTU (flannel's `encapOverhead`
 * constants): vxlan 50, udp 28 (IPv4 + UDP headers), ipip 20, wireguard 80, ipsec 77 (+ 8 with
 * UDP encapsulation, see {@link backendMtu}); 0 for the backends that route without
 * encapsulation (host-gw, and the cloud / extension backends, which report the interface MTU).
 *
 * @example
 * ```ts
 * 1500 - BACKEND_MTU_OVERHEAD.vxlan; // 1450, flannel's FLANNEL_MTU on a 1500-byte underlay
 * ```
 */
export const BACKEND_MTU_OVERHEAD: Readonly<Record<BackendType, number>> = Object.freeze({
  vxlan: 50,
  "host-gw": 0,
  udp: 28,
  ipip: 20,
  wireguard: 80,
  ipsec: 77,
  alloc: 0,
  extension: 0,
  "tencent-vpc": 0,
  "aws-vpc": 0,
  gce: 0,
  "ali-vpc": 0,
});

/** Extra bytes ipsec loses when ESP is wrapped in UDP (`UDPEncap: true`). */
const IPSEC_UDP_ENCAP_OVERHEAD = 8;

/**
 * The smallest MTU an IPv4 interface may have (RFC 791); the kernel's floor for these devices.
 * {@link backendMtu} and the planners refuse anything smaller.
 *
 * @example
 * ```ts
 * backendMtu("vxlan", MIN_MTU + 50); // 68
 * ```
 */
export const MIN_MTU = 68;

/** Options of {@link backendMtu}. */
export interface BackendMtuOptions {
  /**
   * The backend's `MTU` option (vxlan, wireguard) when `backend` is given as a type name; a
   * full config carries its own. `null` = the underlay MTU.
   */
  readonly configMtu?: number | null;
  /** ipsec's `UDPEncap` when `backend` is given as a type name. */
  readonly udpEncap?: boolean;
  /**
   * ipip only: the MTU of an already existing `flannel.ipip` device. flanneld only ever lowers
   * that device's MTU, so a smaller existing value is kept and reported.
   */
  readonly existingDeviceMtu?: number | null;
  /** Interface name, for the error message. */
  readonly interfaceName?: string;
}

function isMtu(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= 0xffff_ffff;
}

/**
 * The MTU a backend reports as `FLANNEL_MTU` (each backend's `MTU()` in flannel's `pkg/backend/*`, written by `WriteSubnetFile`): the underlay MTU
 * (or the backend's `MTU` option for vxlan and wireguard) minus the backend's encapsulation
 * overhead — vxlan −50 (also over IPv6), host-gw 0, udp −28, ipip −20, wireguard −80,
 * ipsec −77 (−85 with `UDPEncap`).
 *
 * @param backend The backend config (from `parseNetworkConfig`) or a backend type name.
 * @param underlayMtu MTU of the external interface.
 * @throws FlannelError `PLAN_INVALID` when `underlayMtu` (or a given MTU option) is not a
 * positive integer, or the result is below 68 (`MTU <n> of iface <name> is too small for <type>
 * mode to work`, flannel's ipip wording).
 * @example
 * ```ts
 * backendMtu("vxlan", 1500); // 1450
 * backendMtu(parseNetworkConfig('{"Network":"10.0.0.0/8","Backend":{"Type":"wireguard","MTU":9001}}').backend, 1500); // 8921
 * backendMtu("ipip", 1500, { existingDeviceMtu: 1400 }); // 1400
 * ```
 */
export function backendMtu(
  backend: BackendConfig | BackendType,
  underlayMtu: number,
  options: BackendMtuOptions = {},
): number {
  const type: BackendType = typeof backend === "string" ? backend : backend.type;
  const overhead = BACKEND_MTU_OVERHEAD[type];
  if (overhead === undefined) {
    throw new FlannelError("PLAN_INVALID", `unknown backend type: ${printable(type)}`, {
      field: "Backend.Type",
    });
  }
  if (!isMtu(underlayMtu)) {
    throw new FlannelError(
      "PLAN_INVALID",
      `failed to determine MTU for ${options.interfaceName ?? "the external"} interface: ${printable(underlayMtu)}`,
      { field: "mtu", details: { underlayMtu } },
    );
  }
  let base = underlayMtu;
  let udpEncap = options.udpEncap ?? false;
  let configMtu = options.configMtu ?? null;
  if (typeof backend !== "string") {
    if (backend.type === "vxlan" || backend.type === "wireguard") configMtu = backend.mtu;
    if (backend.type === "ipsec") udpEncap = backend.udpEncap;
  }
  if ((type === "vxlan" || type === "wireguard") && configMtu !== null) {
    if (!isMtu(configMtu)) {
      throw new FlannelError(
        "PLAN_INVALID",
        `invalid ${type} MTU option: ${printable(configMtu)}`,
        {
          field: "Backend.MTU",
        },
      );
    }
    base = configMtu;
  }
  let mtu = base - overhead - (type === "ipsec" && udpEncap ? IPSEC_UDP_ENCAP_OVERHEAD : 0);
  if (mtu < MIN_MTU) {
    throw new FlannelError(
      "PLAN_INVALID",
      `MTU ${base} of iface ${options.interfaceName ?? "?"} is too small for ${type} mode to work`,
      { field: "mtu", details: { underlayMtu: base, overhead } },
    );
  }
  const existing = options.existingDeviceMtu;
  // flanneld's ipip backend sets the device MTU only when it is larger than wanted (or 0).
  if (type === "ipip" && isMtu(existing) && existing < mtu) mtu = existing;
  return mtu;
}
