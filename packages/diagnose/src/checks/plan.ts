/**
 * What the node should have: its external interface (given, the vxlan device's lower device, or
 * the one holding the public IP) and each family's plan, made by core's planners as flanneld
 * would; leases that cannot be planned are named.
 */
import {
  isFlannelError,
  type KernelState,
  type Lease,
  type NetworkConfig,
  type ObservedLink,
  type PlanResult,
  planHostGw,
  planVxlan,
} from "@flannel-sdk/core";
import { RESTART, type Report } from "../report.js";
import type { NodeState, SubnetEnvValues } from "../types.js";

/** The external interface (name, MTU): given, else found in the kernel, else guessed (reported). */
export function externalInterface(
  state: NodeState,
  kernel: KernelState | null,
  vxlanLink: ObservedLink | null,
  publicIP: string,
  family: 4 | 6,
  env: SubnetEnvValues | null,
  config: NetworkConfig,
  r: Report,
): { name: string; mtu: number } {
  if (state.externalInterface) return state.externalInterface;
  if (kernel !== null) {
    const lower = vxlanLink?.vxlan?.lowerIndex;
    const byLower = lower ? kernel.links.find((l) => l.index === lower) : undefined;
    if (byLower) return { name: byLower.name, mtu: byLower.mtu };
    const addr = kernel.addrs.find((a) => a.family === family && a.ip === publicIP);
    const byAddr = addr ? kernel.links.find((l) => l.name === addr.dev) : undefined;
    if (byAddr) return { name: byAddr.name, mtu: byAddr.mtu };
    r.add("EXTERNAL_INTERFACE_UNKNOWN", {
      subject: publicIP,
      message:
        "no interface holds the public IP (a NAT address needs -iface too); expected MTUs are guessed",
      expected: `an interface with ${publicIP}, or the vxlan device's lower device`,
      found: "none",
      fix: "pass -iface (and -public-ip) to flanneld",
    });
  }
  const overhead = config.backend.type === "vxlan" ? 50 : 0;
  return { name: "eth0", mtu: env?.mtu != null ? env.mtu + overhead : 1500 };
}

/** DirectRouting's on-link subnets: the external interface's addresses, both families. */
function underlayOf(kernel: KernelState | null, iface: string): string[] {
  return (kernel?.addrs ?? []).filter((a) => a.dev === iface).map((a) => `${a.ip}/${a.prefixLen}`);
}

/**
 * Plans one family as flanneld would (the IPv6 side's device and peers are checked like the IPv4
 * ones); `null` (reported) when the node's own lease cannot be planned. `publicIP` is the IPv4
 * side's (`-public-ip`); the IPv6 side takes the lease's PublicIPv6.
 */
export function planFamily(
  r: Report,
  kernel: KernelState | null,
  config: NetworkConfig,
  own: Lease,
  leases: readonly Lease[],
  ext: { name: string; mtu: number },
  family: 4 | 6,
  publicIP?: string,
): PlanResult | null {
  const v6 = family === 6;
  let plan: PlanResult;
  try {
    const input = {
      config,
      family,
      ownLease: own,
      leases,
      externalInterface: { name: ext.name, mtu: ext.mtu },
      ...(publicIP === undefined ? {} : { publicIP }),
      underlaySubnets: underlayOf(kernel, ext.name),
    };
    plan = config.backend.type === "vxlan" ? planVxlan(input) : planHostGw(input);
  } catch (e) {
    const found = isFlannelError(e) ? e.message : String(e);
    r.add(
      "PLAN_INVALID",
      v6
        ? {
            subject: `lease ${own.subnet} (IPv6 ${own.ipv6Subnet ?? "none"})`,
            message: "the node's own lease cannot be planned for IPv6",
            expected: "an IPv6 subnet, PublicIPv6 and BackendV6Data in the lease",
            found,
            fix: `${RESTART} (it registers both families)`,
          }
        : {
            subject: `lease ${own.subnet}`,
            message: "the node's own lease or interface cannot be planned",
            expected: "a plannable lease and external interface",
            found,
            fix: "check the lease's BackendData (VtepMAC) and the external interface",
          },
    );
    return null;
  }
  for (const s of plan.skipped) {
    r.add("REMOTE_LEASE_IGNORED", {
      subject: v6
        ? `lease ${s.lease.ipv6Subnet ?? s.lease.subnet} (${s.lease.attrs.publicIPv6 ?? "no PublicIPv6"})`
        : `lease ${s.lease.subnet} (${s.lease.attrs.publicIP})`,
      message: v6
        ? "a remote lease gets no IPv6 route: its node's IPv6 side is unreachable from here"
        : "a remote lease gets no route: its node is unreachable from here",
      expected: `a lease this node can program (${config.backend.type}${v6 ? ", IPv6" : ""})`,
      found: `${s.reason}: ${s.message}`,
      fix: "fix or delete that lease; its node's flanneld rewrites it when it restarts",
    });
  }
  return plan;
}
