/**
 * rtnetlink request encoders and reply decoders: human specs in, kernel bytes out, and back.
 * Pure (no socket), so every message is pinned by golden bytes captured from a real kernel.
 * @internal
 */
import type { IPFamily } from "@flannel-sdk/core";
import type { Addr, FdbEntry, Link, Neigh, Route, VxlanInfo } from "../types.js";
import { familyOfAf, ipText, ipTextAt, macText, macTextAt } from "./address.js";
import * as C from "./constants.js";
import {
  attrString,
  attrU8,
  attrU16be,
  attrU32,
  forEachAttr,
  NlWriter,
  parseAttrs,
} from "./wire.js";

/** One request before framing: the connection adds the header, sequence and REQUEST/ACK flags. */
export interface NlRequest {
  readonly type: number;
  /** `NLM_F_CREATE | NLM_F_REPLACE`… (REQUEST and ACK are added by the connection). */
  readonly flags: number;
  readonly payload: Buffer;
}

/** `ip … add` fails on an existing object, `replace` creates or overwrites; a delete has none. */
function modeFlags(mode: "add" | "replace" | "del"): number {
  if (mode === "add") return C.NLM_F_CREATE | C.NLM_F_EXCL;
  return mode === "replace" ? C.NLM_F_CREATE | C.NLM_F_REPLACE : 0;
}

function ifinfomsg(w: NlWriter, family: number, index: number, flags = 0, change = 0): NlWriter {
  return w.u8(family).u8(0).u16(0).i32(index).u32(flags).u32(change);
}

// ---- links -------------------------------------------------------------------------------

export function linkDumpRequest(): NlRequest {
  const w = ifinfomsg(new NlWriter(32), C.AF_UNSPEC, 0).attrU32(
    C.IFLA_EXT_MASK,
    C.RTEXT_FILTER_SKIP_STATS,
  );
  return { type: C.RTM_GETLINK, flags: C.NLM_F_DUMP, payload: w.finish() };
}

export function linkGetRequest(ref: { name: string } | { index: number }): NlRequest {
  const w = ifinfomsg(new NlWriter(48), C.AF_UNSPEC, "index" in ref ? ref.index : 0);
  if ("name" in ref) w.attrString(C.IFLA_IFNAME, ref.name);
  w.attrU32(C.IFLA_EXT_MASK, C.RTEXT_FILTER_SKIP_STATS);
  return { type: C.RTM_GETLINK, flags: 0, payload: w.finish() };
}

/** Resolved vxlan creation parameters (indexes and bytes, not names and text). */
export interface VxlanNew {
  readonly name: string;
  readonly vni: number;
  readonly port: number;
  readonly local: Buffer | null;
  readonly lowerIndex: number | null;
  readonly learning: boolean;
  readonly gbp: boolean;
  readonly mtu: number | null;
  readonly mac: Buffer | null;
}

/** `ip link add NAME [address MAC] [mtu N] type vxlan id VNI [local IP] [dev LOWER] [dstport P] [no]learning [gbp]`. */
export function vxlanNewRequest(v: VxlanNew): NlRequest {
  const w = ifinfomsg(new NlWriter(128), C.AF_UNSPEC, 0).attrString(C.IFLA_IFNAME, v.name);
  if (v.mtu !== null) w.attrU32(C.IFLA_MTU, v.mtu);
  if (v.mac !== null) w.attr(C.IFLA_ADDRESS, v.mac);
  w.nest(C.IFLA_LINKINFO, (li) => {
    li.attrString(C.IFLA_INFO_KIND, "vxlan");
    li.nest(C.IFLA_INFO_DATA, (d) => {
      d.attrU32(C.IFLA_VXLAN_ID, v.vni);
      if (v.lowerIndex !== null) d.attrU32(C.IFLA_VXLAN_LINK, v.lowerIndex);
      if (v.local !== null)
        d.attr(v.local.length === 4 ? C.IFLA_VXLAN_LOCAL : C.IFLA_VXLAN_LOCAL6, v.local);
      d.attrU8(C.IFLA_VXLAN_LEARNING, v.learning ? 1 : 0);
      if (v.port > 0) d.attrU16be(C.IFLA_VXLAN_PORT, v.port);
      if (v.gbp) d.attrFlag(C.IFLA_VXLAN_GBP);
    });
  });
  return { type: C.RTM_NEWLINK, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, payload: w.finish() };
}

