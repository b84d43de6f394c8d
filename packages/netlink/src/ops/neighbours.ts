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
import { devName, linkIndex } from "./links.js";
import { type ListFilter, listObjects } from "./list.js";
import { exec, type Rtnl } from "./rtnl.js";

/** Neighbours (`ip neigh show [dev DEV]`), optionally of one family and device. @internal */
export function neighList(
  rt: Rtnl,
  filter: ListFilter,
  signal?: AbortSignal,
): Promise<Dump<Neigh>> {
  const af = filter.family === undefined ? 0 : filter.family === 4 ? AF_INET : AF_INET6;
  return listObjects(rt, neighDumpRequest(af), "ip neigh show", decodeNeigh, filter, signal);
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
export function fdbList(
  rt: Rtnl,
  filter: { dev?: DeviceRef },
  signal?: AbortSignal,
): Promise<Dump<FdbEntry>> {
  return listObjects(rt, neighDumpRequest(AF_BRIDGE), "bridge fdb show", decodeFdb, filter, signal);
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
