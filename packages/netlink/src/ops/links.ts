/**
 * Link operations: look a device up (by name, by index), list them, create the vxlan device
 * (reused or recreated by flannel's rule) and the bridge, set one up or down, its MTU or MAC,
 * delete one.
 */
import { cmdBridgeAdd, cmdLinkDel, cmdLinkSet, cmdVxlanAdd } from "../commands.js";
import { kernelError, netlinkError } from "../errors.js";
import { ipBytes, macBytes } from "../nl/address.js";
import { RTM_NEWLINK } from "../nl/constants.js";
import {
  bridgeNewRequest,
  decodeLink,
  linkDelRequest,
  linkDumpRequest,
  linkGetRequest,
  linkSetRequest,
  vxlanNewRequest,
} from "../nl/messages.js";
import type {
  BridgeSpec,
  DeviceRef,
  Dump,
  EnsureResult,
  Link,
  VxlanLink,
  VxlanSpec,
} from "../types.js";
import { vxlanIncompatibility } from "../vxlan-compat.js";
import { dumpOf, dumpRaw, exec, type Rtnl } from "./rtnl.js";

const EEXIST = -17;

/** Every device (`ip link show`). @internal */
export async function linkList(rt: Rtnl, signal?: AbortSignal): Promise<Dump<Link>> {
  const r = await dumpRaw(rt, linkDumpRequest(), "ip link show", signal);
  const out: Link[] = [];
  for (const m of r.messages) if (m.type === RTM_NEWLINK) out.push(decodeLink(m.body));
  return dumpOf(out, r.interrupted);
}

/** The device called `name` or with that index, or `null` when there is none. @internal */
export async function linkGet(
  rt: Rtnl,
  ref: { name: string } | { index: number },
  signal?: AbortSignal,
): Promise<Link | null> {
  const r = await rt.get(linkGetRequest(ref), signal);
  if (typeof r === "number") {
    if (r === -19 || r === -2) return null; // ENODEV / ENOENT
    throw kernelError(
      r,
      "name" in ref ? `ip link show ${ref.name}` : `ip link show index ${ref.index}`,
    );
  }
  return decodeLink(r.body);
}

/** Index of a device given by name or index. @throws FlannelError `NETLINK_ERROR` (ENODEV) @internal */
export async function linkIndex(rt: Rtnl, dev: DeviceRef, signal?: AbortSignal): Promise<number> {
  if (typeof dev === "number") return dev;
  const link = await linkGet(rt, { name: dev }, signal);
  if (link === null) throw netlinkError("ENODEV", `ip link show ${dev}`, "no such device");
  return link.index;
}

/** Name of a device given by name or index (`ifN` when the index is unknown). @internal */
export async function devName(rt: Rtnl, dev: DeviceRef, signal?: AbortSignal): Promise<string> {
  if (typeof dev === "string") return dev;
  const link = await linkGet(rt, { index: dev }, signal);
  return link?.name ?? `if${dev}`;
}

/** Device index → name, from one link dump (`ifN` for an unknown index). @internal */
export async function linkNames(
  rt: Rtnl,
  signal?: AbortSignal,
): Promise<(index: number) => string> {
  const links = await linkList(rt, signal);
  const m = new Map(links.map((l) => [l.index, l.name]));
  return (i) => m.get(i) ?? `if${i}`;
}

/** `ip link set dev DEV [up|down] [mtu N] [address MAC]`. @internal */
export async function linkSet(
  rt: Rtnl,
  dev: DeviceRef,
  change: { up?: boolean; mtu?: number; mac?: string },
  signal?: AbortSignal,
): Promise<void> {
  const index = await linkIndex(rt, dev, signal);
  const op = cmdLinkSet(await devName(rt, dev, signal), change, rt.netns);
  const mac = change.mac === undefined ? undefined : macBytes(change.mac);
  await exec(
    rt,
    linkSetRequest(index, {
      ...(change.up === undefined ? {} : { up: change.up }),
      ...(change.mtu === undefined ? {} : { mtu: change.mtu }),
      ...(mac === undefined ? {} : { mac }),
    }),
    op,
    signal,
  );
}

