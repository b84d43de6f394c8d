/**
 * Plan application: compare a `DataPlanePlan` with the kernel, change only what differs, and
 * remove what the plan's ownership scope holds but the plan does not. The comparison of the
 * addresses and peers is core's reconciler (`reconcileAddresses`, `reconcilePeers`), the one
 * diagnose reports from; this module sends its operations.
 */
import {
  type DataPlanePlan,
  type PeerOp,
  reconcileAddresses,
  reconcilePeers,
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
import { cidrWire, ipBytes, macBytes } from "./nl/address.js";
import { fdbRequest, type NlRequest, neighRequest, routeRequest } from "./nl/messages.js";
import type {
  CallOptions,
  Dump,
  EnsureResult,
  KernelSnapshot,
  Link,
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
const ENODEV = -19;

/**
 * Whether the kernel's answer to a peer change could come from a stale device index: no such
 * device (ENODEV), or a delete that found nothing (ENOENT, ESRCH — a route delete matches on
 * its output device, so an index nobody has any more finds nothing). @internal
 */
export function mayBeStaleIndex(op: PeerOp, err: number): boolean {
  return err === ENODEV || goneAlready(op, err);
}

/** A delete of what is already gone: done. */
const goneAlready = (op: PeerOp, err: number) =>
  op.action === "delete" && (err === ENOENT || err === ESRCH);

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
    if (err === 0 || goneAlready(op, err)) {
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
  /**
   * Device indexes by name that `applyPlanChange` looked up since the last `applyPlan` (which
   * empties it: a full apply may have recreated a device).
   */
  readonly stepIndexes: Map<string, number>;
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
  h.stepIndexes.clear();
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
  const addrs = linkPending ? state.addrs.filter((a) => a.dev !== plan.link?.name) : state.addrs;
  const addresses = reconcileAddresses(plan, addrs);
  unchanged += addresses.unchanged;
  for (const op of addresses.ops) {
    changes.push({
      object: "address",
      action: op.action === "add" ? "add" : "delete",
      command: cmdAddr(op.action === "add" ? "add" : "del", op.dev, op.cidr, null, ns),
    });
    if (dryRun) continue;
    if (op.action === "add") await h.addrAdd(op.dev, op.cidr, { signal });
    else await h.addrDel(op.dev, op.cidr, { signal });
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
  const diff = reconcilePeers(plan, state, { stale: !state.interrupted });
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
