import type { VxlanBackendConfig } from "../config/types.js";
import { printable } from "../errors.js";
import type { IP4Net } from "../ip/ip4net.js";
import type { IP6Net } from "../ip/ip6net.js";
import { type IPFamily, type IPNet, parseCidr } from "../ip/parse.js";
import { vtepMacField } from "../lease/backend-data.js";
import type { JsonValue, Lease } from "../lease/types.js";
import { canonicalMAC, isUnicastMAC } from "../mac.js";
import {
  checkExternalInterface,
  type Decoded,
  hostCidr,
  type PlanInput,
  type PlanResult,
  planInvalid,
  resolveLocal,
  selectRemotes,
} from "./input.js";
import { backendMtu, MIN_MTU } from "./mtu.js";
import type { FdbPlan, NeighborPlan, RoutePlan, VxlanLinkPlan } from "./types.js";

/** Input of {@link planVxlan}. */
export interface VxlanPlanInput extends PlanInput {
  /**
   * This node's VtepMAC for the family (the MAC of `flannel.N` / `flannel-v6.N`); defaults to
   * `VtepMAC` in the own lease's `backendData` / `backendV6Data`; `null` lets the kernel choose.
   */
  readonly vtepMAC?: string | null;
  /**
   * DirectRouting: true when a remote public IP is on this node's L2 segment (flanneld asks
   * `ip route get P` for exactly one route without a gateway). Takes precedence over
   * `underlaySubnets`.
   */
  readonly isDirectlyReachable?: (publicIP: string) => boolean;
  /**
   * DirectRouting without a predicate: the on-link (connected) subnets of this node's
   * underlay; a remote public IP inside one of them is directly reachable. With neither this
   * nor `isDirectlyReachable`, no remote counts as directly reachable.
   */
  readonly underlaySubnets?: readonly string[];
}

/** Bytes the kernel reserves on a vxlan device over its lower device: 50 over IPv4, 70 over IPv6. */
const VXLAN_HEADROOM: Readonly<Record<IPFamily, number>> = { 4: 50, 6: 70 };

function backendDataOf(lease: Lease, family: IPFamily): JsonValue | null | undefined {
  return family === 4 ? lease.attrs?.backendData : lease.attrs?.backendV6Data;
}

function decodeVtepMAC(lease: Lease, family: IPFamily): Decoded<string> {
  const data = backendDataOf(lease, family);
  const field = family === 4 ? "BackendData" : "BackendV6Data";
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return {
      ok: false,
      reason: "bad-backend-data",
      message: `error decoding subnet lease JSON: ${field} is not an object`,
    };
  }
  const raw = vtepMacField(data);
  if (typeof raw !== "string") {
    return {
      ok: false,
      reason: "bad-backend-data",
      message: `error decoding subnet lease JSON: ${field} has no VtepMAC`,
    };
  }
  let mac: string;
  try {
    mac = canonicalMAC(raw);
  } catch {
    return {
      ok: false,
      reason: "bad-backend-data",
      message: `error decoding subnet lease JSON: address ${raw}: invalid MAC address`,
    };
  }
  if (!isUnicastMAC(mac)) {
    return {
      ok: false,
      reason: "bad-backend-data",
      message: `VtepMAC ${mac} is not a unicast MAC`,
    };
  }
  return { ok: true, value: mac };
}

function directPredicate(input: VxlanPlanInput, family: IPFamily): (ip: string) => boolean {
  if (input.isDirectlyReachable !== undefined) return input.isDirectlyReachable;
  const v4: IP4Net[] = [];
  const v6: IP6Net[] = [];
  for (const text of input.underlaySubnets ?? []) {
    let net: IPNet;
    try {
      net = parseCidr(text);
    } catch {
      throw planInvalid(`invalid underlay subnet: ${printable(text)}`, "underlaySubnets");
    }
    if (net.family === 4) v4.push(net);
    else v6.push(net);
  }
  return family === 4
    ? (ip) => v4.some((net) => net.contains(ip))
    : (ip) => v6.some((net) => net.contains(ip));
}

