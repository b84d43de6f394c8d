/**
 * `NetlinkHandle`: one rtnetlink conversation bound to one network namespace, with typed
 * operations named as iproute2 names them (vishvananda/netlink's `Handle`, in TypeScript).
 */

import type { DataPlanePlan } from "@flannel-sdk/core";
import { FlannelError, type IPFamily, parseCidr, throwIfAborted } from "@flannel-sdk/core";
import { type ApplyOptions, type ApplyReport, applyPlanWith } from "./apply.js";
import { applyPlanChangeWith } from "./apply-change.js";
import {
  cmdAddr,
  cmdBridgeAdd,
  cmdFdb,
  cmdLinkDel,
  cmdLinkSet,
  cmdNeigh,
  cmdRoute,
  cmdVxlanAdd,
} from "./commands.js";
import { kernelError, netlinkError } from "./errors.js";
import { cidrParts, ipBytes, ipText, macBytes } from "./nl/address.js";
import {
  AF_BRIDGE,
  AF_INET,
  AF_INET6,
  RT_TABLE_MAIN,
  RTM_DELLINK,
  RTM_NEWLINK,
  RTNLGRP_LINK,
} from "./nl/constants.js";
import {
  addrDumpRequest,
  addrRequest,
  bridgeNewRequest,
  decodeAddr,
  decodeFdb,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  fdbRequest,
  linkDelRequest,
  linkDumpRequest,
  linkGetRequest,
  linkSetRequest,
  type NlRequest,
  neighDumpRequest,
  neighRequest,
  routeDumpRequest,
  routeGetRequest,
  routeRequest,
  vxlanNewRequest,
} from "./nl/messages.js";
import { parseMessages } from "./nl/wire.js";
import { LinkSubscription } from "./subscription.js";
import type { Channel, ChannelEvents } from "./transport/channel.js";
import { openLocalChannel } from "./transport/channel.js";
import { Connection } from "./transport/connection.js";
import { netnsPath, openNetnsChannel } from "./transport/netns-channel.js";
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
import { vxlanIncompatibility } from "./vxlan-compat.js";

/** Options of {@link openHandle}. */
export interface OpenHandleOptions {
  /**
   * Network namespace: a name under `/run/netns` (as `ip netns add` makes), or a path
   * (`/proc/1234/ns/net`); absent or `null` for the current one.
   */
  readonly netns?: string | null;
  readonly signal?: AbortSignal;
}

