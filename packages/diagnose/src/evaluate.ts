/**
 * The node check behind `diagnose`: compares what a node should have (from the store, through
 * core's planners) with what it has (subnet.env, the kernel, iptables), and says what differs,
 * what it breaks and how to fix it. Pure: the state is gathered elsewhere (`gatherNodeState`).
 */
import { checkBridge } from "./checks/bridge.js";
import { checkConfig } from "./checks/config.js";
import { checkDevice } from "./checks/device.js";
import { checkIptables } from "./checks/ip-masq.js";
import { checkLease } from "./checks/lease.js";
import { identifyNode, listLeases } from "./checks/node.js";
import { checkPeers } from "./checks/peers.js";
import { externalInterface, planFamily } from "./checks/plan.js";
import { checkSubnetEnvValues, readSubnetEnv } from "./checks/subnet-env.js";
import { CHECKS, net4, netOf, Report } from "./report.js";
import type { Diagnosis, NodeState } from "./types.js";

/**
 * Checks one flannel node end to end, the install guide's 验证 (verify) and debug sections done
 * automatically:
 * - `config`: the network config exists in the store and parses (when it is missing and the
 *   other etcd API has one, the v2/v3 trap is named); the backend is vxlan or host-gw;
 * - `lease`: this node (by `-public-ip`, else the vxlan device's local address, else
 *   subnet.env's subnet) holds a lease that fits the config, of the config's backend, not
 *   within the renew margin of expiring; remote leases that cannot be programmed are named;
 * - `subnet-env`: the file exists and matches the config and the lease (network, subnet, MTU);
 * - `device`: `flannel.<VNI>` exists, is a compatible vxlan device, is up, holds the lease's
 *   network address as /32 (and no other address in the network), has the MAC the lease
 *   publishes as VtepMAC and the MTU flanneld gives it;
 * - `bridge`: docker0 (or cni0) holds an address in FLANNEL_SUBNET, with its prefix, and on a
 *   dual-stack node an IPv6 address it has (not link-local) is FLANNEL_IPV6_SUBNET's, likewise;
 * - `peers`: each remote lease has its neighbour, FDB entry and route (host-gw: route), as
 *   `planVxlan` / `planHostGw` plan them, and no entry of a lease that is gone remains;
 * - dual stack: the IPv6 side's `device` (`flannel-v6.<VNI>`, /128, `BackendV6Data`'s VtepMAC)
 *   and `peers` likewise, and subnet.env's `FLANNEL_IPV6_*` lines when the state has them;
 * - IPv6-only (`EnableIPv4` false): the node is identified by its PublicIPv6 (`-public-ipv6`,
 *   else `-public-ip` when IPv6, else `flannel-v6.<VNI>`'s local address, else
 *   `FLANNEL_IPV6_SUBNET`) and checked like
 *   the IPv6 side of a dual-stack node (`lease`, `subnet-env`, `device`, `peers`, `ip-masq` on
 *   ip6tables); the bridge is not checked;
 * - `ip-masq`: the flavor of flannel's rules the node has is found (`ipMasqFlavors`: v0.11's
 *   plain rules, v0.20's chains, …; none there: the agent's `masqFlavor`) and named; with
 *   `FLANNEL_IPMASQ=true` its masquerade rules are present, and none for another subnet or of
 *   another flavor remains; its forward rules are present, and no stale one. A network with
 *   IPv6 gets the same check of `ip6tables-save` (`ip6tables`), its own flavor found in the IPv6
 *   network and lease; its findings name ip6tables.
 *
 * Every finding has a code, a severity, what was expected, what was found and a fix.
 * Pure: pass the state `@flannel-sdk/diagnose`'s `gatherNodeState` reads, or build it.
 *
 * @example
 * ```ts
 * const d = diagnoseNodeState(state);
 * if (!d.ok) console.log(formatDiagnosis(d));
 * ```
 */
