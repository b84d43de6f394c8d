import { printable } from "../errors.js";
import { ipFamily } from "../ip/parse.js";
import {
  canonicalHostIP,
  checkExternalInterface,
  type PlanInput,
  type PlanResult,
  planInvalid,
  resolveLocal,
  selectRemotes,
} from "./input.js";
import { backendMtu } from "./mtu.js";
import type { RoutePlan } from "./types.js";

/** Input of {@link planHostGw}. */
export type HostGwPlanInput = PlanInput;

/**
 * flanneld's refusal when the public IP is not the interface's own address (flannel's `pkg/backend/hostgw/hostgw.go`):
 * the message of the `PLAN_INVALID` {@link planHostGw} throws then.
 *
 * @example
 * ```ts
 * if (isFlannelError(e, "PLAN_INVALID") && e.message === HOST_GW_NAT_MESSAGE) useVxlanInstead();
 * ```
 */
export const HOST_GW_NAT_MESSAGE =
  "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend";

/**
 * Plans the host-gw backend for one address family, as flannel's `pkg/backend/hostgw/hostgw.go` and `pkg/backend/route_network.go` do it: per remote lease of
 * `BackendType` `host-gw`, in subnet order, the route `S/len via P dev <ext>`; no device, no
 * address; `mtu` = the external interface's MTU. Ownership: the network on the external
 * interface. Remote leases that cannot be programmed are listed in `skipped`, as in
 * {@link planVxlan}.
 *
 * @throws FlannelError `PLAN_INVALID` with flanneld's message ({@link HOST_GW_NAT_MESSAGE}) when
 * `externalInterface.address` is given, is of the plan's family and differs from the public IP;
 * also for the local input errors {@link planVxlan} lists.
 * @example
 * ```ts
 * const plan = planHostGw({
 *   config: parseNetworkConfig('{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}'),
 *   ownLease,
 *   leases,
 *   externalInterface: { name: "eth0", mtu: 1500, address: "192.0.2.10" },
 * });
 * planToCommands(plan); // ["ip route replace 172.30.9.0/24 via 192.0.2.11 dev eth0", …]
 * ```
 */
export function planHostGw(input: HostGwPlanInput): PlanResult {
  const local = resolveLocal(input, "host-gw");
  checkExternalInterface(input);
  const { family, network, publicIP } = local;
  const ext = input.externalInterface;
  const address = ext.address ?? null;
  const addressFamily = address === null ? null : ipFamily(printable(address));
  if (address !== null && (addressFamily === null || address.includes("/"))) {
    throw planInvalid(
      `invalid interface address: ${printable(address)}`,
      "externalInterface.address",
    );
  }
  if (address !== null && addressFamily === family) {
    const ifaceIP = canonicalHostIP(address, family);
    if (ifaceIP !== publicIP) throw planInvalid(HOST_GW_NAT_MESSAGE, "publicIP");
  }
  const { remotes, skipped } = selectRemotes(input, local, {
    backendType: "host-gw",
    mismatchMessage: (lease) =>
      `Ignoring non-host-gw subnet: type=${printable(lease?.attrs?.backendType)}`,
    decode: () => ({ ok: true, value: null }),
  });
  const routes: RoutePlan[] = remotes.map((r) => ({
    dst: r.dst,
    gateway: r.publicIP,
    dev: ext.name,
    onlink: false,
  }));
  return {
    backend: "host-gw",
    family,
    link: null,
    addresses: [],
    neighbors: [],
    fdb: [],
    routes,
    owned: { network: network.toString(), devices: [ext.name] },
    mtu: backendMtu("host-gw", ext.mtu, { interfaceName: ext.name }),
    skipped,
  };
}
