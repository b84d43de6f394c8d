/**
 * Plan application: compare a `DataPlanePlan` with the kernel, change only what differs, and
 * remove what the plan's ownership scope holds but the plan does not.
 */
import {
  canonicalCidr,
  canonicalIP,
  type DataPlanePlan,
  parseCidr,
  throwIfAborted,
} from "@flannel-sdk/core";
import {
  cmdAddr,
  cmdFdb,
  cmdLinkDel,
  cmdLinkSet,
  cmdNeigh,
  cmdRoute,
  cmdVxlanAdd,
} from "./commands.js";
import { errnoName, netlinkError } from "./errors.js";

import { cidrParts, cidrWire, ipBytes, macBytes } from "./nl/address.js";
import { RT_TABLE_MAIN, RTN_UNICAST } from "./nl/constants.js";
import { fdbRequest, type NlRequest, neighRequest, routeRequest } from "./nl/messages.js";
import type {
  CallOptions,
  Dump,
  EnsureResult,
  FdbEntry,
  KernelSnapshot,
  Link,
  Neigh,
  Route,
  VxlanLink,
  VxlanSpec,
} from "./types.js";
import { vxlanIncompatibility } from "./vxlan-compat.js";

/** Options of `applyPlan`. */
export interface ApplyOptions extends CallOptions {
  /** Read the kernel and report what would change, without changing anything. */
  readonly dryRun?: boolean;
}

/** One change, as the command that makes it. */
export interface Change {
  readonly object: "link" | "address" | "neighbor" | "fdb" | "route";
  readonly action: "create" | "recreate" | "delete" | "add" | "replace" | "append" | "up";
  /** The `ip` / `bridge` command with the same effect. */
  readonly command: string;
  /** Why (a recreated device's incompatibility), when there is one. */
  readonly reason?: string;
}

/** What `applyPlan` did (or, in a dry run, would do). */
export interface ApplyReport {
  readonly dryRun: boolean;
  /** Changes in the order they were made. Empty when the kernel already matched the plan. */
  readonly changes: readonly Change[];
  /** `changes` as commands: the dry run's printout. */
  readonly commands: readonly string[];
  /** Plan objects already as wanted. */
  readonly unchanged: number;
  /** The plan's vxlan device after the apply (its `mac` is the `VtepMAC` to publish); `null` without one or in a dry run that would create it. */
  readonly link: Link | null;
  /** A kernel dump stayed inconsistent after retries; stale entries were then not removed. */
  readonly interrupted: boolean;
}

type RouteOp = {
  dst: string;
  gateway: string | null;
  dev: string | null;
  onlink: boolean;
  table: number;
  priority: number;
};

/** A neighbour / FDB / route change. @internal */
export type PeerOp =
  | { object: "route"; action: "replace" | "delete"; route: RouteOp }
  | {
      object: "neighbor";
      action: "replace" | "delete";
      neigh: { dev: string; ip: string; lladdr: string | null };
    }
  | {
      object: "fdb";
      action: "replace" | "append" | "delete";
      fdb: { dev: string; lladdr: string; dst: string };
    };

/** The all-zero MAC of flannel's FDB append form. @internal */
export const ZERO_MAC = "00:00:00:00:00:00";

/** The command of a peer change. @internal */
export function peerCommand(op: PeerOp, netns: string | null): string {
  switch (op.object) {
    case "route":
      return cmdRoute(op.action === "delete" ? "del" : "replace", op.route, netns);
    case "neighbor":
      return cmdNeigh(op.action === "delete" ? "del" : "replace", op.neigh, netns);
    case "fdb":
      return cmdFdb(op.action === "delete" ? "del" : op.action, op.fdb, netns);
  }
}

/**
 * Neighbour, FDB and route changes that turn `state` into `plan`: deletions first (routes, FDB,
 * neighbours), then additions in flannel's order (neighbour, FDB, route — the route last so
 * the kernel never has to resolve a peer it cannot reach). Pure.
 * @internal
 */
