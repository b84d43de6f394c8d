/**
 * flanneld's backend registration (`RegisterNetwork`): what must exist in the kernel before a
 * lease is asked for, and the lease attributes the node then publishes.
 */
import {
  backendMtu,
  FlannelError,
  HOST_GW_NAT_MESSAGE,
  ipFamily,
  type LeaseAttrs,
  MIN_MTU,
  type NetworkConfig,
  throwIfAborted,
} from "@flannel-sdk/core";
import type { NetlinkHandle } from "./handle.js";
import type { ExternalInterface } from "./iface.js";
import type { CallOptions, EnsureResult, VxlanLink } from "./types.js";

/** Options of {@link registerBackend}. */
export interface RegisterBackendOptions extends CallOptions {
  /** The network config (`parseNetworkConfig` / `store.getNetworkConfig()`). */
  readonly config: NetworkConfig;
  /** The external interface (`selectInterface`): its name, MTU, addresses and public IPs. */
  readonly externalInterface: Pick<ExternalInterface, "name" | "mtu" | "address" | "publicIP"> &
    Partial<Pick<ExternalInterface, "address6" | "publicIPv6">>;
}

/** What {@link registerBackend} set up. */
export interface RegisteredBackend {
  /** The attributes to acquire the lease with (`store.acquireLease(attrs)`). */
  readonly attrs: LeaseAttrs;
  /** The IPv4 vxlan device and whether it was created, reused or recreated; `null` for host-gw or with IPv4 off. */
  readonly device: EnsureResult<VxlanLink> | null;
  /** The IPv6 vxlan device (`flannel-v6.<VNI>`); `null` for host-gw or with IPv6 off. */
  readonly device6: EnsureResult<VxlanLink> | null;
}

function invalid(message: string, field: string): FlannelError {
  return new FlannelError("PLAN_INVALID", message, { field });
}

/** The public address of a family the config enables, checked before anything is created. */
function publicOf(options: RegisterBackendOptions, family: 4 | 6): string {
  const ext = options.externalInterface;
  const ip = family === 4 ? ext.publicIP : ext.publicIPv6;
  const field = family === 4 ? "publicIP" : "publicIPv6";
  if (typeof ip !== "string" || ipFamily(ip) !== family || (family === 4 && ip === "0.0.0.0")) {
    throw invalid(
      `IPv${family} is enabled but the external interface ${ext.name} has no IPv${family} ${field}: ${String(ip)}`,
      field,
    );
  }
  return ip;
}

/**
 * Registers this node's backend as flanneld does before it acquires a lease, for each family
 * the config enables (`EnableIPv4`, `EnableIPv6`; v0.20.2's `RegisterNetwork`):
 * - vxlan: ensures `flannel.<VNI>` over IPv4 (local = the public IP, MTU = underlay − 50 at
 *   creation) and `flannel-v6.<VNI>` over IPv6 (local = the public IPv6, MTU = underlay − 70),
 *   VNI, port, learning and GBP from the config, lower device = the external interface, with
 *   `ensureVxlan`'s compatibility rule — an existing compatible device is reused, so its MAC
 *   survives a restart — and returns attrs `{BackendType "vxlan", BackendData {VNI, VtepMAC}}`
 *   (and `PublicIPv6`, `BackendV6Data` with the IPv6 device's MAC); with IPv4 off, `PublicIP`
 *   is `0.0.0.0` and there is no `BackendData`, as flanneld writes it;
 * - host-gw: refuses a public IP (or IPv6) that is not the interface's address (flanneld's NAT
 *   message) and returns attrs `{BackendType "host-gw"}` with the public addresses.
 * Every input is checked before a device is made; a device created here is removed again when
 * the other family's fails, so nothing is left half-applied. The addresses, neighbours, FDB
 * and routes come later, from the plans (`planVxlan` / `planHostGw` per family + `applyPlan`).
 *
 * @throws FlannelError `BACKEND_UNSUPPORTED` (another backend type), `PLAN_INVALID` (an enabled
 * family without a public address of that family, field `publicIP` / `publicIPv6`; host-gw
 * behind NAT; MTU too small), `NETLINK_ERROR`, `ABORTED`
 * @example
 * ```ts
 * const ext = await selectInterface(h, { publicIP: "10.0.0.5" });
 * const { attrs } = await registerBackend(h, { config, externalInterface: ext });
 * const lease = await store.acquireLease(attrs, { previousSubnet });
 * ```
 */
export async function registerBackend(
  handle: NetlinkHandle,
  options: RegisterBackendOptions,
): Promise<RegisteredBackend> {
  throwIfAborted(options.signal);
  const { config, externalInterface: ext } = options;
  const b = config.backend;
  const ip4 = config.enableIPv4 ? publicOf(options, 4) : null;
  const ip6 = config.enableIPv6 ? publicOf(options, 6) : null;
  const base = { publicIP: ip4 ?? "0.0.0.0", publicIPv6: ip6 };
  if (b.type === "host-gw") {
    if ((ip4 !== null && ext.address !== ip4) || (ip6 !== null && ext.address6 !== ip6)) {
      throw invalid(
        HOST_GW_NAT_MESSAGE,
        ip4 !== null && ext.address !== ip4 ? "publicIP" : "publicIPv6",
      );
    }
    const attrs = { ...base, backendType: "host-gw", backendData: null, backendV6Data: null };
    return { attrs, device: null, device6: null };
  }
  if (b.type !== "vxlan") {
    throw new FlannelError(
      "BACKEND_UNSUPPORTED",
      `backend type ${b.type} is not supported here (vxlan, host-gw)`,
      { field: "Backend.Type" },
    );
  }
  const mtu = backendMtu(b, ext.mtu, { interfaceName: ext.name });
  for (const [ip, headroom] of [
    [ip4, 50],
    [ip6, 70],
  ] as const) {
    if (ip !== null && Math.min(mtu, ext.mtu - headroom) < MIN_MTU) {
      throw invalid(
        `MTU ${ext.mtu} of iface ${ext.name} is too small for vxlan mode to work`,
        "externalInterface.mtu",
      );
    }
  }
  const call = options.signal ? { signal: options.signal } : {};
  const ensure = (name: string, local: string, headroom: number) =>
    handle.ensureVxlan(
      {
        name,
        vni: b.vni,
        port: b.port,
        local,
        lowerDevice: ext.name,
        learning: b.learning,
        gbp: b.gbp,
        mtu: Math.min(mtu, ext.mtu - headroom),
      },
      call,
    );
  const device = ip4 === null ? null : await ensure(`flannel.${b.vni}`, ip4, 50);
  let device6: EnsureResult<VxlanLink> | null = null;
  try {
    device6 = ip6 === null ? null : await ensure(`flannel-v6.${b.vni}`, ip6, 70);
  } catch (e) {
    if (device?.action === "created") await handle.linkDel(device.link.name).catch(() => {});
    throw e;
  }
  const data = (d: EnsureResult<VxlanLink> | null) =>
    d === null ? null : { VNI: b.vni, VtepMAC: d.link.mac };
  return {
    attrs: {
      ...base,
      backendType: "vxlan",
      backendData: data(device),
      backendV6Data: data(device6),
    },
    device,
    device6,
  };
}