export function diagnoseNodeState(state: NodeState): Diagnosis {
  const r = new Report();
  const node: {
    publicIP: string | null;
    subnet: string | null;
    backend: string | null;
    device: string | null;
    bridge: string | null;
  } = { publicIP: null, subnet: null, backend: null, device: null, bridge: null };
  const done = (): Diagnosis => {
    // in check order; within a check, in the order found
    const findings = CHECKS.flatMap((c) => r.findings.filter((f) => f.check === c));
    const errors = findings.filter((f) => f.severity === "error").length;
    return {
      ok: errors === 0,
      node,
      checks: r.results(),
      findings,
      errors,
      warnings: findings.length - errors,
    };
  };

  // ---- config ------------------------------------------------------------------------------
  const config = checkConfig(state, r);
  if (config === null) {
    for (const c of CHECKS) r.skip(c, "needs the network config");
    return done();
  }
  node.backend = config.backend.type;
  const kernel = state.kernel !== null && "value" in state.kernel ? state.kernel.value : null;
  if (state.kernel !== null && "error" in state.kernel) {
    r.add("KERNEL_UNREADABLE", {
      subject: "netlink",
      message:
        "the kernel state could not be read, so the device, bridge and peer checks did not run",
      expected: "a readable netlink dump",
      found: `${state.kernel.error.code}: ${state.kernel.error.message}`,
      fix: "run diagnose as root in the node's network namespace",
    });
  }

  // ---- subnet.env (read first: it can identify the node) -----------------------------------
  const env = readSubnetEnv(state, r);
  // an IPv6-only network (EnableIPv4 false) is checked on its IPv6 side only: the node is
  // identified by its PublicIPv6, flannel-v6.<VNI> and FLANNEL_IPV6_SUBNET instead
  const v6only = !config.enableIPv4;
  const fam: 4 | 6 = v6only ? 6 : 4;
  const envSubnet = netOf(v6only ? env?.ipv6Subnet : env?.subnet, fam);

  // ---- lease ---------------------------------------------------------------------------------
  const leases = listLeases(state, r);
  if (leases === null) {
    for (const c of CHECKS) r.skip(c, "needs the leases");
    return done();
  }
  const device =
    config.backend.type === "vxlan"
      ? `${v6only ? "flannel-v6" : "flannel"}.${config.backend.vni}`
      : null;
  const vxlanLink =
    kernel !== null && device !== null
      ? (kernel.links.find((l) => l.name === device) ?? null)
      : null;
  const found = identifyNode(state, r, leases, vxlanLink, envSubnet, v6only);
  node.publicIP = found.publicIP;
  if (found.own === null) {
    for (const c of CHECKS) r.skip(c, "needs this node's lease");
    return done();
  }
  const { own, publicIP } = found;
  node.subnet = v6only ? own.ipv6Subnet : own.subnet;
  const ownNet = net4(own.subnet)!;
  checkLease(state, r, config, own, v6only);

  // ---- the expected data plane ---------------------------------------------------------------
  const ext = externalInterface(state, kernel, vxlanLink, publicIP, fam, env, config, r);
  const plannable = config.backend.type === "vxlan" || config.backend.type === "host-gw";
  const plan =
    plannable && !v6only ? planFamily(r, kernel, config, own, leases, ext, 4, publicIP) : null;

  // the IPv6 side: of a dual-stack node once its IPv4 side plans, of an IPv6-only node always
  const plan6 =
    plannable && config.enableIPv6 && (v6only || plan !== null)
      ? planFamily(r, kernel, config, own, leases, ext, 6)
      : null;
  const main = v6only ? plan6 : plan;

  checkSubnetEnvValues(state, r, config, own, env, main);

  if (kernel === null) {
    for (const c of ["device", "bridge", "peers"] as const) {
      r.skip(c, "the kernel state was not read");
    }
  } else {
    // each family's plan: the IPv4 one, then a dual-stack node's IPv6 one (an IPv6-only node's only one)
    const plans = (v6only ? [plan6] : [plan, plan6]).filter((p) => p !== null);
    node.device = main?.link?.name ?? null;
    if (main === null) r.skip("device", "no plan");
    else if (main.link === null) r.ok("device", "host-gw has no device");
    for (const p of plans) {
      if (p.link === null) continue;
      const link = kernel.links.find((l) => l.name === p.link!.name) ?? null;
      checkDevice(r, kernel, p, own, link, ext);
    }
    if (v6only) r.skip("bridge", "an IPv6-only network: the bridge's IPv6 address is not checked");
    else node.bridge = checkBridge(state, r, kernel, ownNet, netOf(own.ipv6Subnet, 6));
    if (main === null) r.skip("peers", "no plan");
    for (const p of plans) checkPeers(r, kernel, p, leases);
  }

  if (!v6only) {
    checkIptables(
      state,
      r,
      {
        family: 4,
        saved: state.iptables,
        network: net4(config.network)?.network().toString() ?? null,
        subnet: ownNet.toString(),
      },
      env,
    );
  }
  if (config.enableIPv6) {
    checkIptables(
      state,
      r,
      {
        family: 6,
        saved: state.ip6tables ?? null,
        network: netOf(config.ipv6Network, 6)?.network().toString() ?? null,
        subnet: netOf(own.ipv6Subnet, 6)?.network().toString() ?? null,
      },
      env,
    );
  }
  return done();
}