export function diffPeers(
  plan: DataPlanePlan,
  state: Pick<KernelSnapshot, "links" | "neighs" | "fdb" | "routes" | "interrupted">,
): { ops: PeerOp[]; unchanged: number } {
  const owned = new Set(plan.owned.devices);
  const network = parseCidr(plan.owned.network);
  const vxlanDevs = new Set<string>();
  for (const l of state.links) if (owned.has(l.name) && l.kind === "vxlan") vxlanDevs.add(l.name);
  if (plan.link !== null) vxlanDevs.add(plan.link.name);
  const removeStale = !state.interrupted;
  let unchanged = 0;

  // neighbours
  const curNeigh = new Map<string, Neigh>();
  for (const n of state.neighs) {
    if (n.permanent && vxlanDevs.has(n.dev)) curNeigh.set(`${n.dev}|${n.ip}`, n);
  }
  const wantNeigh = new Map<string, { dev: string; ip: string; lladdr: string }>();
  for (const n of plan.neighbors) {
    const ip = canonicalIP(n.ip);
    wantNeigh.set(`${n.dev}|${ip}`, { dev: n.dev, ip, lladdr: n.lladdr.toLowerCase() });
  }
  const neighAdd: PeerOp[] = [];
  const neighDel: PeerOp[] = [];
  for (const [key, n] of wantNeigh) {
    const cur = curNeigh.get(key);
    if (cur !== undefined && cur.lladdr === n.lladdr) unchanged++;
    else neighAdd.push({ object: "neighbor", action: "replace", neigh: n });
  }
  if (removeStale) {
    for (const [key, n] of curNeigh) {
      if (!wantNeigh.has(key)) {
        neighDel.push({
          object: "neighbor",
          action: "delete",
          neigh: { dev: n.dev, ip: n.ip, lladdr: null },
        });
      }
    }
  }

  // FDB
  const curFdb = new Set<string>();
  const curFdbList: FdbEntry[] = [];
  for (const f of state.fdb) {
    if (f.self && f.permanent && f.dst !== null && vxlanDevs.has(f.dev)) {
      curFdb.add(`${f.dev}|${f.lladdr}|${f.dst}`);
      curFdbList.push(f);
    }
  }
  const wantFdb = new Set<string>();
  const fdbAdd: PeerOp[] = [];
  const seenMac = new Set<string>();
  for (const f of plan.fdb) {
    const lladdr = f.lladdr.toLowerCase();
    const dst = canonicalIP(f.dst);
    const key = `${f.dev}|${lladdr}|${dst}`;
    if (wantFdb.has(key)) continue;
    wantFdb.add(key);
    const macKey = `${f.dev}|${lladdr}`;
    const append = lladdr === ZERO_MAC || seenMac.has(macKey);
    seenMac.add(macKey);
    if (curFdb.has(key)) unchanged++;
    else
      fdbAdd.push({
        object: "fdb",
        action: append ? "append" : "replace",
        fdb: { dev: f.dev, lladdr, dst },
      });
  }
  const fdbDel: PeerOp[] = [];
  if (removeStale) {
    for (const f of curFdbList) {
      const key = `${f.dev}|${f.lladdr}|${f.dst}`;
      if (!wantFdb.has(key)) {
        fdbDel.push({
          object: "fdb",
          action: "delete",
          fdb: { dev: f.dev, lladdr: f.lladdr, dst: f.dst! },
        });
      }
    }
  }

  // routes (a route without a metric gets 0 from IPv4 and 1024 from IPv6)
  const defaultMetric = plan.family === 6 ? 1024 : 0;
  const curRoute = new Map<string, Route>();
  for (const r of state.routes) {
    if (r.type === RTN_UNICAST && r.priority === defaultMetric)
      curRoute.set(`${r.table}|${r.dst}`, r);
  }
  const wantRoute = new Map<string, RouteOp>();
  for (const r of plan.routes) {
    const dst = canonicalCidr(r.dst);
    const table = r.table ?? RT_TABLE_MAIN;
    wantRoute.set(`${table}|${dst}`, {
      dst,
      gateway: r.gateway === null ? null : canonicalIP(r.gateway),
      dev: r.dev,
      onlink: r.onlink,
      table,
      priority: 0,
    });
  }
  const routeAdd: PeerOp[] = [];
  for (const [key, r] of wantRoute) {
    const cur = curRoute.get(key);
    const same =
      cur !== undefined &&
      cur.gateway === r.gateway &&
      cur.onlink === r.onlink &&
      (r.dev === null || cur.dev === r.dev);
    if (same) unchanged++;
    else routeAdd.push({ object: "route", action: "replace", route: r });
  }
  const routeDel: PeerOp[] = [];
  if (removeStale) {
    for (const r of state.routes) {
      if (r.type !== RTN_UNICAST || r.gateway === null || r.dev === null || !owned.has(r.dev))
        continue;
      if (r.priority === defaultMetric && wantRoute.has(`${r.table}|${r.dst}`)) continue;
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
          priority: r.priority,
        },
      });
    }
  }

  return {
    ops: [...routeDel, ...fdbDel, ...neighDel, ...neighAdd, ...fdbAdd, ...routeAdd],
    unchanged,
  };
}