/** `ip link add NAME [address MAC] [mtu N] type bridge`. */
export function bridgeNewRequest(v: {
  name: string;
  mtu: number | null;
  mac: Buffer | null;
}): NlRequest {
  const w = ifinfomsg(new NlWriter(64), C.AF_UNSPEC, 0).attrString(C.IFLA_IFNAME, v.name);
  if (v.mtu !== null) w.attrU32(C.IFLA_MTU, v.mtu);
  if (v.mac !== null) w.attr(C.IFLA_ADDRESS, v.mac);
  w.nest(C.IFLA_LINKINFO, (li) => li.attrString(C.IFLA_INFO_KIND, "bridge"));
  return { type: C.RTM_NEWLINK, flags: C.NLM_F_CREATE | C.NLM_F_EXCL, payload: w.finish() };
}

/** `ip link set dev … [up|down] [mtu N] [address MAC]`. */
export function linkSetRequest(
  index: number,
  change: { up?: boolean; mtu?: number; mac?: Buffer },
): NlRequest {
  const w = ifinfomsg(
    new NlWriter(48),
    C.AF_UNSPEC,
    index,
    change.up ? C.IFF_UP : 0,
    change.up === undefined ? 0 : C.IFF_UP,
  );
  if (change.mtu !== undefined) w.attrU32(C.IFLA_MTU, change.mtu);
  if (change.mac !== undefined) w.attr(C.IFLA_ADDRESS, change.mac);
  return { type: C.RTM_NEWLINK, flags: 0, payload: w.finish() };
}

/** `ip link del dev …`. */
export function linkDelRequest(index: number): NlRequest {
  return {
    type: C.RTM_DELLINK,
    flags: 0,
    payload: ifinfomsg(new NlWriter(16), C.AF_UNSPEC, index).finish(),
  };
}

function vxlanInfo(data: Buffer): VxlanInfo {
  const a = parseAttrs(data);
  return {
    vni: attrU32(a.get(C.IFLA_VXLAN_ID)) ?? 0,
    port: attrU16be(a.get(C.IFLA_VXLAN_PORT)) ?? 0,
    local: ipText(a.get(C.IFLA_VXLAN_LOCAL)) ?? ipText(a.get(C.IFLA_VXLAN_LOCAL6)),
    group: ipText(a.get(C.IFLA_VXLAN_GROUP)) ?? ipText(a.get(C.IFLA_VXLAN_GROUP6)),
    lowerIndex: attrU32(a.get(C.IFLA_VXLAN_LINK)) || null,
    learning: (attrU8(a.get(C.IFLA_VXLAN_LEARNING)) ?? 0) !== 0,
    gbp: a.has(C.IFLA_VXLAN_GBP),
    l2miss: (attrU8(a.get(C.IFLA_VXLAN_L2MISS)) ?? 0) !== 0,
    l3miss: (attrU8(a.get(C.IFLA_VXLAN_L3MISS)) ?? 0) !== 0,
  };
}

/** Decodes an `RTM_NEWLINK` / `RTM_DELLINK` body. */
export function decodeLink(body: Buffer): Link {
  const index = body.readInt32LE(4);
  const flags = body.readUInt32LE(8);
  const a = parseAttrs(body, 16);
  let kind: string | null = null;
  let vxlan: VxlanInfo | null = null;
  const linkinfo = a.get(C.IFLA_LINKINFO);
  if (linkinfo !== undefined) {
    const li = parseAttrs(linkinfo);
    kind = attrString(li.get(C.IFLA_INFO_KIND));
    const data = li.get(C.IFLA_INFO_DATA);
    if (kind === "vxlan" && data !== undefined) vxlan = vxlanInfo(data);
  }
  return {
    index,
    name: attrString(a.get(C.IFLA_IFNAME)) ?? "",
    kind,
    mtu: attrU32(a.get(C.IFLA_MTU)) ?? 0,
    mac: macText(a.get(C.IFLA_ADDRESS)),
    flags,
    up: (flags & C.IFF_UP) !== 0,
    masterIndex: attrU32(a.get(C.IFLA_MASTER)) || null,
    vxlan,
  };
}