/**
 * Plans the vxlan backend for one address family, as flannel's `pkg/backend/vxlan` does it: the device `flannel.<VNI>`
 * (`flannel-v6.<VNI>` for IPv6) with local = this node's public IP, lower device = the
 * external interface, port / learning / GBP from the config and the node's VtepMAC; the
 * address `<own subnet address>/32` (`/128`), exclusive within the network; and per remote
 * lease of `BackendType` `vxlan`, in subnet order, a permanent neighbour (subnet address →
 * remote VtepMAC), an FDB entry (VtepMAC → remote public IP, self, permanent) and the onlink
 * route `S/len via S dev flannel.N`. With `DirectRouting` and a directly reachable remote,
 * the route `S/len via P` (no device; the kernel resolves it) replaces all three.
 *
 * The own lease, and any lease of the own subnet, never produces remote state. Remote leases
 * that cannot be programmed are left out and listed in `skipped` (never thrown). Of several
 * valid leases of one subnet, a reservation wins, then the latest expiration, then the highest
 * revision, then a content order: the plan never depends on the order of `leases`.
 *
 * MTU: `mtu` (FLANNEL_MTU) = (config `MTU` ?? interface MTU) − 50, as flanneld reports it;
 * `link.mtu` is that value capped at what the kernel keeps on the lower device (its MTU − 50,
 * or − 70 for the IPv6 device), so re-applying the plan changes nothing. Ownership: the
 * network and the vxlan device, plus the external interface when DirectRouting is on (so
 * stale direct routes can be removed).
 *
 * @throws FlannelError `PLAN_INVALID` for unusable local input: backend not vxlan, family not
 * enabled, own lease without a subnet of the family, bad public IP, bad own VtepMAC, external
 * interface without a name or MTU, MTU below 68, unparsable `underlaySubnets`.
 * @example
 * ```ts
 * const plan = planVxlan({
 *   config: parseNetworkConfig('{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}'),
 *   ownLease,
 *   leases: (await store.listLeases()).leases,
 *   externalInterface: { name: "eth0", mtu: 1500 },
 * });
 * planToCommands(plan); // ["ip link add flannel.1 type vxlan id 1 local … dev eth0 nolearning", …]
 * ```
 */
export function planVxlan(input: VxlanPlanInput): PlanResult {
  const local = resolveLocal(input, "vxlan");
  checkExternalInterface(input);
  const { family, network, ownSubnet, publicIP } = local;
  const backend = input.config.backend as VxlanBackendConfig;
  const ext = input.externalInterface;
  const name = family === 4 ? `flannel.${backend.vni}` : `flannel-v6.${backend.vni}`;

  let vtepMAC: string | null = null;
  const macText =
    input.vtepMAC !== undefined
      ? input.vtepMAC
      : (vtepMacField(backendDataOf(input.ownLease, family)) ?? null);
  if (macText !== null) {
    if (typeof macText !== "string") throw planInvalid("invalid VtepMAC", "vtepMAC");
    try {
      vtepMAC = canonicalMAC(macText);
    } catch {
      throw planInvalid(`address ${macText}: invalid MAC address`, "vtepMAC");
    }
    if (!isUnicastMAC(vtepMAC)) {
      throw planInvalid(`VtepMAC ${vtepMAC} is not a unicast MAC`, "vtepMAC");
    }
  }

  const mtu = backendMtu(backend, ext.mtu, { interfaceName: ext.name });
  const linkMtu = Math.min(mtu, ext.mtu - VXLAN_HEADROOM[family]);
  if (linkMtu < MIN_MTU) {
    throw planInvalid(
      `MTU ${ext.mtu} of iface ${ext.name} is too small for vxlan mode to work`,
      "externalInterface.mtu",
    );
  }
  const link: VxlanLinkPlan = {
    kind: "vxlan",
    name,
    vni: backend.vni,
    port: backend.port,
    local: publicIP,
    lowerDevice: ext.name,
    learning: backend.learning,
    gbp: backend.gbp,
    mtu: linkMtu,
    mac: vtepMAC,
  };

  const { remotes, skipped } = selectRemotes(input, local, {
    backendType: "vxlan",
    mismatchMessage: (lease) =>
      `ignoring non-vxlan v4Subnet(${printable(lease?.subnet)}) v6Subnet(${printable(lease?.ipv6Subnet ?? "::/0")}): type=${printable(lease?.attrs?.backendType)}`,
    decode: decodeVtepMAC,
  });

  const direct = backend.directRouting ? directPredicate(input, family) : () => false;
  const neighbors: NeighborPlan[] = [];
  const fdb: FdbPlan[] = [];
  const routes: RoutePlan[] = [];
  for (const remote of remotes) {
    if (direct(remote.publicIP)) {
      routes.push({ dst: remote.dst, gateway: remote.publicIP, dev: null, onlink: false });
      continue;
    }
    neighbors.push({ dev: name, ip: remote.subnetIP, lladdr: remote.data, state: "permanent" });
    fdb.push({ dev: name, lladdr: remote.data, dst: remote.publicIP, self: true, permanent: true });
    routes.push({ dst: remote.dst, gateway: remote.subnetIP, dev: name, onlink: true });
  }

  return {
    backend: "vxlan",
    family,
    link,
    addresses: [{ dev: name, address: hostCidr(ownSubnet), exclusiveWithin: network.toString() }],
    neighbors,
    fdb,
    routes,
    owned: {
      network: network.toString(),
      devices: backend.directRouting ? [name, ext.name] : [name],
    },
    mtu,
    skipped,
  };
}
