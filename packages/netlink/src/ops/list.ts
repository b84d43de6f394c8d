/**
 * The shape every per-object list shares (`ip addr show`, `ip route show`, `ip neigh show`,
 * `bridge fdb show`): device names from one link dump, the object dump decoded with them, kept
 * when it is on the device (and of the family) asked for.
 */
import type { IPFamily } from "@flannel-sdk/core";
import type { NlRequest } from "../nl/messages.js";
import type { DeviceRef, Dump } from "../types.js";
import { linkIndex, linkNames } from "./links.js";
import { dumpOf, dumpRaw, type Rtnl } from "./rtnl.js";

/** Which objects a list keeps: those of device `dev` and of `family`, when given. @internal */
export interface ListFilter {
  readonly dev?: DeviceRef;
  readonly family?: IPFamily;
}

/**
 * Dumps `req` and keeps the decoded objects that pass `filter` and `keep`.
 * @throws FlannelError `NETLINK_ERROR` (naming `operation`; ENODEV for an unknown `filter.dev`)
 * @internal
 */
export async function listObjects<
  T extends { readonly index: number | null; readonly family?: IPFamily },
>(
  rt: Rtnl,
  req: NlRequest,
  operation: string,
  decode: (body: Buffer, nameOf: (index: number) => string) => T | null,
  filter: ListFilter,
  signal?: AbortSignal,
  keep: (item: T) => boolean = () => true,
): Promise<Dump<T>> {
  const names = await linkNames(rt, signal);
  const index = filter.dev === undefined ? null : await linkIndex(rt, filter.dev, signal);
  const r = await dumpRaw(rt, req, operation, signal);
  const out: T[] = [];
  for (const m of r.messages) {
    const item = decode(m.body, names);
    if (item === null) continue;
    if (index !== null && item.index !== index) continue;
    if (filter.family !== undefined && item.family !== filter.family) continue;
    if (keep(item)) out.push(item);
  }
  return dumpOf(out, r.interrupted);
}