/** The netlink request of a peer change. @internal */
export function peerRequest(op: PeerOp, indexOf: (dev: string) => number): NlRequest {
  switch (op.object) {
    case "route": {
      const r = op.route;
      const dst = cidrWire(r.dst);
      return routeRequest(op.action === "delete" ? "del" : "replace", {
        family: dst.family,
        dst: dst.bytes,
        dstLen: dst.prefixLen,
        gateway: r.gateway === null ? null : ipBytes(r.gateway).bytes,
        oif: r.dev === null ? null : indexOf(r.dev),
        table: r.table,
        onlink: r.onlink,
        priority: r.priority,
      });
    }
    case "neighbor":
      return neighRequest(op.action === "delete" ? "del" : "replace", {
        index: indexOf(op.neigh.dev),
        ip: ipBytes(op.neigh.ip).bytes,
        lladdr: op.neigh.lladdr === null ? null : macBytes(op.neigh.lladdr),
      });
    case "fdb":
      return fdbRequest(op.action === "delete" ? "del" : op.action, {
        index: indexOf(op.fdb.dev),
        lladdr: macBytes(op.fdb.lladdr),
        dst: ipBytes(op.fdb.dst).bytes,
      });
  }
}

const ENOENT = -2;
const ESRCH = -3;

/** The device a peer change is on (`null`: a route the kernel resolves from its gateway). @internal */
export function peerDev(op: PeerOp): string | null {
  return op.object === "route"
    ? op.route.dev
    : op.object === "neighbor"
      ? op.neigh.dev
      : op.fdb.dev;
}

/** A peer change the kernel refused. @internal */
export interface PeerFailure {
  readonly command: string;
  readonly errno: string;
  readonly message: string;
}

/**
 * Sorts the kernel's answer to each sent peer change into `changes` or `failures`; deleting what
 * is already gone (ENOENT, ESRCH) counts as done. @internal
 */
export function collectPeerResults(
  sent: readonly PeerOp[],
  results: Int32Array,
  ns: string | null,
  changes: Change[],
  failures: PeerFailure[],
): void {
  for (let i = 0; i < sent.length; i++) {
    const op = sent[i]!;
    const err = results[i]!;
    const command = peerCommand(op, ns);
    if (err === 0 || (op.action === "delete" && (err === ENOENT || err === ESRCH))) {
      changes.push({ object: op.object, action: op.action, command });
    } else {
      const { name, text } = errnoName(err);
      failures.push({ command, errno: name, message: text });
    }
  }
}

/**
 * What applying a plan asks of a handle (`NetlinkHandle` has it): the apply modules depend on
 * this, not on the handle, so the handle can call them. @internal
 */
