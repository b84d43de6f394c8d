/**
 * The peers' part of reconciling a plan with the kernel: each remote lease's neighbour, FDB entry
 * and route, and what the plan's ownership scope holds that no lease wants any more. One
 * comparison gives both the operations that converge the kernel (netlink's `applyPlan`) and the
 * discrepancies a check reports (diagnose's `peers`), so a node the operations left alone has no
 * discrepancy.
 */
import { parseCidr } from "../ip/parse.js";
import type { DataPlanePlan, FdbPlan, NeighborPlan, RoutePlan } from "../plan/types.js";
import { cidrKey, ipKey, macKey } from "./canonical.js";
import type { KernelState, ObservedFdb, ObservedNeigh, ObservedRoute } from "./observed.js";

/** The main routing table's id: a plan route without `table` goes there. */
const RT_TABLE_MAIN = 254;
/** `RTN_UNICAST`: the route type flannel installs. */
const RTN_UNICAST = 1;
/** The all-zero MAC of flannel's FDB append form (`bridge fdb append 00:00:00:00:00:00 …`). */
export const ZERO_MAC = "00:00:00:00:00:00";

/** A route as a peer operation installs or deletes it: canonical, with its table and metric. */
export interface PeerRouteOp {
  readonly dst: string;
  readonly gateway: string | null;
  readonly dev: string | null;
  readonly onlink: boolean;
  readonly table: number;
  readonly priority: number;
}

/**
 * One neighbour / FDB / route change (`ip neigh replace`, `bridge fdb append`, `ip route del` …),
 * canonical (lower-case MACs, the kernel's IP forms).
 */
export type PeerOp =
  | { readonly object: "route"; readonly action: "replace" | "delete"; readonly route: PeerRouteOp }
  | {
      readonly object: "neighbor";
      readonly action: "replace" | "delete";
      readonly neigh: { readonly dev: string; readonly ip: string; readonly lladdr: string | null };
    }
  | {
      readonly object: "fdb";
      readonly action: "replace" | "append" | "delete";
      readonly fdb: { readonly dev: string; readonly lladdr: string; readonly dst: string };
    };

/**
 * What differs between a plan's peers and the kernel: a planned entry missing or wrong (with
 * what the kernel holds instead), or an entry the ownership scope holds that no lease wants
 * (`stale`).
 */
export type PeerDiscrepancy =
  | { readonly kind: "neighbor-missing"; readonly want: NeighborPlan }
  | { readonly kind: "neighbor-wrong"; readonly want: NeighborPlan; readonly found: ObservedNeigh }
  | { readonly kind: "fdb-missing"; readonly want: FdbPlan }
  | {
      readonly kind: "fdb-wrong";
      readonly want: FdbPlan;
      /** The device's entries of the planned MAC. */
      readonly found: readonly ObservedFdb[];
    }
  | { readonly kind: "route-missing"; readonly want: RoutePlan }
  | { readonly kind: "route-wrong"; readonly want: RoutePlan; readonly found: ObservedRoute }
  | { readonly kind: "neighbor-stale"; readonly found: ObservedNeigh }
  | { readonly kind: "fdb-stale"; readonly found: ObservedFdb }
  | { readonly kind: "route-stale"; readonly found: ObservedRoute };

/** The result of {@link reconcilePeers}. */
export interface PeerReconciliation {
  /**
   * The changes that turn the kernel into the plan: deletions first (routes, FDB, neighbours),
   * then additions in flannel's order (neighbour, FDB, route — the route last, so the kernel
   * never has to resolve a peer it cannot reach).
   */
  readonly ops: readonly PeerOp[];
  /** Planned entries already as wanted. */
  readonly unchanged: number;
  /** What differs, in plan order (neighbours, FDB, routes), then the stale entries. */
  readonly discrepancies: readonly PeerDiscrepancy[];
}

/** Options of {@link reconcilePeers}. */
export interface ReconcilePeersOptions {
  /**
   * Whether to look for stale entries (default true). Pass false when the kernel listing may be
   * incomplete (an interrupted dump): what it lacks must not be read as gone.
   */
  readonly stale?: boolean;
}

/**
 * Compares a plan's neighbours, FDB entries and routes with the kernel: the operations that
 * converge it and the discrepancies they repair. Only the plan's family and its ownership scope
 * are looked at (routes with a gateway inside `owned.network` on `owned.devices`; permanent
 * neighbours and FDB entries on the vxlan devices among them). Pure.
 *
 * A neighbour is in place when a permanent entry with the planned MAC exists; an FDB entry when
 * a permanent entry of the planned MAC and destination exists; a route when the main-metric
 * unicast route to the destination (in its table) has the planned gateway, device and `onlink`.
 *
 * @example
 * ```ts
 * const plan = planVxlan(input);
 * const { ops, discrepancies } = reconcilePeers(plan, kernel);
 * ops.length === 0; // nothing to change: discrepancies is empty too
 * ```
 */
