/**
 * The `bridge` check: docker0 (or cni0) holds an address in FLANNEL_SUBNET, with its prefix, and
 * on a dual-stack node an IPv6 address it has is in FLANNEL_IPV6_SUBNET, with its prefix.
 */
import { firstHost, type IP4Net, IP6Net, type IPNet, type KernelState } from "@flannel-sdk/core";
import type { Report } from "../report.js";
import type { NodeState } from "../types.js";

const LINK_LOCAL = IP6Net.parse("fe80::/10");

/**
 * Checks the container bridge; returns its name (`null` when none is found). `own6` (a
 * dual-stack node's IPv6 subnet) is judged only when the bridge has a global IPv6 address:
 * docker started without `--ipv6` (mk-docker-opts never passes it) gives containers IPv4 only.
 */
export function checkBridge(
  state: NodeState,
  r: Report,
  kernel: KernelState,
  own: IP4Net,
  own6: IPNet | null = null,
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
  const details: string[] = [];
  const v4 = checkFamily(state, r, kernel, name, own, 4);
  if (v4 === null) return name;
  details.push(v4);
  const global6 = kernel.addrs.some(
    (a) => a.family === 6 && a.dev === name && !LINK_LOCAL.contains(a.ip),
  );
  if (own6 !== null && global6) {
    const v6 = checkFamily(state, r, kernel, name, own6, 6);
    if (v6 === null) return name;
    details.push(v6);
  }
  r.ok("bridge", `${name}: ${details.join("; ")}`);
  return name;
}

/** One family's address of the bridge; the ok detail, or `null` after an error finding. */
function checkFamily(
  state: NodeState,
  r: Report,
  kernel: KernelState,
  name: string,
  own: IPNet,
  family: 4 | 6,
): string | null {
  const want = firstHost(own).toString();
  const variable = family === 4 ? "FLANNEL_SUBNET" : "FLANNEL_IPV6_SUBNET";
  const ip = family === 4 ? "ip" : "ip -6";
  const addrs = kernel.addrs.filter(
    (a) => a.family === family && a.dev === name && !(family === 6 && LINK_LOCAL.contains(a.ip)),
  );
  const inside = addrs.filter((a) => own.contains(a.ip));
  if (inside.length === 0) {
    r.add("BRIDGE_OUTSIDE_SUBNET", {
      subject: family === 4 ? name : `${name} IPv6`,
      message:
        family === 4
          ? `${name} is not in this node's flannel subnet: containers get addresses the other nodes do not route here (the guide's docker0 with 172.17.0.1/16)`
          : `${name}'s IPv6 address is not in this node's flannel IPv6 subnet: containers get IPv6 addresses the other nodes do not route here`,
      expected: `${want} (${variable})`,
      found:
        addrs.length === 0
          ? `no IPv${family} address`
          : addrs.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix:
        family === 4
          ? `source ${state.subnetEnv.path} && ifconfig ${name} $FLANNEL_SUBNET (or ip addr replace ${want} dev ${name}), then restart docker so --bip agrees`
          : `ip -6 addr replace ${want} dev ${name} (and delete the other one), then restart docker with --ipv6 --fixed-cidr-v6=${own} so it agrees`,
    });
    return null;
  }
  if (!inside.some((a) => a.prefixLen === own.prefixLen)) {
    r.add("BRIDGE_PREFIX_MISMATCH", {
      subject: family === 4 ? name : `${name} IPv6`,
      message: `${name}'s ${family === 4 ? "" : "IPv6 "}prefix differs from the lease's: containers think addresses outside the subnet are local, or the reverse`,
      expected: `${want}`,
      found: inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix: `${ip} addr replace ${want} dev ${name}`,
    });
  }
  return `${inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", ")} in ${own}`;
}
