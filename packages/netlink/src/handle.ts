/**
 * `NetlinkHandle`: one rtnetlink conversation bound to one network namespace, with typed
 * operations named as iproute2 names them (vishvananda/netlink's `Handle`, in TypeScript). The
 * handle is the facade: each operation lives in the module of its object (links, addresses,
 * routes, neighbours, the snapshot, the link subscription, the plan appliers), which takes the
 * narrow {@link Rtnl} request interface rather than the handle.
 */

import type { DataPlanePlan } from "@flannel-sdk/core";
import { type IPFamily, throwIfAborted } from "@flannel-sdk/core";
import { type ApplyOptions, type ApplyReport, applyPlanWith } from "./apply.js";
import { applyPlanChangeWith } from "./apply-change.js";
import { channelOpener, type OpenChannel } from "./channel-opener.js";
import type { NlRequest } from "./nl/messages.js";
import { addrEnsureExclusive, addrList, addrOp, ifconfigAddress } from "./ops/addresses.js";
import {
  ensureBridge,
  ensureVxlan,
  linkDel,
  linkGet,
  linkIndex,
  linkList,
  linkSet,
} from "./ops/links.js";
import { fdbList, fdbOp, neighDel, neighList, neighReplace } from "./ops/neighbours.js";
import { routeGet, routeList, routeOp } from "./ops/routes.js";
import type { Rtnl } from "./ops/rtnl.js";
import { snapshot } from "./ops/snapshot.js";
import { type LinkSubscription, subscribeLinks } from "./subscription.js";
import { Connection } from "./transport/connection.js";
import type {
  Addr,
  BridgeSpec,
  CallOptions,
  DeviceRef,
  Dump,
  EnsureResult,
  FdbEntry,
  FdbSpec,
  KernelSnapshot,
  Link,
  Neigh,
  NeighSpec,
  Route,
  RouteSpec,
  VxlanLink,
  VxlanSpec,
} from "./types.js";

/** Options of {@link openHandle}. */
export interface OpenHandleOptions {
  /**
   * Network namespace: a name under `/run/netns` (as `ip netns add` makes), or a path
   * (`/proc/1234/ns/net`); absent or `null` for the current one.
   */
  readonly netns?: string | null;
  readonly signal?: AbortSignal;
}

/**
 * A netlink handle bound to one network namespace. Open with {@link openHandle}; close with
 * `close()` (or `await using`).
 *
 * @example
 * ```ts
 * await using h = await openHandle({ netns: "blue" });
 * await h.routeReplace({ dst: "10.1.2.0/24", gateway: "10.1.2.0", dev: "flannel.1", onlink: true });
 * ```
 */
export class NetlinkHandle implements AsyncDisposable {
  /** @internal */
  constructor(
    private readonly conn: Connection,
    /** The namespace name or path, or `null` for the current one. */
    readonly netns: string | null,
    private readonly openChannel: OpenChannel,
  ) {
    this.rt = {
      netns,
      batch: (reqs, signal) => conn.batch(reqs, signal),
      get: (req, signal) => conn.get(req, signal),
      dump: (req, signal) => conn.dump(req, signal),
    };
  }

  /** The request side of {@link conn}, which the operation modules take. */
  private readonly rt: Rtnl;

  /** Device indexes `applyPlanChange` reuses until the next `applyPlan`. @internal */
  readonly stepIndexes = new Map<string, number>();

  // ---- plumbing ---------------------------------------------------------------------------

