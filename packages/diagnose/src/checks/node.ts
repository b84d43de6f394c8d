/**
 * Which node this is, the first part of the `lease` check: the store's leases are listed (an
 * entry that cannot be read is named), and the node is identified by `-public-ip`, else its
 * vxlan device's local address, else subnet.env's subnet; then its own lease is found.
 */
import { type IPNet, ipFamily, type Lease, type ObservedLink } from "@flannel-sdk/core";
import { RESTART, type Report } from "../report.js";
import type { NodeState } from "../types.js";

/** The store's leases, or `null` (reported) when they could not be listed. */
export function listLeases(state: NodeState, r: Report): readonly Lease[] | null {
  if ("error" in state.leases) {
    r.add("STORE_UNREACHABLE", {
      check: "lease",
      subject: state.storeLabel,
      message: "the leases could not be listed",
      expected: "the lease list",
      found: `${state.leases.error.code}: ${state.leases.error.message}`,
      fix: "check the store's endpoints, TLS files and credentials (flanneld's -etcd-* flags)",
    });
    return null;
  }
  const { leases, skipped } = state.leases.value;
  for (const s of skipped) {
    r.add("LEASE_UNREADABLE", {
      subject: s.key,
      message:
        "an entry under subnets/ cannot be read; flannel v0.28 drops every remote route when it meets one in a watch",
      expected: "a subnet key and lease JSON flannel can read",
      found: `${s.error.code}: ${s.error.message}`,
      fix: `inspect it (etcdctl get ${s.key}) and delete it if it is garbage`,
    });
  }
  return leases;
}

/** The node as identified: its public IP (`null`: unknown) and its lease (`null`: reported). */
export type IdentifiedNode =
  | { readonly publicIP: string; readonly own: Lease }
  | { readonly publicIP: string | null; readonly own: null };

/**
 * Finds this node's public IP and lease; reports `NODE_UNKNOWN` or `LEASE_NOT_FOUND` when it
 * cannot. An IPv6-only network (`v6only`) identifies the node by its PublicIPv6,
 * `flannel-v6.<VNI>` and `FLANNEL_IPV6_SUBNET` instead.
 */
export function identifyNode(
  state: NodeState,
  r: Report,
  leases: readonly Lease[],
  vxlanLink: ObservedLink | null,
  envSubnet: IPNet | null,
  v6only: boolean,
): IdentifiedNode {
  const subnetOf = (l: Lease) => (v6only ? l.ipv6Subnet : l.subnet);
  const publicOf = (l: Lease) => (v6only ? l.attrs.publicIPv6 : l.attrs.publicIP);
  let publicIP = (v6only ? state.publicIPv6 : null) ?? state.publicIP ?? null;
  if (v6only && publicIP !== null && ipFamily(publicIP) !== 6) publicIP = null;
  if (publicIP === null && vxlanLink?.vxlan?.local) publicIP = vxlanLink.vxlan.local;
  let own: Lease | null = null;
  if (publicIP !== null) {
    const mine = leases.filter((l) => publicOf(l) === publicIP);
    own =
      mine.find((l) => envSubnet !== null && subnetOf(l) === envSubnet.network().toString()) ??
      mine[0] ??
      null;
  } else if (envSubnet !== null) {
    own = leases.find((l) => subnetOf(l) === envSubnet.network().toString()) ?? null;
    publicIP = own === null ? null : publicOf(own);
  }
  if (publicIP === null) {
    r.add("NODE_UNKNOWN", {
      subject: "this node",
      message:
        "this node's public IP is unknown: no -public-ip given, no vxlan device, no subnet.env",
      expected: "a public IP to find the node's lease by",
      found: "nothing to identify the node",
      fix: "pass the node's -public-ip (flanneld's identity in the store)",
    });
    return { publicIP, own: null };
  }
  if (own === null) {
    const holder =
      envSubnet === null
        ? undefined
        : leases.find((l) => subnetOf(l) === envSubnet.network().toString());
    r.add("LEASE_NOT_FOUND", {
      subject: `lease of ${publicIP}`,
      message:
        holder === undefined
          ? "this node holds no lease: flanneld is not running, cannot reach the store, or its lease expired (24 h TTL) and it exited"
          : `this node holds no lease, and the subnet in ${state.subnetEnv.path} is now leased to ${publicOf(holder)}`,
      expected: `a lease with ${v6only ? "PublicIPv6" : "PublicIP"} ${publicIP} under ${state.configKey.replace(/\/config$/, "/subnets")}`,
      found: `${leases.length} lease(s), none for ${publicIP}${holder ? `; ${subnetOf(holder)} belongs to ${publicOf(holder)}` : ""}`,
      fix: `${RESTART}; a flanneld that exited 0 on "Lease has been revoked" is not restarted by Restart=on-failure, so use Restart=always`,
    });
    return { publicIP, own: null };
  }
  return { publicIP, own };
}
