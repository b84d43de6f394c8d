import type {
  AddressPlan,
  DataPlanePlan,
  FdbPlan,
  NeighborPlan,
  RoutePlan,
  VxlanLinkPlan,
} from "./types.js";

/**
 * One entry of a plan with its identity `key` — what the kernel would replace in place: a link
 * by name, an address by device and CIDR, a neighbour by device and IP, an FDB entry by device,
 * MAC and destination (a MAC may have several destinations), a route by table and destination.
 */
export type PlanEntry =
  | { readonly kind: "link"; readonly key: string; readonly value: VxlanLinkPlan }
  | { readonly kind: "address"; readonly key: string; readonly value: AddressPlan }
  | { readonly kind: "neighbor"; readonly key: string; readonly value: NeighborPlan }
  | { readonly kind: "fdb"; readonly key: string; readonly value: FdbPlan }
  | { readonly kind: "route"; readonly key: string; readonly value: RoutePlan };

/** What differs between two plans, by entry key. */
export interface PlanDiff {
  /** Entries only in the second plan, in its order. */
  readonly added: readonly PlanEntry[];
  /** Entries only in the first plan, in its order. */
  readonly removed: readonly PlanEntry[];
  /** Entries in both with the same key and a different value, in the second plan's order. */
  readonly changed: readonly { readonly before: PlanEntry; readonly after: PlanEntry }[];
}

/**
 * The entries of a plan, in plan order (link, addresses, neighbours, FDB, routes), each with
 * a stable identity key such as `"route 254 172.30.9.0/24"` or `"neighbor flannel.1 172.30.9.0"`.
 *
 * @example
 * ```ts
 * planEntries(plan).map((e) => e.key);
 * // ["link flannel.1", "address flannel.1 172.30.8.0/32", "neighbor flannel.1 172.30.9.0", …]
 * ```
 */
export function planEntries(plan: DataPlanePlan): PlanEntry[] {
  const entries: PlanEntry[] = [];
  if (plan.link !== null) {
    entries.push({ kind: "link", key: `link ${plan.link.name}`, value: plan.link });
  }
  for (const a of plan.addresses) {
    entries.push({ kind: "address", key: `address ${a.dev} ${a.address}`, value: a });
  }
  for (const n of plan.neighbors) {
    entries.push({ kind: "neighbor", key: `neighbor ${n.dev} ${n.ip}`, value: n });
  }
  for (const f of plan.fdb) {
    entries.push({ kind: "fdb", key: `fdb ${f.dev} ${f.lladdr} ${f.dst}`, value: f });
  }
  for (const r of plan.routes) {
    entries.push({ kind: "route", key: `route ${r.table ?? 254} ${r.dst}`, value: r });
  }
  return entries;
}

/** Plan entry values are flat records of primitives; `undefined` counts as absent. */
function sameValue(a: object, b: object): boolean {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const k in ra) if (ra[k] !== rb[k]) return false;
  for (const k in rb) if (!(k in ra) && rb[k] !== undefined) return false;
  return true;
}

function byKey(entries: PlanEntry[]): Map<string, PlanEntry> {
  const map = new Map<string, PlanEntry>();
  for (const e of entries) if (!map.has(e.key)) map.set(e.key, e);
  return map;
}

/**
 * What changes from plan `before` to plan `after` (either may be `null`: nothing planned),
 * compared entry by entry on {@link planEntries} keys. Plan-level fields (`mtu`, `owned`) are
 * not entries; a changed device MTU shows as a changed `link` entry.
 *
 * @example
 * ```ts
 * const d = diffPlans(yesterday, planVxlan(input));
 * d.added.map((e) => e.key); // ["fdb flannel.1 3a:b9:84:c3:57:7d 192.0.2.13", …]
 * ```
 */
export function diffPlans(before: DataPlanePlan | null, after: DataPlanePlan | null): PlanDiff {
  const a = before === null ? [] : planEntries(before);
  const b = after === null ? [] : planEntries(after);
  const aByKey = byKey(a);
  const bByKey = byKey(b);
  const added: PlanEntry[] = [];
  const changed: { before: PlanEntry; after: PlanEntry }[] = [];
  for (const e of bByKey.values()) {
    const old = aByKey.get(e.key);
    if (old === undefined) added.push(e);
    else if (old.kind !== e.kind || !sameValue(old.value, e.value)) {
      changed.push({ before: old, after: e });
    }
  }
  const removed = [...aByKey.values()].filter((e) => !bByKey.has(e.key));
  return { added, removed, changed };
}
