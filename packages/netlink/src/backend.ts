/**
 * flanneld's backend registration (`RegisterNetwork`): what must exist in the kernel before a
 * lease is asked for, and the lease attributes the node then publishes.
 */
import {
  backendMtu,
  FlannelError,
  HOST_GW_NAT_MESSAGE,
  type LeaseAttrs,
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
  /** The external interface (`selectInterface`): its name, MTU, address and public IP. */
  readonly externalInterface: Pick<ExternalInterface, "name" | "mtu" | "address" | "publicIP">;
}

/** What {@link registerBackend} set up. */
export interface RegisteredBackend {
  /** The attributes to acquire the lease with (`store.acquireLease(attrs)`). */
  readonly attrs: LeaseAttrs;
  /** The vxlan device and whether it was created, reused or recreated; `null` for host-gw. */
  readonly device: EnsureResult<VxlanLink> | null;
}

/**
 * Registers this node's backend as flanneld does before it acquires a lease (IPv4):
 * - vxlan: ensures `flannel.<VNI>` (VNI, port, learning and GBP from the config; local = the
 *   public IP; lower device = the external interface; MTU = underlay − 50 at creation) with
 *   `ensureVxlan`'s compatibility rule — an existing compatible device is reused, so its MAC
 *   survives a restart — and returns attrs `{BackendType "vxlan", BackendData {VNI, VtepMAC}}`
 *   with the device's MAC;
 * - host-gw: refuses a public IP that is not the interface's address (flanneld's NAT message)
 *   and returns attrs `{BackendType "host-gw"}`.
 * The address, neighbours, FDB and routes come later, from the plan (`planVxlan` /
 * `planHostGw` + `applyPlan`), once the lease is known.
 *
 * @throws FlannelError `BACKEND_UNSUPPORTED` (another backend type, or IPv6 enabled), `PLAN_INVALID` (host-gw behind NAT; MTU too small), `NETLINK_ERROR`, `ABORTED`
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
  const base = { publicIP: ext.publicIP, publicIPv6: null, backendV6Data: null };
  if (config.enableIPv6) {
    throw new FlannelError("BACKEND_UNSUPPORTED", "registerBackend registers IPv4 only", {
      field: "EnableIPv6",
    });
  }
  if (b.type === "host-gw") {
    if (ext.address !== ext.publicIP) {
      throw new FlannelError("PLAN_INVALID", HOST_GW_NAT_MESSAGE, { field: "publicIP" });
    }
    return { attrs: { ...base, backendType: "host-gw", backendData: null }, device: null };
  }
  if (b.type !== "vxlan") {
    throw new FlannelError(
      "BACKEND_UNSUPPORTED",
      `backend type ${b.type} is not supported here (vxlan, host-gw)`,
      { field: "Backend.Type" },
    );
  }
  const device = await handle.ensureVxlan(
    {
      name: `flannel.${b.vni}`,
      vni: b.vni,
      port: b.port,
      local: ext.publicIP,
      lowerDevice: ext.name,
      learning: b.learning,
      gbp: b.gbp,
      mtu: Math.min(backendMtu(b, ext.mtu, { interfaceName: ext.name }), ext.mtu - 50),
    },
    options.signal ? { signal: options.signal } : {},
  );
  return {
    attrs: { ...base, backendType: "vxlan", backendData: { VNI: b.vni, VtepMAC: device.link.mac } },
    device,
  };
}
