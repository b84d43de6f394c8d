/**
 * The kernel snapshot: one consistent read of every table flannel's data plane is made of, the
 * five dumps sent together and read again while the kernel flags one as interrupted.
 */
import type { IPFamily } from "@flannel-sdk/core";
import { AF_BRIDGE, AF_INET, AF_INET6, RTM_NEWLINK } from "../nl/constants.js";
import {
  addrDumpRequest,
  decodeAddr,
  decodeFdb,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  linkDumpRequest,
  neighDumpRequest,
  routeDumpRequest,
} from "../nl/messages.js";
import type { NlMessage } from "../nl/wire.js";
import type { KernelSnapshot, Link } from "../types.js";
import { dumpOf, dumpRaw, type Rtnl } from "./rtnl.js";

/** Reads of a snapshot while the kernel says a dump was interrupted (`NLM_F_DUMP_INTR`). */
const SNAPSHOT_ATTEMPTS = 3;

/** `NetlinkHandle.snapshot`'s body. @internal */
export async function snapshot(
  rt: Rtnl,
  family: IPFamily,
  signal?: AbortSignal,
): Promise<KernelSnapshot> {
  const af = family === 4 ? AF_INET : AF_INET6;
  let last: KernelSnapshot | null = null;
  for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
    // queued together: through a namespace agent the five dumps cross in one write
    const [l, a, n, f, r] = await Promise.all([
      dumpRaw(rt, linkDumpRequest(), "ip link show", signal),
      dumpRaw(rt, addrDumpRequest(family), "ip addr show", signal),
      dumpRaw(rt, neighDumpRequest(af), "ip neigh show", signal),
      dumpRaw(rt, neighDumpRequest(AF_BRIDGE), "bridge fdb show", signal),
      dumpRaw(rt, routeDumpRequest(family), "ip route show", signal),
    ]);
    const linkItems: Link[] = [];
    for (const msg of l.messages)
      if (msg.type === RTM_NEWLINK) linkItems.push(decodeLink(msg.body));
    const links = dumpOf(linkItems, l.interrupted);
    const m = new Map(links.map((x) => [x.index, x.name]));
    const names = (i: number) => m.get(i) ?? `if${i}`;
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

/** The messages `decode` makes something of. */
function pick<T>(msgs: readonly NlMessage[], decode: (b: Buffer) => T | null): T[] {
  const out: T[] = [];
  for (const msg of msgs) {
    const v = decode(msg.body);
    if (v !== null) out.push(v);
  }
  return out;
}
