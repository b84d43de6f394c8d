/**
 * The `subnet-env` check: the file exists and matches the config and the lease (network, subnet,
 * MTU; the IPv6 lines when the state has them).
 */
import { type DataPlanePlan, firstHost, type Lease, type NetworkConfig } from "@flannel-sdk/core";
import { netOf, RESTART, type Report } from "../report.js";
import type { NodeState, SubnetEnvValues } from "../types.js";

/** subnet.env's values, or `null` (reported) when it is missing or unreadable. */
export function readSubnetEnv(state: NodeState, r: Report): SubnetEnvValues | null {
  const { path, content } = state.subnetEnv;
  if ("error" in content) {
    r.add("SUBNET_ENV_INVALID", {
      subject: path,
      message: "subnet.env cannot be read; docker and the CNI plugin read their subnet from it",
      expected: "FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ lines",
      found: `${content.error.code}: ${content.error.message}`,
      fix: `${RESTART} (it rewrites ${path})`,
    });
    return null;
  }
  if (content.value === null) {
    r.add("SUBNET_ENV_MISSING", {
      subject: path,
      message:
        "flanneld writes subnet.env once it holds a lease; without it mk-docker-opts, docker and the CNI plugin fail ('no such file or directory')",
      expected: `${path}, written by flanneld`,
      found: "no such file",
      fix: `${RESTART}, and check that its -subnet-file (default /run/flannel/subnet.env) is the path the other tools read`,
    });
    return null;
  }
  return content.value;
}

/** Checks subnet.env's values against the config, the lease and the plan's MTU. */
export function checkSubnetEnvValues(
  state: NodeState,
  r: Report,
  config: NetworkConfig,
  own: Lease,
  env: SubnetEnvValues | null,
  plan: DataPlanePlan | null,
): void {
  if (env === null) return;
  const path = state.subnetEnv.path;
  const seen: string[] = [];
  // each enabled family's two lines; the IPv6 ones are not compared when the state lacks them
  const families = [
    ...(config.enableIPv4
      ? [{ fam: 4 as const, v: "", network: config.network, subnet: own.subnet, env }]
      : []),
    ...(config.enableIPv6 && (!config.enableIPv4 || env.ipv6Subnet !== undefined)
      ? [
          {
            fam: 6 as const,
            v: "IPV6_",
            network: config.ipv6Network,
            subnet: own.ipv6Subnet,
            env: { network: env.ipv6Network ?? null, subnet: env.ipv6Subnet ?? null },
          },
        ]
      : []),
  ];
  for (const f of families) {
    const network = netOf(f.network, f.fam)?.network().toString() ?? null;
    const ownNet = netOf(f.subnet, f.fam);
    const NET = `FLANNEL_${f.v}NETWORK`;
    const SUB = `FLANNEL_${f.v}SUBNET`;
    if (network !== null && netOf(f.env.network, f.fam)?.toString() !== network) {
      r.add("SUBNET_ENV_NETWORK_MISMATCH", {
        subject: `${path} ${NET}`,
        message: "subnet.env was written for another network config",
        expected: `${NET}=${network}`,
        found: f.env.network === null ? `no ${NET}` : `${NET}=${f.env.network}`,
        fix: `${RESTART} (it rewrites ${path})`,
      });
    }
    if (ownNet === null) continue;
    const want = firstHost(ownNet).toString();
    seen.push(`${SUB}=${want}`);
    if (f.env.subnet === null || netOf(f.env.subnet, f.fam)?.toString() !== want) {
      r.add("SUBNET_ENV_SUBNET_MISMATCH", {
        subject: `${path} ${SUB}`,
        message:
          f.fam === 4
            ? "subnet.env does not match the lease: docker's --bip comes from it, so containers get addresses the other nodes route elsewhere"
            : "subnet.env does not match the lease's IPv6 subnet: docker's --fixed-cidr-v6 comes from it, so containers get IPv6 addresses the other nodes route elsewhere",
        expected: `${SUB}=${want} (lease ${ownNet.network()})`,
        found: f.env.subnet === null ? `no ${SUB}` : `${SUB}=${f.env.subnet}`,
        fix: `${RESTART}, then systemctl restart docker (it reads ${f.fam === 4 ? "--bip" : "--fixed-cidr-v6"} from /run/flannel/docker)`,
      });
    }
  }
  if (plan !== null && env.mtu !== plan.mtu) {
    r.add("SUBNET_ENV_MTU_MISMATCH", {
      subject: `${path} FLANNEL_MTU`,
      message:
        "docker and the CNI plugin give containers FLANNEL_MTU; a value above what the overlay carries drops large packets",
      expected: `FLANNEL_MTU=${plan.mtu} (${plan.backend === "vxlan" ? "underlay MTU − 50" : "underlay MTU"})`,
      found: env.mtu === null ? "no FLANNEL_MTU" : `FLANNEL_MTU=${env.mtu}`,
      fix: `${RESTART}, then systemctl restart docker`,
    });
  }
  r.ok(
    "subnet-env",
    `${path}: ${seen.join(", ")}, FLANNEL_MTU=${env.mtu}, FLANNEL_IPMASQ=${env.ipMasq}`,
  );
}
