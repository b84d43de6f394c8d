/** The `bridge` check: docker0 (or cni0) holds an address in FLANNEL_SUBNET, with its prefix. */
import { firstHost, type IP4Net, type KernelState } from "@flannel-sdk/core";
import type { Report } from "../report.js";
import type { NodeState } from "../types.js";

/** Checks the container bridge; returns its name (`null` when none is found). */
export function checkBridge(
  state: NodeState,
  r: Report,
  kernel: KernelState,
  own: IP4Net,
): string | null {
  const want = firstHost(own).toString();
  const name =
    state.bridge ??
    (kernel.links.find((l) => l.name === "docker0") ?? kernel.links.find((l) => l.name === "cni0"))
      ?.name ??
    null;
  const link = name === null ? undefined : kernel.links.find((l) => l.name === name);
  if (name === null || link === undefined) {
    r.add("BRIDGE_MISSING", {
      subject: name ?? "docker0 / cni0",
      message: "no container bridge yet: containers on this node have no network",
      expected: `a bridge with ${want} (FLANNEL_SUBNET)`,
      found: "no such device",
      fix: "start docker with $DOCKER_NETWORK_OPTIONS from /run/flannel/docker (--bip=FLANNEL_SUBNET)",
    });
    return name;
  }
  const addrs = kernel.addrs.filter((a) => a.family === 4 && a.dev === name);
  const inside = addrs.filter((a) => own.contains(a.ip));
  if (inside.length === 0) {
    r.add("BRIDGE_OUTSIDE_SUBNET", {
      subject: name,
      message: `${name} is not in this node's flannel subnet: containers get addresses the other nodes do not route here (the guide's docker0 with 172.17.0.1/16)`,
      expected: `${want} (FLANNEL_SUBNET)`,
      found:
        addrs.length === 0
          ? "no IPv4 address"
          : addrs.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix: `source ${state.subnetEnv.path} && ifconfig ${name} $FLANNEL_SUBNET (or ip addr replace ${want} dev ${name}), then restart docker so --bip agrees`,
    });
    return name;
  }
  if (!inside.some((a) => a.prefixLen === own.prefixLen)) {
    r.add("BRIDGE_PREFIX_MISMATCH", {
      subject: name,
      message: `${name}'s prefix differs from the lease's: containers think addresses outside the subnet are local, or the reverse`,
      expected: `${want}`,
      found: inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix: `ip addr replace ${want} dev ${name}`,
    });
  }
  r.ok("bridge", `${name}: ${inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", ")} in ${own}`);
  return name;
}