// ---- addresses ---------------------------------------------------------------------------

export function addrDumpRequest(family: IPFamily | null): NlRequest {
  const af = family === null ? C.AF_UNSPEC : family === 4 ? C.AF_INET : C.AF_INET6;
  const w = new NlWriter(8).u8(af).u8(0).u8(0).u8(0).u32(0);
  return { type: C.RTM_GETADDR, flags: C.NLM_F_DUMP, payload: w.finish() };
}

/** Resolved address parameters. */
export interface AddrWire {
  readonly index: number;
  readonly family: IPFamily;
  readonly ip: Buffer;
  readonly prefixLen: number;
  readonly broadcast: Buffer | null;
}

/** `ip addr add|replace|del IP/LEN [broadcast B] dev …` (`mode` picks the message and flags). */
export function addrRequest(mode: "add" | "replace" | "del", v: AddrWire): NlRequest {
  const w = new NlWriter(48)
    .u8(v.family === 4 ? C.AF_INET : C.AF_INET6)
    .u8(v.prefixLen)
    .u8(0)
    .u8(C.RT_SCOPE_UNIVERSE)
    .u32(v.index)
    .attr(C.IFA_LOCAL, v.ip)
    .attr(C.IFA_ADDRESS, v.ip);
  if (v.broadcast !== null) w.attr(C.IFA_BROADCAST, v.broadcast);
  const type = mode === "del" ? C.RTM_DELADDR : C.RTM_NEWADDR;
  return { type, flags: modeFlags(mode), payload: w.finish() };
}

/** Decodes an `RTM_NEWADDR` body; `null` for a family other than IPv4/IPv6. */
export function decodeAddr(body: Buffer, nameOf: (index: number) => string): Addr | null {
  const family = familyOfAf(body.readUInt8(0));
  if (family === null) return null;
  const prefixLen = body.readUInt8(1);
  const index = body.readUInt32LE(4);
  const a = parseAttrs(body, 8);
  const ip = ipText(a.get(C.IFA_LOCAL)) ?? ipText(a.get(C.IFA_ADDRESS));
  if (ip === null) return null;
  return {
    family,
    index,
    dev: nameOf(index),
    ip,
    prefixLen,
    cidr: `${ip}/${prefixLen}`,
    broadcast: ipText(a.get(C.IFA_BROADCAST)),
    label: attrString(a.get(C.IFA_LABEL)),
    scope: body.readUInt8(3),
    flags: attrU32(a.get(C.IFA_FLAGS)) ?? body.readUInt8(2),
  };
}

// ---- routes ------------------------------------------------------------------------------

export function routeDumpRequest(family: IPFamily | null): NlRequest {
  const af = family === null ? C.AF_UNSPEC : family === 4 ? C.AF_INET : C.AF_INET6;
  const w = new NlWriter(12).u8(af).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u8(0).u32(0);
  return { type: C.RTM_GETROUTE, flags: C.NLM_F_DUMP, payload: w.finish() };
}

/** Resolved route parameters. */
export interface RouteWire {
  readonly family: IPFamily;
  readonly dst: Buffer;
  readonly dstLen: number;
  readonly gateway: Buffer | null;
  readonly oif: number | null;
  readonly table: number;
  readonly onlink: boolean;
  readonly priority: number;
}

/**
 * `ip route replace|add|del DST [via GW] [dev DEV] [onlink] [table T] [metric M]`, with the
 * header fields iproute2 sends (protocol boot, scope universe or link, unicast; deletes match
 * any scope).
 */