export interface PlanTarget {
  readonly netns: string | null;
  snapshot(options: CallOptions & { family?: 4 | 6 }): Promise<KernelSnapshot>;
  linkList(options?: CallOptions): Promise<Dump<Link>>;
  linkByName(name: string, options?: CallOptions): Promise<Link | null>;
  ensureVxlan(spec: VxlanSpec, options?: CallOptions): Promise<EnsureResult<VxlanLink>>;
  addrAdd(dev: string, cidr: string, options?: CallOptions): Promise<void>;
  addrDel(dev: string, cidr: string, options?: CallOptions): Promise<void>;
  linkSetUp(dev: string, options?: CallOptions): Promise<void>;
  execMany(reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Int32Array>;
}

/** `applyPlan`'s body. @internal */
export async function applyPlanWith(
  h: PlanTarget,
  plan: DataPlanePlan,
  options: ApplyOptions,
): Promise<ApplyReport> {
  const { signal } = options;
  const dryRun = options.dryRun ?? false;
  const ns = h.netns;
  throwIfAborted(signal);
  const changes: Change[] = [];
  let unchanged = 0;

  let state: KernelSnapshot = await h.snapshot({
    family: plan.family,
    ...(signal ? { signal } : {}),
  });
  const byName = (links: readonly Link[], name: string) =>
    links.find((l) => l.name === name) ?? null;

  // 1. the vxlan device
  let link: Link | null = null;
  let linkPending = false; // dry run: the device does not exist (yet) in its final form
  if (plan.link !== null) {
    const L = plan.link;
    const lower = L.lowerDevice === null ? null : byName(state.links, L.lowerDevice);
    if (L.lowerDevice !== null && lower === null) {
      throw netlinkError(
        "ENODEV",
        `ip link show ${L.lowerDevice}`,
        "no such device (the vxlan lower device)",
      );
    }
    const existing = byName(state.links, L.name);
    const reason =
      existing === null ? null : vxlanIncompatibility(L, lower?.index ?? null, existing);
    if (existing !== null && reason === null) {
      unchanged++;
      link = existing;
    } else {
      if (existing !== null) {
        changes.push({
          object: "link",
          action: "delete",
          command: cmdLinkDel(L.name, ns),
          reason: reason!,
        });
      }
      changes.push({
        object: "link",
        action: existing === null ? "create" : "recreate",
        command: cmdVxlanAdd(L, ns),
        ...(reason === null ? {} : { reason }),
      });
      if (dryRun) linkPending = true;
      else {
        link = (await h.ensureVxlan(L, { signal })).link;
        // A new device holds nothing yet, and whatever the old one held went with it: only the
        // link list needs reading again.
        const gone = existing?.name ?? null;
        const links = await h.linkList({ signal });
        state = {
          family: state.family,
          links,
          addrs: state.addrs.filter((a) => a.dev !== gone),
          neighs: state.neighs.filter((n) => n.dev !== gone),
          fdb: state.fdb.filter((f) => f.dev !== gone),
          routes: state.routes.filter((r) => r.dev !== gone),
          interrupted: state.interrupted || links.interrupted,
        };
      }
    }
  }

  // 2. addresses (flannel: the /32 on flannel.N, others inside Network removed)
  for (const ap of plan.addresses) {
    const want = cidrParts(ap.address);
    const onDev =
      linkPending && ap.dev === plan.link?.name ? [] : state.addrs.filter((a) => a.dev === ap.dev);
    const within = ap.exclusiveWithin === null ? null : parseCidr(ap.exclusiveWithin);
    let present = false;
    for (const a of onDev) {
      if (a.ip === want.ip && a.prefixLen === want.prefixLen) {
        present = true;
        continue;
      }
      if (within !== null && within.family === a.family && within.contains(a.ip)) {
        changes.push({
          object: "address",
          action: "delete",
          command: cmdAddr("del", ap.dev, a.cidr, null, ns),
        });
        if (!dryRun) await h.addrDel(ap.dev, a.cidr, { signal });
      }
    }
    if (present) unchanged++;
    else {
      changes.push({
        object: "address",
        action: "add",
        command: cmdAddr("add", ap.dev, want.cidr, null, ns),
      });
      if (!dryRun) await h.addrAdd(ap.dev, want.cidr, { signal });
    }
  }

  // 3. link up, after its address as flannel does
  if (plan.link !== null) {
    const current = linkPending ? null : byName(state.links, plan.link.name);
    if (current === null || !current.up) {
      changes.push({
        object: "link",
        action: "up",
        command: cmdLinkSet(plan.link.name, { up: true }, ns),
      });
      if (!dryRun) await h.linkSetUp(plan.link.name, { signal });
    }
  }

  // 4. neighbours, FDB, routes
  const diff = diffPeers(plan, state);
  unchanged += diff.unchanged;
  const failures: PeerFailure[] = [];
  if (dryRun) {
    for (const op of diff.ops)
      changes.push({ object: op.object, action: op.action, command: peerCommand(op, ns) });
  } else if (diff.ops.length > 0) {
    const index = new Map(state.links.map((l) => [l.name, l.index]));
    const reqs: NlRequest[] = [];
    const sent: PeerOp[] = [];
    for (const op of diff.ops) {
      const dev = peerDev(op);
      if (dev !== null && !index.has(dev)) {
        failures.push({
          command: peerCommand(op, ns),
          errno: "ENODEV",
          message: `no such device: ${dev}`,
        });
        continue;
      }
      reqs.push(peerRequest(op, (d) => index.get(d)!));
      sent.push(op);
    }
    collectPeerResults(sent, await h.execMany(reqs, signal), ns, changes, failures);
  }

  const linkTouched = changes.some((c) => c.object === "link");
  if (!dryRun && plan.link !== null && linkTouched)
    link = await h.linkByName(plan.link.name, { signal });
  const report: ApplyReport = {
    dryRun,
    changes,
    commands: changes.map((c) => c.command),
    unchanged,
    link,
    interrupted: state.interrupted,
  };
  if (failures.length > 0) {
    const first = failures[0]!;
    throw netlinkError(
      first.errno,
      first.command,
      `${first.message}; ${failures.length} of ${diff.ops.length} neighbour/FDB/route operations failed`,
      { failures, report },
    );
  }
  return report;
}
