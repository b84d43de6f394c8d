/**
 * What the per-object operation modules (links, addresses, routes, neighbours, the snapshot)
 * ask of a handle: its namespace and the three request shapes of its connection. They take this
 * narrow interface, not `NetlinkHandle`, so the handle can delegate to them without an import
 * cycle.
 */
import { kernelError } from "../errors.js";
import type { NlRequest } from "../nl/messages.js";
import type { NlMessage } from "../nl/wire.js";
import type { DumpReply } from "../transport/connection.js";
import type { Dump } from "../types.js";

/** The request side of a handle's rtnetlink connection. @internal */
export interface Rtnl {
  /** The namespace name or path, or `null` for the current one (printed in commands). */
  readonly netns: string | null;
  /** Runs requests in order; per-request negative errno or 0. */
  batch(reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Int32Array>;
  /** One reply, or a negative errno. */
  get(req: NlRequest, signal?: AbortSignal): Promise<NlMessage | number>;
  /** A whole dump, or a negative errno. */
  dump(req: NlRequest, signal?: AbortSignal): Promise<DumpReply | number>;
}

/** Sends one request; a kernel error becomes a `NETLINK_ERROR` naming `operation`. @internal */
export async function exec(
  rt: Rtnl,
  req: NlRequest,
  operation: string,
  signal?: AbortSignal,
): Promise<void> {
  const [err] = await rt.batch([req], signal);
  if (err !== 0) throw kernelError(err!, operation);
}

/** Reads one dump; a kernel error becomes a `NETLINK_ERROR` naming `operation`. @internal */
export async function dumpRaw(
  rt: Rtnl,
  req: NlRequest,
  operation: string,
  signal?: AbortSignal,
): Promise<DumpReply> {
  const r = await rt.dump(req, signal);
  if (typeof r === "number") throw kernelError(r, operation);
  return r;
}

/** `items` as a {@link Dump} carrying the kernel's interrupted flag. @internal */
export function dumpOf<T>(items: T[], interrupted: boolean): Dump<T> {
  return Object.assign(items, { interrupted }) as Dump<T>;
}
