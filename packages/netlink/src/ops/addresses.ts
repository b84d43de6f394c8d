/**
 * Address operations: list, add, replace, delete; flannel's `EnsureV4AddressOnLink`; the
 * install guide's `ifconfig DEV CIDR`.
 */
import { FlannelError, parseCidr } from "@flannel-sdk/core";
import { cmdAddr } from "../commands.js";
import { cidrParts, ipBytes, ipText } from "../nl/address.js";
import { addrDumpRequest, addrRequest, decodeAddr } from "../nl/messages.js";
import type { Addr, DeviceRef, Dump } from "../types.js";
import { devName, linkGet, linkIndex, linkSet } from "./links.js";
import { type ListFilter, listObjects } from "./list.js";
import { exec, type Rtnl } from "./rtnl.js";

/** Addresses (`ip addr show [dev DEV]`), optionally of one family and one device. @internal */
export function addrList(rt: Rtnl, filter: ListFilter, signal?: AbortSignal): Promise<Dump<Addr>> {
  const req = addrDumpRequest(filter.family ?? null);
  return listObjects(rt, req, "ip addr show", decodeAddr, filter, signal);
}

/** `ip addr add|replace|del CIDR [broadcast B] dev DEV`. @internal */
export async function addrOp(
  rt: Rtnl,
  mode: "add" | "replace" | "del",
  dev: DeviceRef,
  cidr: string,
  broadcast: string | null,
  signal?: AbortSignal,
): Promise<void> {
  const p = cidrParts(cidr);
  const index = await linkIndex(rt, dev, signal);
  await exec(
    rt,
    addrRequest(mode, {
      index,
      family: p.family,
      ip: p.bytes,
      prefixLen: p.prefixLen,
      broadcast: broadcast === null ? null : ipBytes(broadcast).bytes,
    }),
    cmdAddr(mode, await devName(rt, dev, signal), p.cidr, broadcast, rt.netns),
    signal,
  );
}

/**
 * `NetlinkHandle.addrEnsureExclusive`'s body (flannel's `EnsureV4AddressOnLink`,
 * `pkg/ip/iface.go`). @internal
 */
export async function addrEnsureExclusive(
  rt: Rtnl,
  dev: DeviceRef,
  cidr: string,
  within: string,
  signal?: AbortSignal,
): Promise<{ added: boolean; removed: string[] }> {
  const want = cidrParts(cidr);
  const net = parseCidr(within);
  const current = await addrList(rt, { dev, family: want.family }, signal);
  const removed: string[] = [];
  let present = false;
  for (const a of current) {
    if (a.ip === want.ip && a.prefixLen === want.prefixLen) {
      present = true;
      continue;
    }
    if (net.family === a.family && net.contains(a.ip)) {
      await addrOp(rt, "del", dev, a.cidr, null, signal);
      removed.push(a.cidr);
    }
  }
  if (!present) await addrOp(rt, "add", dev, want.cidr, null, signal);
  return { added: !present, removed };
}

/** `NetlinkHandle.ifconfigAddress`'s body. @internal */
export async function ifconfigAddress(
  rt: Rtnl,
  dev: DeviceRef,
  cidr: string,
  signal?: AbortSignal,
): Promise<{ changed: boolean; removed: string[] }> {
  const want = cidrParts(cidr);
  if (want.family !== 4) {
    throw new FlannelError("INVALID_ARGUMENT", `ifconfig sets an IPv4 address, not ${cidr}`, {
      field: "cidr",
    });
  }
  const name = await devName(rt, dev, signal);
  const broadcast = want.prefixLen < 31 ? ipv4Broadcast(want.ip, want.prefixLen) : null;
  const current = await addrList(rt, { dev, family: 4 }, signal);
  const removed: string[] = [];
  let present = false;
  for (const a of current) {
    if (a.ip === want.ip && a.prefixLen === want.prefixLen && a.broadcast === broadcast) {
      present = true;
      continue;
    }
    if (a.label !== null && a.label !== name) continue;
    await addrOp(rt, "del", dev, a.cidr, null, signal);
    removed.push(a.cidr);
  }
  if (!present || removed.length > 0) {
    const still =
      present && (await addrList(rt, { dev, family: 4 }, signal)).some((a) => a.cidr === want.cidr);
    if (!still) await addrOp(rt, "add", dev, want.cidr, broadcast, signal);
  }
  const link = await linkGet(rt, { name }, signal);
  const wasUp = link?.up ?? false;
  if (!wasUp) await linkSet(rt, dev, { up: true }, signal);
  return { changed: !present || removed.length > 0 || !wasUp, removed };
}

/** ifconfig's broadcast address: `addr | ~mask`. */
function ipv4Broadcast(ip: string, prefixLen: number): string {
  const b = ipBytes(ip).bytes;
  const v = b.readUInt32BE(0);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  const out = Buffer.alloc(4);
  out.writeUInt32BE((v | ~mask) >>> 0, 0);
  return ipText(out)!;
}