function dumpOf<T>(items: T[], interrupted: boolean): Dump<T> {
  return Object.assign(items, { interrupted }) as Dump<T>;
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
    private readonly openChannel: (events: ChannelEvents, signal?: AbortSignal) => Promise<Channel>,
  ) {}

  // ---- plumbing ---------------------------------------------------------------------------

  private async exec(req: NlRequest, operation: string, signal?: AbortSignal): Promise<void> {
    const [err] = await this.conn.batch([req], signal);
    if (err !== 0) throw kernelError(err!, operation);
  }

  /** Runs requests in order; returns per-request negative errno or 0. @internal */
  async execMany(reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Int32Array> {
    return this.conn.batch(reqs, signal);
  }

  private async dumpRaw(req: NlRequest, operation: string, signal?: AbortSignal) {
    const r = await this.conn.dump(req, signal);
    if (typeof r === "number") throw kernelError(r, operation);
    return r;
  }

  private async names(signal?: AbortSignal): Promise<(index: number) => string> {
    const links = await this.linkList({ signal });
    const m = new Map(links.map((l) => [l.index, l.name]));
    return (i) => m.get(i) ?? `if${i}`;
  }

  /** Index of a device given by name or index. @throws FlannelError `NETLINK_ERROR` (ENODEV) */
  async linkIndex(dev: DeviceRef, options: CallOptions = {}): Promise<number> {
    if (typeof dev === "number") return dev;
    const link = await this.linkByName(dev, options);
    if (link === null) throw netlinkError("ENODEV", `ip link show ${dev}`, "no such device");
    return link.index;
  }

  private async devName(dev: DeviceRef, signal?: AbortSignal): Promise<string> {
    if (typeof dev === "string") return dev;
    const link = await this.linkByIndex(dev, { signal });
    return link?.name ?? `if${dev}`;
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
  async snapshot(options: CallOptions & { family?: IPFamily } = {}): Promise<KernelSnapshot> {
    const { signal } = options;
    const family = options.family ?? 4;
    const af = family === 4 ? AF_INET : AF_INET6;
    let last: KernelSnapshot | null = null;
    for (let attempt = 0; attempt < 3; attempt++) {
      // queued together: through a namespace agent the five dumps cross in one write
      const [l, a, n, f, r] = await Promise.all([
        this.dumpRaw(linkDumpRequest(), "ip link show", signal),
        this.dumpRaw(addrDumpRequest(family), "ip addr show", signal),
        this.dumpRaw(neighDumpRequest(af), "ip neigh show", signal),
        this.dumpRaw(neighDumpRequest(AF_BRIDGE), "bridge fdb show", signal),
        this.dumpRaw(routeDumpRequest(family), "ip route show", signal),
      ]);
      const linkItems: Link[] = [];
      for (const msg of l.messages)
        if (msg.type === RTM_NEWLINK) linkItems.push(decodeLink(msg.body));
      const links = dumpOf(linkItems, l.interrupted);
      const m = new Map(links.map((x) => [x.index, x.name]));
      const names = (i: number) => m.get(i) ?? `if${i}`;
      const pick = <T>(msgs: typeof a.messages, dec: (b: Buffer) => T | null): T[] => {
        const out: T[] = [];
        for (const msg of msgs) {
          const v = dec(msg.body);
          if (v !== null) out.push(v);
        }
        return out;
      };
      last = {
        family,
        links,
        addrs: pick(a.messages, (b) => decodeAddr(b, names)).filter((x) => x.family === family),
        neighs: pick(n.messages, (b) => decodeNeigh(b, names)).filter((x) => x.family === family),
        fdb: pick(f.messages, (b) => decodeFdb(b, names)),
        routes: pick(r.messages, (b) => decodeRoute(b, names)).filter((x) => x.family === family),
        interrupted:
          links.interrupted || a.interrupted || n.interrupted || f.interrupted || r.interrupted,
      };
      if (!last.interrupted) break;
    }
    return last!;
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
  async linkList(options: CallOptions = {}): Promise<Dump<Link>> {
    const r = await this.dumpRaw(linkDumpRequest(), "ip link show", options.signal);
    const out: Link[] = [];
    for (const m of r.messages) if (m.type === RTM_NEWLINK) out.push(decodeLink(m.body));
    return dumpOf(out, r.interrupted);
  }

  /**
   * The device called `name`, or `null` when there is none.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const dev = await h.linkByName("flannel.1");
   * ```
   */
  async linkByName(name: string, options: CallOptions = {}): Promise<Link | null> {
    return this.linkGet({ name }, `ip link show ${name}`, options.signal);
  }

  /**
   * The device with this index, or `null` when there is none.
   * @throws FlannelError `NETLINK_ERROR`
   * @example
   * ```ts
   * const lo = await h.linkByIndex(1);
   * ```
   */
  async linkByIndex(index: number, options: CallOptions = {}): Promise<Link | null> {
    return this.linkGet({ index }, `ip link show index ${index}`, options.signal);
  }

  private async linkGet(
    ref: { name: string } | { index: number },
    operation: string,
    signal?: AbortSignal,
  ): Promise<Link | null> {
    const r = await this.conn.get(linkGetRequest(ref), signal);
    if (typeof r === "number") {
      if (r === -19 || r === -2) return null; // ENODEV / ENOENT
      throw kernelError(r, operation);
    }
    return decodeLink(r.body);
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
  async ensureVxlan(spec: VxlanSpec, options: CallOptions = {}): Promise<EnsureResult<VxlanLink>> {
    return this.ensureVxlanOnce(spec, options, true);
  }

  private async ensureVxlanOnce(
    spec: VxlanSpec,
    options: CallOptions,
    retryOnExists: boolean,
  ): Promise<EnsureResult<VxlanLink>> {
    const { signal } = options;
    const lowerIndex =
      spec.lowerDevice == null ? null : await this.linkIndex(spec.lowerDevice, { signal });
    const existing = await this.linkByName(spec.name, { signal });
    let reason: string | null = null;
    if (existing !== null) {
      reason = vxlanIncompatibility(spec, lowerIndex, existing);
      if (reason === null) return { link: existing as VxlanLink, action: "reused", reason: null };
      await this.exec(linkDelRequest(existing.index), cmdLinkDel(spec.name, this.netns), signal);
    }
    const lowerName =
      spec.lowerDevice == null ? null : await this.devName(spec.lowerDevice, signal);
    const printable = {
      name: spec.name,
      vni: spec.vni,
      port: spec.port ?? 0,
      local: spec.local ?? null,
      lowerDevice: lowerName,
      learning: spec.learning ?? false,
      gbp: spec.gbp ?? false,
      mtu: spec.mtu ?? null,
      mac: spec.mac ?? null,
    };
    const req = vxlanNewRequest({
      ...printable,
      local: spec.local == null ? null : ipBytes(spec.local).bytes,
      lowerIndex,
      mac: spec.mac == null ? null : macBytes(spec.mac),
    });
    const [err] = await this.conn.batch([req], signal);
    if (err === -17 && existing === null && retryOnExists) {
      // created meanwhile by someone else: judge it like flannel does (once: EEXIST also means
      // that another vxlan device holds this VNI and port, which no retry changes)
      return this.ensureVxlanOnce(spec, options, false);
    }
    if (err === -17 && (await this.linkByName(spec.name, { signal })) === null) {
      throw netlinkError(
        "EEXIST",
        cmdVxlanAdd(printable, this.netns),
        `another vxlan device already uses VNI ${spec.vni} and port ${printable.port || 8472} (the kernel allows one per VNI and port): delete it or change the VNI`,
        { vni: spec.vni, port: printable.port || 8472 },
      );
    }
    if (err !== 0) throw kernelError(err!, cmdVxlanAdd(printable, this.netns));
    const link = await this.linkByName(spec.name, { signal });
    if (link === null || link.kind !== "vxlan") {
      throw netlinkError(
        "ENODEV",
        cmdVxlanAdd(printable, this.netns),
        "created vxlan device not found",
      );
    }
    return { link: link as VxlanLink, action: existing === null ? "created" : "recreated", reason };
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
  async ensureBridge(spec: BridgeSpec, options: CallOptions = {}): Promise<EnsureResult<Link>> {
    return this.ensureBridgeOnce(spec, options, true);
  }

  private async ensureBridgeOnce(
    spec: BridgeSpec,
    options: CallOptions,
    retryOnExists: boolean,
  ): Promise<EnsureResult<Link>> {
    const { signal } = options;
    const printable = { name: spec.name, mtu: spec.mtu ?? null, mac: spec.mac ?? null };
    const op = cmdBridgeAdd(printable, this.netns);
    const existing = await this.linkByName(spec.name, { signal });
    if (existing !== null) {
      if (existing.kind !== "bridge") {
        throw netlinkError(
          "EEXIST",
          op,
          `${spec.name} exists and is not a bridge (kind ${existing.kind ?? "none"})`,
        );
      }
      return { link: existing, action: "reused", reason: null };
    }
    const [err] = await this.conn.batch(
      [bridgeNewRequest({ ...printable, mac: spec.mac == null ? null : macBytes(spec.mac) })],
      signal,
    );
    if (err === -17 && retryOnExists) return this.ensureBridgeOnce(spec, options, false); // created meanwhile
    if (err !== 0) throw kernelError(err!, op);
    const link = await this.linkByName(spec.name, { signal });
    if (link === null) throw netlinkError("ENODEV", op, "created bridge not found");
    return { link, action: "created", reason: null };
  }

  private async linkSet(
    dev: DeviceRef,
    change: { up?: boolean; mtu?: number; mac?: string },
    signal?: AbortSignal,
  ): Promise<void> {
    const index = await this.linkIndex(dev, { signal });
    const op = cmdLinkSet(await this.devName(dev, signal), change, this.netns);
    const mac = change.mac === undefined ? undefined : macBytes(change.mac);
    await this.exec(
      linkSetRequest(index, {
        ...(change.up === undefined ? {} : { up: change.up }),
        ...(change.mtu === undefined ? {} : { mtu: change.mtu }),
        ...(mac === undefined ? {} : { mac }),
      }),
      op,
      signal,
    );
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
    return this.linkSet(dev, { up: true }, options.signal);
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
    return this.linkSet(dev, { up: false }, options.signal);
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
    return this.linkSet(dev, { mtu }, options.signal);
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
    return this.linkSet(dev, { mac }, options.signal);
  }

  /**
   * `ip link del dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (ENODEV when it does not exist)
   * @example
   * ```ts
   * await h.linkDel("flannel.1");
   * ```
   */
  async linkDel(dev: DeviceRef, options: CallOptions = {}): Promise<void> {
    const index = await this.linkIndex(dev, options);
    await this.exec(
      linkDelRequest(index),
      cmdLinkDel(await this.devName(dev, options.signal), this.netns),
      options.signal,
    );
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
  async addrList(
    options: CallOptions & { dev?: DeviceRef; family?: IPFamily } = {},
  ): Promise<Dump<Addr>> {
    const { signal } = options;
    const names = await this.names(signal);
    const index = options.dev === undefined ? null : await this.linkIndex(options.dev, { signal });
    const r = await this.dumpRaw(addrDumpRequest(options.family ?? null), "ip addr show", signal);
    const out: Addr[] = [];
    for (const m of r.messages) {
      const a = decodeAddr(m.body, names);
      if (a === null) continue;
      if (index !== null && a.index !== index) continue;
      if (options.family !== undefined && a.family !== options.family) continue;
      out.push(a);
    }
    return dumpOf(out, r.interrupted);
  }

  private async addrOp(
    mode: "add" | "replace" | "del",
    dev: DeviceRef,
    cidr: string,
    broadcast: string | null,
    signal?: AbortSignal,
  ): Promise<void> {
    const p = cidrParts(cidr);
    const index = await this.linkIndex(dev, { signal });
    await this.exec(
      addrRequest(mode, {
        index,
        family: p.family,
        ip: p.bytes,
        prefixLen: p.prefixLen,
        broadcast: broadcast === null ? null : ipBytes(broadcast).bytes,
      }),
      cmdAddr(mode, await this.devName(dev, signal), p.cidr, broadcast, this.netns),
      signal,
    );
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
    return this.addrOp("add", dev, cidr, options.broadcast ?? null, options.signal);
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
    return this.addrOp("replace", dev, cidr, options.broadcast ?? null, options.signal);
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
    return this.addrOp("del", dev, cidr, null, options.signal);
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
  async addrEnsureExclusive(
    dev: DeviceRef,
    cidr: string,
    within: string,
    options: CallOptions = {},
  ): Promise<{ added: boolean; removed: string[] }> {
    const { signal } = options;
    const want = cidrParts(cidr);
    const net = parseCidr(within);
    const current = await this.addrList({ dev, family: want.family, signal });
    const removed: string[] = [];
    let present = false;
    for (const a of current) {
      if (a.ip === want.ip && a.prefixLen === want.prefixLen) {
        present = true;
        continue;
      }
      if (net.family === a.family && net.contains(a.ip)) {
        await this.addrDel(dev, a.cidr, { signal });
        removed.push(a.cidr);
      }
    }
    if (!present) await this.addrAdd(dev, want.cidr, { signal });
    return { added: !present, removed };
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
  async ifconfigAddress(
    dev: DeviceRef,
    cidr: string,
    options: CallOptions = {},
  ): Promise<{ changed: boolean; removed: string[] }> {
    const { signal } = options;
    const want = cidrParts(cidr);
    if (want.family !== 4) {
      throw new FlannelError("INVALID_ARGUMENT", `ifconfig sets an IPv4 address, not ${cidr}`, {
        field: "cidr",
      });
    }
    const name = await this.devName(dev, signal);
    const broadcast = want.prefixLen < 31 ? ipv4Broadcast(want.ip, want.prefixLen) : null;
    const current = await this.addrList({ dev, family: 4, signal });
    const removed: string[] = [];
    let present = false;
    for (const a of current) {
      if (a.ip === want.ip && a.prefixLen === want.prefixLen && a.broadcast === broadcast) {
        present = true;
        continue;
      }
      if (a.label !== null && a.label !== name) continue;
      await this.addrDel(dev, a.cidr, { signal });
      removed.push(a.cidr);
    }
    if (!present || removed.length > 0) {
      const still =
        present &&
        (await this.addrList({ dev, family: 4, signal })).some((a) => a.cidr === want.cidr);
      if (!still)
        await this.addrAdd(dev, want.cidr, {
          signal,
          ...(broadcast === null ? {} : { broadcast }),
        });
    }
    const link = await this.linkByName(name, { signal });
    const wasUp = link?.up ?? false;
    if (!wasUp) await this.linkSetUp(dev, { signal });
    return { changed: !present || removed.length > 0 || !wasUp, removed };
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
  async routeList(
    options: CallOptions & { family?: IPFamily; table?: number; dev?: DeviceRef } = {},
  ): Promise<Dump<Route>> {
    const { signal } = options;
    const names = await this.names(signal);
    const index = options.dev === undefined ? null : await this.linkIndex(options.dev, { signal });
    const r = await this.dumpRaw(routeDumpRequest(options.family ?? null), "ip route show", signal);
    const out: Route[] = [];
    for (const m of r.messages) {
      const route = decodeRoute(m.body, names);
      if (route === null) continue;
      if (options.family !== undefined && route.family !== options.family) continue;
      if (options.table !== undefined && route.table !== options.table) continue;
      if (index !== null && route.index !== index) continue;
      out.push(route);
    }
    return dumpOf(out, r.interrupted);
  }

  /** Wire form of a route spec, with the device resolved. */
  private async routeWire(r: RouteSpec, signal?: AbortSignal) {
    const dst = cidrParts(r.dst);
    const oif = r.dev == null ? null : await this.linkIndex(r.dev, { signal });
    return {
      family: dst.family,
      dst: dst.bytes,
      dstLen: dst.prefixLen,
      gateway: r.gateway == null ? null : ipBytes(r.gateway).bytes,
      oif,
      table: r.table ?? RT_TABLE_MAIN,
      onlink: r.onlink ?? false,
      priority: r.priority ?? 0,
    };
  }

  private async routeOp(mode: "replace" | "add" | "del", r: RouteSpec, signal?: AbortSignal) {
    const wire = await this.routeWire(r, signal);
    const dev = r.dev == null ? null : await this.devName(r.dev, signal);
    await this.exec(routeRequest(mode, wire), cmdRoute(mode, { ...r, dev }, this.netns), signal);
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
    return this.routeOp("replace", route, options.signal);
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
    return this.routeOp("add", route, options.signal);
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
    return this.routeOp("del", route, options.signal);
  }

  /**
   * `ip route get ADDR`: the route the kernel would use.
   * @throws FlannelError `NETLINK_ERROR` (ENETUNREACH)
   * @example
   * ```ts
   * const r = await h.routeGet("10.0.0.2"); // r.dev, r.gateway, r.prefsrc
   * ```
   */
  async routeGet(ip: string, options: CallOptions = {}): Promise<Route> {
    const { bytes } = ipBytes(ip);
    const r = await this.conn.get(routeGetRequest(bytes), options.signal);
    if (typeof r === "number") throw kernelError(r, `ip route get ${ip}`);
    const names = await this.names(options.signal);
    const route = decodeRoute(r.body, names);
    if (route === null) throw netlinkError("EINVAL", `ip route get ${ip}`, "unexpected reply");
    return route;
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
  async neighList(
    options: CallOptions & { dev?: DeviceRef; family?: IPFamily } = {},
  ): Promise<Dump<Neigh>> {
    const { signal } = options;
    const names = await this.names(signal);
    const index = options.dev === undefined ? null : await this.linkIndex(options.dev, { signal });
    const af = options.family === undefined ? 0 : options.family === 4 ? AF_INET : AF_INET6;
    const r = await this.dumpRaw(neighDumpRequest(af), "ip neigh show", signal);
    const out: Neigh[] = [];
    for (const m of r.messages) {
      const n = decodeNeigh(m.body, names);
      if (n === null) continue;
      if (index !== null && n.index !== index) continue;
      if (options.family !== undefined && n.family !== options.family) continue;
      out.push(n);
    }
    return dumpOf(out, r.interrupted);
  }

  /**
   * `ip neigh replace IP lladdr MAC dev DEV nud permanent` (flannel's `NeighSet`).
   * @throws FlannelError `NETLINK_ERROR`, `INVALID_ARGUMENT`
   * @example
   * ```ts
   * await h.neighReplace({ dev: "flannel.1", ip: "10.1.2.0", lladdr: "0a:58:0a:01:02:03" });
   * ```
   */
  async neighReplace(n: NeighSpec, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    const index = await this.linkIndex(n.dev, { signal });
    await this.exec(
      neighRequest("replace", { index, ip: ipBytes(n.ip).bytes, lladdr: macBytes(n.lladdr) }),
      cmdNeigh("replace", { ...n, dev: await this.devName(n.dev, signal) }, this.netns),
      signal,
    );
  }

  /**
   * `ip neigh del IP dev DEV`.
   * @throws FlannelError `NETLINK_ERROR` (ENOENT when absent)
   * @example
   * ```ts
   * await h.neighDel({ dev: "flannel.1", ip: "10.1.2.0" });
   * ```
   */
  async neighDel(n: { dev: DeviceRef; ip: string }, options: CallOptions = {}): Promise<void> {
    const { signal } = options;
    const index = await this.linkIndex(n.dev, { signal });
    await this.exec(
      neighRequest("del", { index, ip: ipBytes(n.ip).bytes, lladdr: null }),
      cmdNeigh("del", { ...n, dev: await this.devName(n.dev, signal) }, this.netns),
      signal,
    );
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
  async fdbList(options: CallOptions & { dev?: DeviceRef } = {}): Promise<Dump<FdbEntry>> {
    const { signal } = options;
    const names = await this.names(signal);
    const index = options.dev === undefined ? null : await this.linkIndex(options.dev, { signal });
    const r = await this.dumpRaw(neighDumpRequest(AF_BRIDGE), "bridge fdb show", signal);
    const out: FdbEntry[] = [];
    for (const m of r.messages) {
      const f = decodeFdb(m.body, names);
      if (f === null) continue;
      if (index !== null && f.index !== index) continue;
      out.push(f);
    }
    return dumpOf(out, r.interrupted);
  }

  private async fdbOp(mode: "replace" | "append" | "del", f: FdbSpec, signal?: AbortSignal) {
    const index = await this.linkIndex(f.dev, { signal });
    await this.exec(
      fdbRequest(mode, { index, lladdr: macBytes(f.lladdr), dst: ipBytes(f.dst).bytes }),
      cmdFdb(mode, { ...f, dev: await this.devName(f.dev, signal) }, this.netns),
      signal,
    );
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
    return this.fdbOp("replace", f, options.signal);
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
    return this.fdbOp("append", f, options.signal);
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
    return this.fdbOp("del", f, options.signal);
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
   * back to `applyPlan(after)`. Something changed in the kernel behind the caller's back is not
   * seen: keep calling `applyPlan` now and then (flanneld-ts does every 10 s).
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
    const sub = new LinkSubscription();
    const channel = await this.openChannel(
      {
        datagram: (d) => {
          for (const m of parseMessages(d)) {
            if (m.type === RTM_NEWLINK) sub.push({ type: "new", link: decodeLink(m.body) });
            else if (m.type === RTM_DELLINK) sub.push({ type: "del", link: decodeLink(m.body) });
          }
        },
        socketError: (errno) => {
          if (errno === "ENOBUFS") sub.push({ type: "overrun" });
        },
        sendError: () => {},
        // after sub.close() this is a no-op; otherwise the socket or its agent died
        closed: (errno, message) =>
          sub.end(
            netlinkError(errno, "ip monitor link", message, { closed: true }, undefined, {
              retryable: false,
            }),
          ),
      },
      options.signal,
    );
    try {
      await channel.addMembership(RTNLGRP_LINK);
    } catch (e) {
      channel.close();
      throw e;
    }
    sub.attach(channel, options.signal);
    return sub;
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

function ipv4Broadcast(ip: string, prefixLen: number): string {
  const b = ipBytes(ip).bytes;
  const v = b.readUInt32BE(0);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  const out = Buffer.alloc(4);
  out.writeUInt32BE((v | ~mask) >>> 0, 0);
  return ipText(out)!;
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
  const path = netns === null ? null : netnsPath(netns);
  const openChannel = async (events: ChannelEvents, signal?: AbortSignal): Promise<Channel> => {
    if (path === null) {
      try {
        return openLocalChannel(events);
      } catch (e) {
        if (e instanceof FlannelError) throw e;
        const err = e as { code?: string; message?: string };
        throw netlinkError(
          err.code ?? "EIO",
          "socket(AF_NETLINK)",
          err.message ?? String(e),
          {},
          e,
        );
      }
    }
    return openNetnsChannel(path, events, signal);
  };
  const conn = new Connection(netns === null ? "netlink" : `netlink (netns ${netns})`);
  conn.attach(await openChannel(conn.events, options.signal));
  return new NetlinkHandle(conn, netns, openChannel);
}
