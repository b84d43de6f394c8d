import { cmdRoute } from "../commands.js";
import { kernelError, netlinkError } from "../errors.js";
import { cidrParts, ipBytes } from "../nl/address.js";
import { RT_TABLE_MAIN } from "../nl/constants.js";
import {
  decodeRoute,
  type RouteWire,
  routeDumpRequest,
  routeGetRequest,
  routeRequest,
} from "../nl/messages.js";
import type { Dump, Route, RouteSpec } from "../types.js";
import { devName, linkIndex, linkNames } from "./links.js";
import { type ListFilter, listObjects } from "./list.js";
import { exec, type Rtnl } from "./rtnl.js";

/** Routes of every table, optionally one family, table or device. @internal */
export function routeList(
  rt: Rtnl,
  filter: ListFilter & { table?: number },
  signal?: AbortSignal,
): Promise<Dump<Route>> {
  const req = routeDumpRequest(filter.family ?? null);
  const { table } = filter;
  return listObjects(rt, req, "ip route show", decodeRoute, filter, signal, (r) =>
    table === undefined ? true : r.table === table,
  );
}

/** Wire form of a route spec, with the device resolved. */
async function routeWire(rt: Rtnl, r: RouteSpec, signal?: AbortSignal): Promise<RouteWire> {
  const dst = cidrParts(r.dst);
  const oif = r.dev == null ? null : await linkIndex(rt, r.dev, signal);
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

/** `ip route replace|add|del DST [via GW] [dev DEV] [onlink] [table T]`. @internal */
export async function routeOp(
  rt: Rtnl,
  mode: "replace" | "add" | "del",
  r: RouteSpec,
  signal?: AbortSignal,
): Promise<void> {
  const wire = await routeWire(rt, r, signal);
  const dev = r.dev == null ? null : await devName(rt, r.dev, signal);
  await exec(rt, routeRequest(mode, wire), cmdRoute(mode, { ...r, dev }, rt.netns), signal);
}

/** `ip route get ADDR`: the route the kernel would use. @internal */
export async function routeGet(rt: Rtnl, ip: string, signal?: AbortSignal): Promise<Route> {
  const { bytes } = ipBytes(ip);
  const r = await rt.get(routeGetRequest(bytes), signal);
  if (typeof r === "number") throw kernelError(r, `ip route get ${ip}`);
  const names = await linkNames(rt, signal);
  const route = decodeRoute(r.body, names);
  if (route === null) throw netlinkError("EINVAL", `ip route get ${ip}`, "unexpected reply");
  return route;
}