export function routeRequest(mode: "replace" | "add" | "del", v: RouteWire): NlRequest {
  const del = mode === "del";
  const scope = del ? 255 : v.gateway === null ? C.RT_SCOPE_LINK : C.RT_SCOPE_UNIVERSE;
  const w = new NlWriter(64)
    .u8(v.family === 4 ? C.AF_INET : C.AF_INET6)
    .u8(v.dstLen)
    .u8(0)
    .u8(0)
    .u8(v.table < 256 ? v.table : 0)
    .u8(del ? 0 : C.RTPROT_BOOT)
    .u8(scope)
    .u8(del ? 0 : C.RTN_UNICAST)
    .u32(v.onlink ? C.RTNH_F_ONLINK : 0);
  if (v.table >= 256) w.attrU32(C.RTA_TABLE, v.table);
  w.attr(C.RTA_DST, v.dst);
  if (v.priority !== 0) w.attrU32(C.RTA_PRIORITY, v.priority);
  if (v.gateway !== null) w.attr(C.RTA_GATEWAY, v.gateway);
  if (v.oif !== null) w.attrU32(C.RTA_OIF, v.oif);
  return {
    type: del ? C.RTM_DELROUTE : C.RTM_NEWROUTE,
    flags: modeFlags(mode),
    payload: w.finish(),
  };
}

/** `ip route get ADDR`. */
export function routeGetRequest(dst: Buffer): NlRequest {
  const family = dst.length === 4 ? C.AF_INET : C.AF_INET6;
  const w = new NlWriter(32)
    .u8(family)
    .u8(dst.length * 8)
    .u8(0)
    .u8(0)
    .u8(0)
    .u8(0)
    .u8(0)
    .u8(0)
    .u32(0)
    .attr(C.RTA_DST, dst);
  return { type: C.RTM_GETROUTE, flags: 0, payload: w.finish() };
}

/** Decodes an `RTM_NEWROUTE` body; `null` for a family other than IPv4/IPv6. */
export function decodeRoute(body: Buffer, nameOf: (index: number) => string): Route | null {
  const family = familyOfAf(body.readUInt8(0));
  if (family === null) return null;
  const dstLen = body.readUInt8(1);
  let dst: string | null = null;
  let gateway: string | null = null;
  let oif: number | null = null;
  let table = body.readUInt8(4);
  let priority = 0;
  let prefsrc: string | null = null;
  forEachAttr(body, 12, (type, off, len) => {
    if (type === C.RTA_DST) dst = ipTextAt(body, off, len);
    else if (type === C.RTA_GATEWAY) gateway = ipTextAt(body, off, len);
    else if (type === C.RTA_OIF && len >= 4) oif = body.readUInt32LE(off);
    else if (type === C.RTA_TABLE && len >= 4) table = body.readUInt32LE(off);
    else if (type === C.RTA_PRIORITY && len >= 4) priority = body.readUInt32LE(off);
    else if (type === C.RTA_PREFSRC) prefsrc = ipTextAt(body, off, len);
  });
  return {
    family,
    dst: `${dst ?? (family === 4 ? "0.0.0.0" : "::")}/${dstLen}`,
    gateway,
    dev: oif === null ? null : nameOf(oif),
    index: oif,
    table,
    protocol: body.readUInt8(5),
    scope: body.readUInt8(6),
    type: body.readUInt8(7),
    onlink: (body.readUInt32LE(8) & C.RTNH_F_ONLINK) !== 0,
    priority,
    prefsrc,
  };
}

// ---- neighbours and FDB ------------------------------------------------------------------

function ndmsg(w: NlWriter, family: number, index: number, state: number, flags: number): NlWriter {
  return w.u8(family).u8(0).u16(0).i32(index).u16(state).u8(flags).u8(0);
}

export function neighDumpRequest(af: number): NlRequest {
  return {
    type: C.RTM_GETNEIGH,
    flags: C.NLM_F_DUMP,
    payload: ndmsg(new NlWriter(12), af, 0, 0, 0).finish(),
  };
}

