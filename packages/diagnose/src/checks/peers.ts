/**
 * The `peers` check: core's `reconcilePeers` compares each remote lease's neighbour, FDB entry and
 * route (host-gw: route) with the kernel, and the entries of leases that are gone; each
 * discrepancy is a finding, so what netlink's `applyPlan` leaves is clean by construction.
 */
import {
  type DataPlanePlan,
  type KernelState,
  type Lease,
  type PlanResult,
  planToCommands,
  reconcilePeers,
} from "@flannel-sdk/core";
import { netOf, REPROGRAM, type Report } from "../report.js";

/** Reports each discrepancy core's `reconcilePeers` finds between one family's plan and the kernel. */
export function checkPeers(
  r: Report,
  kernel: KernelState,
  plan: PlanResult,
  leases: readonly Lease[],
): void {
  const fam = plan.family;
  const byIP = new Map<string, string>();
  for (const l of leases) {
    const n = netOf(fam === 4 ? l.subnet : l.ipv6Subnet, fam);
    const p = fam === 4 ? l.attrs.publicIP : l.attrs.publicIPv6;
    if (n !== null && p !== null) byIP.set(n.ipString, p);
  }
  const nodeOf = (subnetIP: string) => {
    const p = byIP.get(subnetIP);
    return p === undefined ? "" : ` (node ${p})`;
  };
  const cmd = (part: Partial<DataPlanePlan>) =>
    planToCommands({
      ...plan,
      link: null,
      addresses: [],
      neighbors: [],
      fdb: [],
      routes: [],
      ...part,
    }).join("; ");
  const routeText = (x: {
    dst: string;
    gateway: string | null;
    dev: string | null;
    onlink: boolean;
  }) =>
    `${x.dst}${x.gateway ? ` via ${x.gateway}` : ""}${x.dev ? ` dev ${x.dev}` : ""}${x.onlink ? " onlink" : ""}`;

  const { discrepancies } = reconcilePeers(plan, kernel);
  for (const d of discrepancies) {
    switch (d.kind) {
      case "neighbor-missing":
      case "neighbor-wrong": {
        const n = d.want;
        const subject = `neighbour ${n.ip} on ${n.dev}${nodeOf(n.ip)}`;
        const expected = `${n.ip} lladdr ${n.lladdr} permanent`;
        if (d.kind === "neighbor-missing") {
          r.add("PEER_NEIGH_MISSING", {
            subject,
            message:
              "without this ARP entry the kernel cannot address the remote subnet's gateway on the overlay",
            expected,
            found: "no entry",
            fix: `${cmd({ neighbors: [n] })}; or ${REPROGRAM}`,
          });
        } else {
          r.add("PEER_NEIGH_WRONG", {
            subject,
            message:
              "the ARP entry does not carry the remote node's VtepMAC: its vxlan device drops what this node sends",
            expected,
            found: `lladdr ${d.found.lladdr}${d.found.permanent ? " permanent" : " (not permanent)"}`,
            fix: cmd({ neighbors: [n] }),
          });
        }
        break;
      }
      case "fdb-missing":
        r.add("PEER_FDB_MISSING", {
          subject: `fdb ${d.want.lladdr} on ${d.want.dev}`,
          message:
            "without this FDB entry the vxlan device does not know which host to send the remote VtepMAC's frames to",
          expected: `${d.want.lladdr} dst ${d.want.dst} self permanent`,
          found: "no entry",
          fix: `${cmd({ fdb: [d.want] })}; or ${REPROGRAM}`,
        });
        break;
      case "fdb-wrong":
        r.add("PEER_FDB_WRONG", {
          subject: `fdb ${d.want.lladdr} on ${d.want.dev}`,
          message: "the FDB entry sends the remote node's frames to another host",
          expected: `dst ${d.want.dst}`,
          found: d.found
            .map((x) => `dst ${x.dst ?? "none"}${x.permanent ? "" : " (not permanent)"}`)
            .join(", "),
          fix: cmd({ fdb: [d.want] }),
        });
        break;
      case "route-missing":
      case "route-wrong": {
        const rt = d.want;
        const subject = `route ${rt.dst}${nodeOf(netOf(rt.dst, fam)!.ipString)}`;
        if (d.kind === "route-missing") {
          r.add("PEER_ROUTE_MISSING", {
            subject,
            message:
              "no route to the remote node's subnet: its containers are unreachable from here",
            expected: routeText(rt),
            found: "no route",
            fix: `${cmd({ routes: [rt] })}; or ${REPROGRAM}`,
          });
        } else {
          r.add("PEER_ROUTE_WRONG", {
            subject,
            message: "the route to the remote subnet does not go where flannel sends it",
            expected: routeText(rt),
            found: routeText(d.found),
            fix: cmd({ routes: [rt] }),
          });
        }
        break;
      }
      case "neighbor-stale":
        r.add("PEER_NEIGH_STALE", {
          subject: `neighbour ${d.found.ip} on ${d.found.dev}`,
          message:
            "an ARP entry for a subnet no lease holds any more (its node left): flanneld removes it when the lease goes",
          expected: "no entry",
          found: `${d.found.ip} lladdr ${d.found.lladdr}`,
          fix: `ip neigh del ${d.found.ip} dev ${d.found.dev}`,
        });
        break;
      case "fdb-stale":
        r.add("PEER_FDB_STALE", {
          subject: `fdb ${d.found.lladdr} on ${d.found.dev}`,
          message: "an FDB entry for a VTEP no lease publishes any more",
          expected: "no entry",
          found: `${d.found.lladdr} dst ${d.found.dst}`,
          fix: `bridge fdb del ${d.found.lladdr} dev ${d.found.dev} dst ${d.found.dst} self`,
        });
        break;
      case "route-stale":
        r.add("PEER_ROUTE_STALE", {
          subject: `route ${d.found.dst}`,
          message:
            "a route to a subnet no lease holds any more: if the subnet is leased again, traffic goes to the old node",
          expected: "no route",
          found: `${d.found.dst} via ${d.found.gateway} dev ${d.found.dev}`,
          fix: `ip route del ${d.found.dst} via ${d.found.gateway} dev ${d.found.dev}`,
        });
        break;
    }
  }
  if (discrepancies.length === 0) {
    r.ok(
      "peers",
      `${plan.routes.length} remote lease(s): every ${plan.backend === "vxlan" ? "neighbour, FDB entry and route" : "route"} in place, nothing stale`,
    );
  }
}
