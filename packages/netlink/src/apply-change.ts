/**
 * Incremental plan application: from the plan last applied to the next one, send only the
 * neighbour, FDB and route operations that differ — no kernel dump, so one lease event costs the
 * same at 5 nodes and at 5,000. `applyPlan` (which reads the kernel) stays the safety net and the
 * fallback for whatever this cannot do alone.
 */
import {
  canonicalCidr,
  canonicalIP,
  type DataPlanePlan,
  diffPlans,
  macKey,
  type PeerOp,
  type PlanEntry,
  throwIfAborted,
  ZERO_MAC,
} from "@flannel-sdk/core";
import {
  type ApplyOptions,
  type ApplyReport,
  applyPlanWith,
  type Change,
  collectPeerResults,
  mayBeStaleIndex,
  type PeerFailure,
  type PlanTarget,
  peerDev,
  peerRequest,
} from "./apply.js";
import { netlinkError } from "./errors.js";
import { RT_TABLE_MAIN } from "./nl/constants.js";

/**
 * The peer operations that turn a kernel that holds `before` into one that holds `after`, or
 * `null` when the change is not peers only (the device, its addresses, the MTU, the ownership
 * scope or the family differ) or needs an FDB append (a MAC with several destinations, the
 * all-zero MAC), which only a full apply orders right. Deletions first, then neighbour, FDB,
 * route, as core's `reconcilePeers` orders them. Pure.
 * @internal
 */
export function peerOpsBetween(before: DataPlanePlan, after: DataPlanePlan): PeerOp[] | null {
  if (
    before.family !== after.family ||
    before.mtu !== after.mtu ||
    before.owned.network !== after.owned.network ||
    before.owned.devices.join(" ") !== after.owned.devices.join(" ")
  ) {
    return null;
  }
  const d = diffPlans(before, after);
  const del: PlanEntry[] = [...d.removed];
  const add: PlanEntry[] = [...d.added];
  // an entry's key is what the kernel replaces in place (a neighbour by device and IP, a route
  // by table and destination), so a changed one is one replace
  for (const c of d.changed) add.push(c.after);
  if ([...del, ...add].some((e) => e.kind === "link" || e.kind === "address")) return null;
  const macs = new Map<string, number>();
  for (const f of after.fdb) {
    const k = `${f.dev}|${macKey(f.lladdr)}`;
    macs.set(k, (macs.get(k) ?? 0) + 1);
  }
  for (const e of [...del, ...add]) {
    if (e.kind !== "fdb") continue;
    const mac = macKey(e.value.lladdr);
    if (mac === ZERO_MAC || (macs.get(`${e.value.dev}|${mac}`) ?? 0) > 1) return null;
  }
  const rank = { route: 0, fdb: 1, neighbor: 2 } as const;
  const ops: PeerOp[] = [];
  const sorted = (es: PlanEntry[], order: "del" | "add") =>
    es.sort((a, b) => {
      const ra = rank[a.kind as keyof typeof rank];
      const rb = rank[b.kind as keyof typeof rank];
      return order === "del" ? ra - rb : rb - ra;
    });
  for (const e of sorted(del, "del")) ops.push(peerOp(e, "delete"));
  for (const e of sorted(add, "add")) ops.push(peerOp(e, "replace"));
  return ops;
}

function peerOp(e: PlanEntry, action: "delete" | "replace"): PeerOp {
  switch (e.kind) {
    case "neighbor":
      return {
        object: "neighbor",
        action,
        neigh: {
          dev: e.value.dev,
          ip: canonicalIP(e.value.ip),
          lladdr: action === "delete" ? null : macKey(e.value.lladdr),
        },
      };
    case "fdb":
      return {
        object: "fdb",
        action,
        fdb: {
          dev: e.value.dev,
          lladdr: macKey(e.value.lladdr),
          dst: canonicalIP(e.value.dst),
        },
      };
    case "route":
      return {
        object: "route",
        action,
        route: {
          dst: canonicalCidr(e.value.dst),
          gateway: e.value.gateway === null ? null : canonicalIP(e.value.gateway),
          dev: e.value.dev,
          onlink: action === "delete" ? false : e.value.onlink,
          table: e.value.table ?? RT_TABLE_MAIN,
          priority: 0,
        },
      };
    default:
      throw new Error(`not a peer entry: ${e.key}`);
  }
}

/** `applyPlanChange`'s body. @internal */
export async function applyPlanChangeWith(
  h: PlanTarget,
  before: DataPlanePlan,
  after: DataPlanePlan,
  options: ApplyOptions,
): Promise<ApplyReport> {
  const { signal } = options;
  throwIfAborted(signal);
  const ops = peerOpsBetween(before, after);
  if (ops === null || options.dryRun) return applyPlanWith(h, after, options);
  const ns = h.netns;
  // Device indexes: looked up once, then reused until the next full apply. A lease event then
  // costs one batch and no other round trip (flanneld, too, keeps its device's index). An index
  // can go stale between two full applies (a device deleted and made again): the kernel then
  // answers ENODEV, or a delete finds nothing, and only then are the indexes checked again.
  const index = new Map<string, number>();
  let reused = false;
  for (const op of ops) {
    const dev = peerDev(op);
    if (dev === null || index.has(dev)) continue;
    const known = h.stepIndexes.get(dev);
    if (known !== undefined) {
      index.set(dev, known);
      reused = true;
      continue;
    }
    const link = await h.linkByName(dev, { signal });
    // the device is gone (deleted under us): only a full apply can rebuild it
    if (link === null) return applyPlanWith(h, after, options);
    index.set(dev, link.index);
    h.stepIndexes.set(dev, link.index);
  }
  const results =
    ops.length === 0
      ? new Int32Array(0)
      : await h.execMany(
          ops.map((op) => peerRequest(op, (d) => index.get(d)!)),
          signal,
        );
  if (reused && ops.some((op, i) => mayBeStaleIndex(op, results[i]!))) {
    for (const [dev, i] of index) {
      const link = await h.linkByName(dev, { signal });
      if (link?.index !== i) return applyPlanWith(h, after, options);
    }
  }
  const changes: Change[] = [];
  const failures: PeerFailure[] = [];
  collectPeerResults(ops, results, ns, changes, failures);
  const report: ApplyReport = {
    dryRun: false,
    changes,
    commands: changes.map((c) => c.command),
    unchanged: 0,
    link: null,
    interrupted: false,
  };
  if (failures.length > 0) {
    const first = failures[0]!;
    throw netlinkError(
      first.errno,
      first.command,
      `${first.message}; ${failures.length} of ${ops.length} neighbour/FDB/route operations failed`,
      { failures, report },
    );
  }
  return report;
}