/** `ip neigh replace IP lladdr MAC dev … nud permanent` / `ip neigh del IP dev …`. */
export function neighRequest(
  mode: "replace" | "del",
  v: { index: number; ip: Buffer; lladdr: Buffer | null },
): NlRequest {
  const af = v.ip.length === 4 ? C.AF_INET : C.AF_INET6;
  const w = ndmsg(new NlWriter(40), af, v.index, mode === "del" ? 0 : C.NUD_PERMANENT, 0).attr(
    C.NDA_DST,
    v.ip,
  );
  if (v.lladdr !== null && mode !== "del") w.attr(C.NDA_LLADDR, v.lladdr);
  return mode === "del"
    ? { type: C.RTM_DELNEIGH, flags: 0, payload: w.finish() }
    : { type: C.RTM_NEWNEIGH, flags: C.NLM_F_CREATE | C.NLM_F_REPLACE, payload: w.finish() };
}

/**
 * `bridge fdb replace|append MAC dev … dst IP self permanent` / `bridge fdb del MAC dev … dst IP self`.
 */
export function fdbRequest(
  mode: "replace" | "append" | "del",
  v: { index: number; lladdr: Buffer; dst: Buffer | null },
): NlRequest {
  const w = ndmsg(
    new NlWriter(40),
    C.AF_BRIDGE,
    v.index,
    mode === "del" ? 0 : C.NUD_PERMANENT,
    C.NTF_SELF,
  ).attr(C.NDA_LLADDR, v.lladdr);
  if (v.dst !== null) w.attr(C.NDA_DST, v.dst);
  if (mode === "del") return { type: C.RTM_DELNEIGH, flags: 0, payload: w.finish() };
  const flags = C.NLM_F_CREATE | (mode === "append" ? C.NLM_F_APPEND : C.NLM_F_REPLACE);
  return { type: C.RTM_NEWNEIGH, flags, payload: w.finish() };
}

/** Decodes an `RTM_NEWNEIGH` body of family IPv4/IPv6; `null` otherwise. */
export function decodeNeigh(body: Buffer, nameOf: (index: number) => string): Neigh | null {
  const family = familyOfAf(body.readUInt8(0));
  if (family === null) return null;
  const index = body.readInt32LE(4);
  const state = body.readUInt16LE(8);
  let ip: string | null = null;
  let lladdr: string | null = null;
  forEachAttr(body, 12, (type, off, len) => {
    if (type === C.NDA_DST) ip = ipTextAt(body, off, len);
    else if (type === C.NDA_LLADDR) lladdr = macTextAt(body, off, len);
  });
  if (ip === null) return null;
  return {
    family,
    index,
    dev: nameOf(index),
    ip,
    lladdr,
    state,
    permanent: (state & C.NUD_PERMANENT) !== 0,
    flags: body.readUInt8(10),
  };
}

/** Decodes an `RTM_NEWNEIGH` body of family `AF_BRIDGE`; `null` otherwise. */
export function decodeFdb(body: Buffer, nameOf: (index: number) => string): FdbEntry | null {
  if (body.readUInt8(0) !== C.AF_BRIDGE) return null;
  const index = body.readInt32LE(4);
  const state = body.readUInt16LE(8);
  const flags = body.readUInt8(10);
  let lladdr: string | null = null;
  let dst: string | null = null;
  let vni: number | null = null;
  forEachAttr(body, 12, (type, off, len) => {
    if (type === C.NDA_LLADDR) lladdr = macTextAt(body, off, len);
    else if (type === C.NDA_DST) dst = ipTextAt(body, off, len);
    else if (type === C.NDA_VNI && len >= 4) vni = body.readUInt32LE(off);
  });
  if (lladdr === null) return null;
  return {
    index,
    dev: nameOf(index),
    lladdr,
    dst,
    state,
    permanent: (state & C.NUD_PERMANENT) !== 0,
    self: (flags & C.NTF_SELF) !== 0,
    master: (flags & C.NTF_MASTER) !== 0,
    vni,
  };
}