/** `ip link del dev DEV`. @internal */
export async function linkDel(rt: Rtnl, dev: DeviceRef, signal?: AbortSignal): Promise<void> {
  const index = await linkIndex(rt, dev, signal);
  await exec(
    rt,
    linkDelRequest(index),
    cmdLinkDel(await devName(rt, dev, signal), rt.netns),
    signal,
  );
}

/**
 * `NetlinkHandle.ensureVxlan`'s body: reuse a compatible device, recreate an incompatible one,
 * create a missing one. `retryOnExists`: judge once more a device created meanwhile. @internal
 */
export async function ensureVxlan(
  rt: Rtnl,
  spec: VxlanSpec,
  signal: AbortSignal | undefined,
  retryOnExists = true,
): Promise<EnsureResult<VxlanLink>> {
  const lowerIndex =
    spec.lowerDevice == null ? null : await linkIndex(rt, spec.lowerDevice, signal);
  const existing = await linkGet(rt, { name: spec.name }, signal);
  let reason: string | null = null;
  if (existing !== null) {
    reason = vxlanIncompatibility(spec, lowerIndex, existing);
    if (reason === null) return { link: existing as VxlanLink, action: "reused", reason: null };
    await exec(rt, linkDelRequest(existing.index), cmdLinkDel(spec.name, rt.netns), signal);
  }
  const lowerName = spec.lowerDevice == null ? null : await devName(rt, spec.lowerDevice, signal);
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
  const [err] = await rt.batch([req], signal);
  if (err === EEXIST && existing === null && retryOnExists) {
    // created meanwhile by someone else: judge it like flannel does (once: EEXIST also means
    // that another vxlan device holds this VNI and port, which no retry changes)
    return ensureVxlan(rt, spec, signal, false);
  }
  if (err === EEXIST && (await linkGet(rt, { name: spec.name }, signal)) === null) {
    throw netlinkError(
      "EEXIST",
      cmdVxlanAdd(printable, rt.netns),
      `another vxlan device already uses VNI ${spec.vni} and port ${printable.port || 8472} (the kernel allows one per VNI and port): delete it or change the VNI`,
      { vni: spec.vni, port: printable.port || 8472 },
    );
  }
  if (err !== 0) throw kernelError(err!, cmdVxlanAdd(printable, rt.netns));
  const link = await linkGet(rt, { name: spec.name }, signal);
  if (link === null || link.kind !== "vxlan") {
    throw netlinkError(
      "ENODEV",
      cmdVxlanAdd(printable, rt.netns),
      "created vxlan device not found",
    );
  }
  return { link: link as VxlanLink, action: existing === null ? "created" : "recreated", reason };
}

/**
 * `NetlinkHandle.ensureBridge`'s body: reuse an existing bridge, create a missing one.
 * `retryOnExists`: look once more at a device created meanwhile. @internal
 */
export async function ensureBridge(
  rt: Rtnl,
  spec: BridgeSpec,
  signal: AbortSignal | undefined,
  retryOnExists = true,
): Promise<EnsureResult<Link>> {
  const printable = { name: spec.name, mtu: spec.mtu ?? null, mac: spec.mac ?? null };
  const op = cmdBridgeAdd(printable, rt.netns);
  const existing = await linkGet(rt, { name: spec.name }, signal);
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
  const [err] = await rt.batch(
    [bridgeNewRequest({ ...printable, mac: spec.mac == null ? null : macBytes(spec.mac) })],
    signal,
  );
  if (err === EEXIST && retryOnExists) return ensureBridge(rt, spec, signal, false); // created meanwhile
  if (err !== 0) throw kernelError(err!, op);
  const link = await linkGet(rt, { name: spec.name }, signal);
  if (link === null) throw netlinkError("ENODEV", op, "created bridge not found");
  return { link, action: "created", reason: null };
}