  /** Runs requests in order; returns per-request negative errno or 0. @internal */
  execMany(reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Int32Array> {
    return this.conn.batch(reqs, signal);
  }

  /** Index of a device given by name or index. @throws FlannelError `NETLINK_ERROR` (ENODEV) */
  linkIndex(dev: DeviceRef, options: CallOptions = {}): Promise<number> {
    return linkIndex(this.rt, dev, options.signal);
  }

  /**
   * One consistent read of the kernel state flannel's data plane is made of (what `applyPlan`
   * compares a plan with, and what `diagnose` checks): every link, and the addresses,
   * neighbours and routes (every table) of `family` (default 4), and the bridge FDB. The five
   * dumps go out together (one write to a namespace agent) and device names are resolved from
   * the one link dump. A dump the kernel flags as interrupted (`NLM_F_DUMP_INTR`: the table
   * changed while it was read) is read again, up to 3 times; `interrupted` says the last read
   * still was.
   *
   * @throws FlannelError `NETLINK_ERROR`, `ABORTED`
   * @example
   * ```ts
   * const s = await h.snapshot({ family: 4 });
   * const onFlannel = s.routes.filter((r) => r.dev === "flannel.1");
   * ```
   */
  snapshot(options: CallOptions & { family?: IPFamily } = {}): Promise<KernelSnapshot> {
    return snapshot(this.rt, options.family ?? 4, options.signal);
  }

  // ---- links ------------------------------------------------------------------------------

  /**
   * Every device (`ip link show`).
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const names = (await h.linkList()).map((l) => l.name);
   * ```
   */
  linkList(options: CallOptions = {}): Promise<Dump<Link>> {
    return linkList(this.rt, options.signal);
  }

  /**
   * The device called `name`, or `null` when there is none.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const dev = await h.linkByName("flannel.1");
   * ```
   */
  linkByName(name: string, options: CallOptions = {}): Promise<Link | null> {
    return linkGet(this.rt, { name }, options.signal);
  }

  /**
   * The device with this index, or `null` when there is none.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const lo = await h.linkByIndex(1);
   * ```
   */
  linkByIndex(index: number, options: CallOptions = {}): Promise<Link | null> {
    return linkGet(this.rt, { index }, options.signal);
  }

  /**
   * Ensures the vxlan device `spec.name` exists with flannel's compatibility rule
   * (`vxlanLinksIncompat`, flannel `pkg/backend/vxlan/device.go`; {@link vxlanIncompatibility}):
   * an existing compatible device (same kind and VNI; same lower device, local IP and port when
   * both sides set them; same GBP; no L2MISS) is reused unchanged; an incompatible one is
   * deleted and recreated. MTU and MAC apply at creation only, as in flannel.
   *
   * @throws FlannelError `NETLINK_ERROR` (EPERM without CAP_NET_ADMIN, ENODEV for a missing lower device, EEXIST when another vxlan device uses the VNI and port)
   * @example
   * ```ts
   * const { link, action } = await h.ensureVxlan({ name: "flannel.1", vni: 1, local: "10.0.0.1", lowerDevice: "eth0", mtu: 1450 });
   * ```
   */
  ensureVxlan(spec: VxlanSpec, options: CallOptions = {}): Promise<EnsureResult<VxlanLink>> {
    return ensureVxlan(this.rt, spec, options.signal);
  }

  /**
   * Ensures a bridge `spec.name` exists (`ip link add NAME type bridge`); an existing bridge is
   * reused unchanged.
   * @throws FlannelError `NETLINK_ERROR` (EEXIST when a device of that name is not a bridge)
   * @example
   * ```ts
   * await h.ensureBridge({ name: "cni0", mtu: 1450 });
   * ```
   */
  ensureBridge(spec: BridgeSpec, options: CallOptions = {}): Promise<EnsureResult<Link>> {
    return ensureBridge(this.rt, spec, options.signal);
  }

  /**
   * `ip link set dev DEV up`.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.linkSetUp("flannel.1");
   * ```
   */
  linkSetUp(dev: DeviceRef, options: CallOptions = {}): Promise<void> {
    return linkSet(this.rt, dev, { up: true }, options.signal);
  }

  /**
   * `ip link set dev DEV down`.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.linkSetDown("flannel.1");
   * ```
   */
  linkSetDown(dev: DeviceRef, options: CallOptions = {}): Promise<void> {
    return linkSet(this.rt, dev, { up: false }, options.signal);
  }

  /**
   * `ip link set dev DEV mtu N`.
   * @throws FlannelError `NETLINK_ERROR` (EINVAL for an MTU the device refuses)
   * @example
   * ```ts
   * await h.linkSetMtu("flannel.1", 1450);
   * ```
   */
  linkSetMtu(dev: DeviceRef, mtu: number, options: CallOptions = {}): Promise<void> {
    return linkSet(this.rt, dev, { mtu }, options.signal);
  }

  /**
   * `ip link set dev DEV address MAC`.
   * @throws FlannelError `NETLINK_ERROR`, `INVALID_ARGUMENT` (malformed MAC)
   * @example
   * ```ts
   * await h.linkSetHardwareAddr("flannel.1", "0a:58:0a:01:02:03");
   * ```
   */
  linkSetHardwareAddr(dev: DeviceRef, mac: string, options: CallOptions = {}): Promise<void> {
    return linkSet(this.rt, dev, { mac }, options.signal);
  }

  /**
   * `ip link del dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (ENODEV when it does not exist)
   * @example
   * ```ts
   * await h.linkDel("flannel.1");
   * ```
   */
  linkDel(dev: DeviceRef, options: CallOptions = {}): Promise<void> {
    return linkDel(this.rt, dev, options.signal);
  }

  // ---- addresses --------------------------------------------------------------------------

  /**
   * Addresses (`ip addr show [dev DEV]`), optionally of one family and one device.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const v4 = await h.addrList({ dev: "flannel.1", family: 4 });
   * ```
   */
  addrList(
    options: CallOptions & { dev?: DeviceRef; family?: IPFamily } = {},
  ): Promise<Dump<Addr>> {
    const { signal, ...filter } = options;
    return addrList(this.rt, filter, signal);
  }

  /**
   * `ip addr add CIDR dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (EEXIST when present)
   * @example
   * ```ts
   * await h.addrAdd("flannel.1", "172.30.8.0/32");
   * ```
   */
  addrAdd(dev: DeviceRef, cidr: string, options: CallOptions & { broadcast?: string } = {}) {
    return addrOp(this.rt, "add", dev, cidr, options.broadcast ?? null, options.signal);
  }

  /**
   * `ip addr replace CIDR dev DEV` (adds, or updates the existing address's attributes).
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.addrReplace("cni0", "172.30.8.1/24");
   * ```
   */
  addrReplace(dev: DeviceRef, cidr: string, options: CallOptions & { broadcast?: string } = {}) {
    return addrOp(this.rt, "replace", dev, cidr, options.broadcast ?? null, options.signal);
  }

  /**
   * `ip addr del CIDR dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (EADDRNOTAVAIL when absent)
   * @example
   * ```ts
   * await h.addrDel("flannel.1", "172.30.8.0/32");
   * ```
   */
  addrDel(dev: DeviceRef, cidr: string, options: CallOptions = {}) {
    return addrOp(this.rt, "del", dev, cidr, null, options.signal);
  }

  /**
   * flannel's `EnsureV4AddressOnLink` (`pkg/ip/iface.go`): `cidr` ends up on `dev`, and every
   * other address of the same family on `dev` that lies inside `within` (the flannel `Network`)
   * is removed.
   * Addresses outside `within` are left alone.
   *
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.addrEnsureExclusive("flannel.1", "172.30.8.0/32", "172.30.0.0/16");
   * ```
   */
  addrEnsureExclusive(
    dev: DeviceRef,
    cidr: string,
    within: string,
    options: CallOptions = {},
  ): Promise<{ added: boolean; removed: string[] }> {
    return addrEnsureExclusive(this.rt, dev, cidr, within, options.signal);
  }

  /**
   * The install guide's `ifconfig docker0 $FLANNEL_SUBNET` as a call: `cidr` becomes the one
   * IPv4 address of `dev` (other IPv4 addresses labelled `dev` are removed; `dev:N` aliases and
   * IPv6 stay), with the broadcast address ifconfig derives (`addr | ~mask` below /31), and the
   * device is brought up, as ifconfig does when it sets an address. Nothing changes when it
   * already holds exactly that.
   *
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.ifconfigAddress("docker0", "172.30.8.1/24"); // FLANNEL_SUBNET
   * ```
   */
  ifconfigAddress(
    dev: DeviceRef,
    cidr: string,
    options: CallOptions = {},
  ): Promise<{ changed: boolean; removed: string[] }> {
    return ifconfigAddress(this.rt, dev, cidr, options.signal);
  }

  // ---- routes -----------------------------------------------------------------------------

  /**
   * Routes of every table (`ip route show table all`), optionally one family, table or device.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const main = await h.routeList({ family: 4, table: 254 });
   * ```
   */
  routeList(
    options: CallOptions & { family?: IPFamily; table?: number; dev?: DeviceRef } = {},
  ): Promise<Dump<Route>> {
    const { signal, ...filter } = options;
    return routeList(this.rt, filter, signal);
  }

  /**
   * `ip route replace DST [via GW] [dev DEV] [onlink] [table T]`.
   * @throws FlannelError `NETLINK_ERROR` (ENETUNREACH for an unreachable gateway without onlink)
   * @example
   * ```ts
   * await h.routeReplace({ dst: "10.1.2.0/24", gateway: "10.1.2.0", dev: "flannel.1", onlink: true });
   * ```
   */
  routeReplace(route: RouteSpec, options: CallOptions = {}): Promise<void> {
    return routeOp(this.rt, "replace", route, options.signal);
  }

  /**
   * `ip route add …` (fails with EEXIST when the route exists).
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.routeAdd({ dst: "10.1.2.0/24", gateway: "192.168.1.2", dev: "eth0" });
   * ```
   */
  routeAdd(route: RouteSpec, options: CallOptions = {}): Promise<void> {
    return routeOp(this.rt, "add", route, options.signal);
  }

  /**
   * `ip route del DST [via GW] [dev DEV] [table T]`.
   * @throws FlannelError `NETLINK_ERROR` (ESRCH when no such route)
   * @example
   * ```ts
   * await h.routeDel({ dst: "10.1.2.0/24", gateway: "10.1.2.0", dev: "flannel.1" });
   * ```
   */
  routeDel(route: RouteSpec, options: CallOptions = {}): Promise<void> {
    return routeOp(this.rt, "del", route, options.signal);
  }

  /**
   * `ip route get ADDR`: the route the kernel would use.
   * @throws FlannelError `NETLINK_ERROR` (ENETUNREACH)
   * @example
   * ```ts
   * const r = await h.routeGet("10.0.0.2"); // r.dev, r.gateway, r.prefsrc
   * ```
   */
  routeGet(ip: string, options: CallOptions = {}): Promise<Route> {
    return routeGet(this.rt, ip, options.signal);
  }

  // ---- neighbours -------------------------------------------------------------------------

  /**
   * Neighbours (`ip neigh show [dev DEV]`), optionally of one family and device.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const arp = await h.neighList({ dev: "flannel.1", family: 4 });
   * ```
   */
  neighList(
    options: CallOptions & { dev?: DeviceRef; family?: IPFamily } = {},
  ): Promise<Dump<Neigh>> {
    const { signal, ...filter } = options;
    return neighList(this.rt, filter, signal);
  }

  /**
   * `ip neigh replace IP lladdr MAC dev DEV nud permanent` (flannel's `NeighSet`).
   * @throws FlannelError `NETLINK_ERROR`, `INVALID_ARGUMENT`
   * @example
   * ```ts
   * await h.neighReplace({ dev: "flannel.1", ip: "10.1.2.0", lladdr: "0a:58:0a:01:02:03" });
   * ```
   */
  neighReplace(n: NeighSpec, options: CallOptions = {}): Promise<void> {
    return neighReplace(this.rt, n, options.signal);
  }

  /**
   * `ip neigh del IP dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (ENOENT when absent)
   * @example
   * ```ts
   * await h.neighDel({ dev: "flannel.1", ip: "10.1.2.0" });
   * ```
   */
  neighDel(n: { dev: DeviceRef; ip: string }, options: CallOptions = {}): Promise<void> {
    return neighDel(this.rt, n, options.signal);
  }

  // ---- FDB --------------------------------------------------------------------------------

  /**
   * Bridge FDB entries (`bridge fdb show [dev DEV]`).
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const remotes = (await h.fdbList({ dev: "flannel.1" })).filter((f) => f.dst !== null);
   * ```
   */
  fdbList(options: CallOptions & { dev?: DeviceRef } = {}): Promise<Dump<FdbEntry>> {
    const { signal, ...filter } = options;
    return fdbList(this.rt, filter, signal);
  }

  /**
   * `bridge fdb replace MAC dev DEV dst IP self permanent` (flannel's `AddFDB`).
   * @throws FlannelError `NETLINK_ERROR`, `INVALID_ARGUMENT`
   * @example
   * ```ts
   * await h.fdbReplace({ dev: "flannel.1", lladdr: "0a:58:0a:01:02:03", dst: "192.168.1.12" });
   * ```
   */
  fdbReplace(f: FdbSpec, options: CallOptions = {}): Promise<void> {
    return fdbOp(this.rt, "replace", f, options.signal);
  }

  /**
   * `bridge fdb append MAC dev DEV dst IP self permanent`: adds one more remote for `MAC`; with
   * the all-zero MAC this is the head-end-replication form (flood to every listed VTEP).
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * await h.fdbAppend({ dev: "vx0", lladdr: "00:00:00:00:00:00", dst: "192.168.1.12" });
   * ```
   */
  fdbAppend(f: FdbSpec, options: CallOptions = {}): Promise<void> {
    return fdbOp(this.rt, "append", f, options.signal);
  }

  /**
   * `bridge fdb del MAC dev DEV dst IP self`: removes that one remote.
   * @throws FlannelError `NETLINK_ERROR` (ENOENT when absent)
   * @example
   * ```ts
   * await h.fdbDel({ dev: "flannel.1", lladdr: "0a:58:0a:01:02:03", dst: "192.168.1.12" });
   * ```
   */
  fdbDel(f: FdbSpec, options: CallOptions = {}): Promise<void> {
    return fdbOp(this.rt, "del", f, options.signal);
  }

  // ---- plans and events -------------------------------------------------------------------

  /**
   * Applies a data-plane plan from `@flannel-sdk/core`: reads the current state, changes only
   * what differs, removes what the plan's `owned` scope holds and the plan does not, and reports
   * every change as the `ip` / `bridge` command that makes it. With `dryRun` nothing changes and
   * the report lists what would.
   *
   * @throws FlannelError `NETLINK_ERROR` (with `details.failures` and `details.report` when some operations failed)
   * @example
   * ```ts
   * const report = await h.applyPlan(plan);
   * for (const c of report.commands) console.log(c);
   * ```
   */
  applyPlan(plan: DataPlanePlan, options: ApplyOptions = {}): Promise<ApplyReport> {
    return applyPlanWith(this, plan, options);
  }

  /**
   * Applies the step from plan `before` (what the last `applyPlan` / `applyPlanChange` put in
   * place) to plan `after` without reading the kernel: only the neighbours, FDB entries and
   * routes that differ between the two plans are sent, in one batch. What a lease event needs,
   * at a cost that does not grow with the number of leases. When the step is more than peers (the
   * device, its addresses or MTU differ; an FDB append is needed; a device is gone) it falls
   * back to `applyPlan(after)`. The devices' indexes are looked up once and reused until the
   * next `applyPlan`; a device deleted and made again meanwhile is noticed (the kernel refuses
   * the old index) and the step becomes a full apply. Something changed in the kernel behind the
   * caller's back is not seen: keep calling `applyPlan` now and then (flanneld-ts does every 10 s).
   *
   * @throws FlannelError `NETLINK_ERROR` (with `details.failures` and `details.report` when some operations failed), `ABORTED`
   * @example
   * ```ts
   * let applied = planVxlan(input);
   * await h.applyPlan(applied);
   * // a lease event later:
   * const next = planVxlan({ ...input, leases: watcher.leases });
   * await h.applyPlanChange(applied, next);
   * applied = next;
   * ```
   */
  applyPlanChange(
    before: DataPlanePlan,
    after: DataPlanePlan,
    options: ApplyOptions = {},
  ): Promise<ApplyReport> {
    return applyPlanChangeWith(this, before, after, options);
  }

  /**
   * Subscribes to link changes (`ip monitor link`): every new, changed and deleted device, so a
   * consumer can recreate a deleted vxlan device as flanneld does. The subscription has its own
   * socket; `close()` it (or abort `signal`) to stop.
   *
   * @throws FlannelError `NETLINK_ERROR` (also when the handle's agent died), `HANDLE_CLOSED`, `ABORTED`
   * @example
   * ```ts
   * for await (const ev of await h.linkSubscribe()) {
   *   if (ev.type === "del" && ev.link.name === "flannel.1") await h.ensureVxlan(spec);
   * }
   * ```
   */
  async linkSubscribe(options: CallOptions = {}): Promise<LinkSubscription> {
    throwIfAborted(options.signal);
    const closed = this.conn.closedReason;
    if (closed !== null) throw closed;
    return subscribeLinks(this.openChannel, options.signal);
  }

  /**
   * True once the handle can no longer talk to the kernel: after `close()`, or when its socket
   * or namespace agent died (every call then fails with `NETLINK_ERROR`, not retryable, saying
   * so). A long-running consumer opens a new handle then.
   */
  get closed(): boolean {
    return this.conn.closedReason !== null;
  }

  /**
   * Closes the socket (and ends the namespace agent); pending and later calls fail with
   * `HANDLE_CLOSED` (on a handle whose agent had died, with the `NETLINK_ERROR` saying so).
   * Idempotent.
   */
  close(): void {
    this.conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * Opens a handle bound to a network namespace: a name under `/run/netns`, a path, or (absent)
 * the current one. Other namespaces are entered by a small agent process (`nsenter`), which
 * needs root.
 *
 * @throws FlannelError `NETLINK_ERROR` (EPERM without root for another namespace; ENOENT for a missing one), `NETLINK_UNSUPPORTED` (not Linux, or the optional native `netlink` package is missing), `ABORTED`
 * @example
 * ```ts
 * await using h = await openHandle({ netns: "blue" });
 * console.log((await h.linkList()).map((l) => l.name));
 * ```
 */
export async function openHandle(options: OpenHandleOptions = {}): Promise<NetlinkHandle> {
  throwIfAborted(options.signal);
  const netns = options.netns ?? null;
  const openChannel = channelOpener(netns);
  const conn = new Connection(netns === null ? "netlink" : `netlink (netns ${netns})`);
  conn.attach(await openChannel(conn.events, options.signal));
  return new NetlinkHandle(conn, netns, openChannel);
}
