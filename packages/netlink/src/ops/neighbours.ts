/**
 * Neighbour operations (`ip neigh`: the ARP / NDP entries flannel's vxlan backend writes) and
 * bridge FDB operations (`bridge fdb`: where a VTEP MAC's frames go). Both are `RTM_*NEIGH`
 * messages; the FDB is the `AF_BRIDGE` family.
 */
import type { IPFamily } from "@flannel-sdk/core";
import { cmdFdb, cmdNeigh } from "../commands.js";
import { ipBytes, macBytes } from "../nl/address.js";
import { AF_BRIDGE, AF_INET, AF_INET6 } from "../nl/constants.js";
import {
  decodeFdb,
  decodeNeigh,
  fdbRequest,
  neighDumpRequest,
  neighRequest,
} from "../nl/messages.js";
import type { DeviceRef, Dump, FdbEntry, FdbSpec, Neigh, NeighSpec } from "../types.js";
import { devName, linkIndex, linkNames } from "./links.js";
import { dumpOf, dumpRaw, exec, type Rtnl } from "./rtnl.js";

/** Neighbours (`ip neigh show [dev DEV]`), optionally of one family and device. @internal */
export async function neighList(
  rt: Rtnl,
  filter: { dev?: DeviceRef; family?: IPFamily },
  signal?: AbortSignal,
): Promise<Dump<Neigh>> {
  const names = await linkNames(rt, signal);
  const index = filter.dev === undefined ? null : await linkIndex(rt, filter.dev, signal);
  const af = filter.family === undefined ? 0 : filter.family === 4 ? AF_INET : AF_INET6;
  const r = await dumpRaw(rt, neighDumpRequest(af), "ip neigh show", signal);
  const out: Neigh[] = [];
  for (const m of r.messages) {
    const n = decodeNeigh(m.body, names);
    if (n === null) continue;
    if (index !== null && n.index !== index) continue;
    if (filter.family !== undefined && n.family !== filter.family) continue;
    out.push(n);
  }
  return dumpOf(out, r.interrupted);
}

/** `ip neigh replace IP lladdr MAC dev DEV nud permanent`. @internal */
export async function neighReplace(rt: Rtnl, n: NeighSpec, signal?: AbortSignal): Promise<void> {
  const index = await linkIndex(rt, n.dev, signal);
  await exec(
    rt,
    neighRequest("replace", { index, ip: ipBytes(n.ip).bytes, lladdr: macBytes(n.lladdr) }),
    cmdNeigh("replace", { ...n, dev: await devName(rt, n.dev, signal) }, rt.netns),
    signal,
  );
}

/** `ip neigh del IP dev DEV`. @internal */
export async function neighDel(
  rt: Rtnl,
  n: { dev: DeviceRef; ip: string },
  signal?: AbortSignal,
): Promise<void> {
  const index = await linkIndex(rt, n.dev, signal);
  await exec(
    rt,
    neighRequest("del", { index, ip: ipBytes(n.ip).bytes, lladdr: null }),
    cmdNeigh("del", { ...n, dev: await devName(rt, n.dev, signal) }, rt.netns),
    signal,
  );
}

/** Bridge FDB entries (`bridge fdb show [dev DEV]`). @internal */
export async function fdbList(
  rt: Rtnl,
  filter: { dev?: DeviceRef },
  signal?: AbortSignal,
): Promise<Dump<FdbEntry>> {
  const names = await linkNames(rt, signal);
  const index = filter.dev === undefined ? null : await linkIndex(rt, filter.dev, signal);
  const r = await dumpRaw(rt, neighDumpRequest(AF_BRIDGE), "bridge fdb show", signal);
  const out: FdbEntry[] = [];
  for (const m of r.messages) {
    const f = decodeFdb(m.body, names);
    if (f === null) continue;
    if (index !== null && f.index !== index) continue;
    out.push(f);
  }
  return dumpOf(out, r.interrupted);
}

/** `bridge fdb replace|append|del MAC dev DEV dst IP self [permanent]`. @internal */
export async function fdbOp(
  rt: Rtnl,
  mode: "replace" | "append" | "del",
  f: FdbSpec,
  signal?: AbortSignal,
): Promise<void> {
  const index = await linkIndex(rt, f.dev, signal);
  await exec(
    rt,
    fdbRequest(mode, { index, lladdr: macBytes(f.lladdr), dst: ipBytes(f.dst).bytes }),
    cmdFdb(mode, { ...f, dev: await devName(rt, f.dev, signal) }, rt.netns),
    signal,
  );
}