export function reconcilePeers(
  plan: DataPlanePlan,
  kernel: Pick<KernelState, "links" | "neighs" | "fdb" | "routes">,
  options: ReconcilePeersOptions = {},
): PeerReconciliation {
  const fam = plan.family;
  const stale = options.stale ?? true;
  const owned = new Set(plan.owned.devices);
  const network = parseCidr(plan.owned.network);
  const vxlanDevs = new Set<string>();
  for (const l of kernel.links) if (owned.has(l.name) && l.kind === "vxlan") vxlanDevs.add(l.name);
  if (plan.link !== null) vxlanDevs.add(plan.link.name);
  const discrepancies: PeerDiscrepancy[] = [];
  const staleFound: PeerDiscrepancy[] = [];
  let unchanged = 0;

  // ---- neighbours ----
  // Keys are kept per device (two-level maps) rather than as `${dev}|${ip}` texts: a full check
  // at 5,000 leases builds ~30,000 keys, and the concatenated ones cost more than the comparison.
  const curNeigh = new PerDevice<ObservedNeigh>();
  // the first sighting of each (device, address), in kernel order: stale ones are listed so
  const seenDevs: string[] = [];
  const seenIps: string[] = [];
  for (const n of kernel.neighs) {
    if (n.family !== fam || !vxlanDevs.has(n.dev)) continue;
    const ip = ipKey(n.ip);
    const had = curNeigh.get(n.dev, ip);
    if (had === undefined) {
      seenDevs.push(n.dev);
      seenIps.push(ip);
    }
    // a permanent entry wins over another state of the same address
    if (n.permanent || had === undefined) curNeigh.set(n.dev, ip, n);
  }
  const wantNeigh = new PerDevice<true>();
  const neighAdd: PeerOp[] = [];
  const neighDel: PeerOp[] = [];
  for (const n of plan.neighbors) {
    const ip = ipKey(n.ip);
    if (wantNeigh.get(n.dev, ip) !== undefined) continue;
    wantNeigh.set(n.dev, ip, true);
    const lladdr = macKey(n.lladdr);
    const cur = curNeigh.get(n.dev, ip);
    if (cur?.permanent && cur.lladdr !== null && macKey(cur.lladdr) === lladdr) {
      unchanged++;
      continue;
    }
    neighAdd.push({ object: "neighbor", action: "replace", neigh: { dev: n.dev, ip, lladdr } });
    discrepancies.push(
      cur === undefined || cur.lladdr === null
        ? { kind: "neighbor-missing", want: n }
        : { kind: "neighbor-wrong", want: n, found: cur },
    );
  }
  if (stale) {
    for (let i = 0; i < seenDevs.length; i++) {
      const dev = seenDevs[i]!;
      const ip = seenIps[i]!;
      const n = curNeigh.get(dev, ip)!;
      if (!n.permanent || wantNeigh.get(dev, ip) !== undefined) continue;
      neighDel.push({
        object: "neighbor",
        action: "delete",
        neigh: { dev: n.dev, ip: n.ip, lladdr: null },
      });
      staleFound.push({ kind: "neighbor-stale", found: n });
    }
  }

  // ---- FDB ----
  // Each entry with its canonical MAC and destination (null: not permanent, or none), in kernel
  // order, and the device's entries by MAC.
  const fdbSeen: { entry: ObservedFdb; mac: string; dst: string | null }[] = [];
  const curFdb = new PerDevice<typeof fdbSeen>();
  for (const f of kernel.fdb) {
    if (!f.self || !vxlanDevs.has(f.dev)) continue;
    const seen = {
      entry: f,
      mac: macKey(f.lladdr),
      dst: f.permanent && f.dst !== null ? ipKey(f.dst) : null,
    };
    fdbSeen.push(seen);
    const list = curFdb.get(f.dev, seen.mac);
    if (list === undefined) curFdb.set(f.dev, seen.mac, [seen]);
    else list.push(seen);
  }
  // dev → MAC → planned destination(s): one text for the usual single destination, a set only
  // for a MAC planned with several (an allocation per MAC on every full check otherwise)
  const wantFdb = new PerDevice<string | Set<string>>();
  const holds = (planned: string | Set<string> | undefined, dst: string) =>
    planned === dst || (typeof planned === "object" && planned.has(dst));
  const wrongMac = new PerDevice<true>();
  const fdbAdd: PeerOp[] = [];
  for (const f of plan.fdb) {
    const lladdr = macKey(f.lladdr);
    const dst = ipKey(f.dst);
    const planned = wantFdb.get(f.dev, lladdr);
    if (holds(planned, dst)) continue;
    // flannel appends the all-zero MAC's entries, and a second destination of one MAC
    const append = lladdr === ZERO_MAC || planned !== undefined;
    if (planned === undefined) wantFdb.set(f.dev, lladdr, dst);
    else if (typeof planned === "string") wantFdb.set(f.dev, lladdr, new Set([planned, dst]));
    else planned.add(dst);
    const same = curFdb.get(f.dev, lladdr);
    if (same?.some((x) => x.dst === dst)) {
      unchanged++;
      continue;
    }
    fdbAdd.push({
      object: "fdb",
      action: append ? "append" : "replace",
      fdb: { dev: f.dev, lladdr, dst },
    });
    if (same === undefined) discrepancies.push({ kind: "fdb-missing", want: f });
    else {
      wrongMac.set(f.dev, lladdr, true);
      discrepancies.push({ kind: "fdb-wrong", want: f, found: same.map((x) => x.entry) });
    }
  }
  const fdbDel: PeerOp[] = [];
  if (stale) {
    for (const { entry: f, mac, dst } of fdbSeen) {
      if (dst === null || holds(wantFdb.get(f.dev, mac), dst)) continue;
      fdbDel.push({
        object: "fdb",
        action: "delete",
        fdb: { dev: f.dev, lladdr: f.lladdr, dst: f.dst as string },
      });
      // an entry of a planned MAC that is reported wrong is not stale as well
      if (wrongMac.get(f.dev, mac) === undefined) staleFound.push({ kind: "fdb-stale", found: f });
    }
  }

  // ---- routes (a route without a metric gets 0 from IPv4 and 1024 from IPv6) ----
  const defaultMetric = fam === 6 ? 1024 : 0;
  const metricOf = (r: ObservedRoute) => r.priority ?? defaultMetric;
  const unicast = (r: ObservedRoute) => (r.type ?? RTN_UNICAST) === RTN_UNICAST;
  const curRoute = new PerDevice<ObservedRoute, number>(); // table → destination
  for (const r of kernel.routes) {
    if (r.family !== fam || !unicast(r) || metricOf(r) !== defaultMetric) continue;
    const dst = cidrKey(r.dst);
    if (curRoute.get(r.table, dst) === undefined) curRoute.set(r.table, dst, r);
  }
  const wantRoute = new PerDevice<true, number>();
  const routeAdd: PeerOp[] = [];
  for (const r of plan.routes) {
    const dst = cidrKey(r.dst);
    const table = r.table ?? RT_TABLE_MAIN;
    if (wantRoute.get(table, dst) !== undefined) continue;
    wantRoute.set(table, dst, true);
    const gateway = r.gateway === null ? null : ipKey(r.gateway);
    const cur = curRoute.get(table, dst);
    const same =
      cur !== undefined &&
      (cur.gateway === null ? null : ipKey(cur.gateway)) === gateway &&
      cur.onlink === r.onlink &&
      (r.dev === null || cur.dev === r.dev);
    if (same) {
      unchanged++;
      continue;
    }
    routeAdd.push({
      object: "route",
      action: "replace",
      route: { dst, gateway, dev: r.dev, onlink: r.onlink, table, priority: 0 },
    });
    discrepancies.push(
      cur === undefined
        ? { kind: "route-missing", want: r }
        : { kind: "route-wrong", want: r, found: cur },
    );
  }
  const routeDel: PeerOp[] = [];
  if (stale) {
    for (const r of kernel.routes) {
      if (r.family !== fam || !unicast(r) || r.gateway === null || r.dev === null) continue;
      if (!owned.has(r.dev)) continue;
      if (metricOf(r) === defaultMetric && wantRoute.get(r.table, cidrKey(r.dst)) !== undefined)
        continue;
      if (!network.contains(r.dst)) continue;
      routeDel.push({
        object: "route",
        action: "delete",
        route: {
          dst: r.dst,
          gateway: r.gateway,
          dev: r.dev,
          onlink: false,
          table: r.table,
          priority: r.priority ?? 0,
        },
      });
      staleFound.push({ kind: "route-stale", found: r });
    }
  }

  return {
    ops: [...routeDel, ...fdbDel, ...neighDel, ...neighAdd, ...fdbAdd, ...routeAdd],
    unchanged,
    discrepancies: [...discrepancies, ...staleFound],
  };
}

/** A map keyed by a device name (or a routing table), then by a canonical text. */
class PerDevice<V, D = string> {
  readonly #byDev = new Map<D, Map<string, V>>();

  get(dev: D, key: string): V | undefined {
    return this.#byDev.get(dev)?.get(key);
  }

  set(dev: D, key: string, value: V): void {
    let m = this.#byDev.get(dev);
    if (m === undefined) {
      m = new Map();
      this.#byDev.set(dev, m);
    }
    m.set(key, value);
  }
}
