/**
 * iproute2 spellings of the peer state a plan holds (addresses, routes, neighbours, FDB
 * entries): the one place their command text is written. `planToCommands` prints plans with
 * them, and `@flannel-sdk/netlink` re-exports the `cmd*` printers for its dry run and its error
 * messages, so the two always print the same line for the same change.
 *
 * The printers take text as given and never throw (netlink names failed operations with them);
 * `planToCommands` validates and canonicalizes a plan's fields before it prints.
 */

/** The program and its namespace option: `ip`, `ip -n NAME`, `bridge -n NAME`. @internal */
export function program(tool: "ip" | "bridge", netns: string | null | undefined): string {
  // `-n` takes a name under /run/netns; a handle opened on a path has no name to print.
  return netns === null || netns === undefined || netns.includes("/")
    ? tool
    : `${tool} -n ${netns}`;
}

/** `addr MODE CIDR [broadcast B] dev DEV`. @internal */
export function addrArgs(
  mode: "add" | "replace" | "del",
  dev: string,
  cidr: string,
  broadcast: string | null,
): string {
  const brd = broadcast === null ? "" : ` broadcast ${broadcast}`;
  return `addr ${mode} ${cidr}${brd} dev ${dev}`;
}

/** What {@link cmdRoute} prints of a route. */
export interface RouteCommandSpec {
  readonly dst: string;
  readonly gateway?: string | null;
  readonly dev?: string | null;
  readonly onlink?: boolean;
  /** Routing table; the main table (254) is left out. */
  readonly table?: number;
  /** Printed as `metric`; 0 is left out. */
  readonly priority?: number;
}

/** `route MODE DST [via GW] [dev DEV] [onlink] [table T] [metric M]`. @internal */
export function routeArgs(mode: "replace" | "add" | "del", r: RouteCommandSpec): string {
  let s = `route ${mode} ${r.dst}`;
  if (r.gateway != null) s += ` via ${r.gateway}`;
  if (r.dev != null) s += ` dev ${r.dev}`;
  if (r.onlink) s += " onlink";
  if (r.table !== undefined && r.table !== 254) s += ` table ${r.table}`;
  if (r.priority !== undefined && r.priority !== 0) s += ` metric ${r.priority}`;
  return s;
}

/** `neigh replace IP lladdr MAC dev DEV nud permanent` / `neigh del IP dev DEV`. @internal */
export function neighArgs(
  mode: "replace" | "del",
  n: { readonly dev: string; readonly ip: string; readonly lladdr?: string | null },
): string {
  if (mode === "del") return `neigh del ${n.ip} dev ${n.dev}`;
  return `neigh replace ${n.ip} lladdr ${n.lladdr} dev ${n.dev} nud permanent`;
}

/** `fdb MODE MAC dev DEV [dst IP] self [permanent]`. @internal */
export function fdbArgs(
  mode: "replace" | "append" | "del",
  f: { readonly dev: string; readonly lladdr: string; readonly dst: string | null },
): string {
  const dst = f.dst === null ? "" : ` dst ${f.dst}`;
  const tail = mode === "del" ? " self" : " self permanent";
  return `fdb ${mode} ${f.lladdr} dev ${f.dev}${dst}${tail}`;
}

/**
 * `ip [-n NETNS] addr add|replace|del CIDR [broadcast B] dev DEV`. Text is printed as given.
 * `netns` is a namespace name (a path, which `ip -n` cannot take, prints no `-n`).
 *
 * @example
 * ```ts
 * cmdAddr("add", "flannel.1", "10.1.2.0/32"); // "ip addr add 10.1.2.0/32 dev flannel.1"
 * cmdAddr("del", "cni0", "10.1.2.1/24", null, "blue"); // "ip -n blue addr del 10.1.2.1/24 dev cni0"
 * ```
 */
export function cmdAddr(
  mode: "add" | "replace" | "del",
  dev: string,
  cidr: string,
  broadcast: string | null = null,
  netns: string | null = null,
): string {
  return `${program("ip", netns)} ${addrArgs(mode, dev, cidr, broadcast)}`;
}

/**
 * `ip [-n NETNS] [-6] route replace|add|del DST [via GW] [dev DEV] [onlink] [table T] [metric M]`;
 * `-6` when `dst` is an IPv6 CIDR. Text is printed as given.
 *
 * @example
 * ```ts
 * cmdRoute("replace", { dst: "10.1.3.0/24", gateway: "10.1.3.0", dev: "flannel.1", onlink: true });
 * // "ip route replace 10.1.3.0/24 via 10.1.3.0 dev flannel.1 onlink"
 * ```
 */
export function cmdRoute(
  mode: "replace" | "add" | "del",
  r: RouteCommandSpec,
  netns: string | null = null,
): string {
  const v6 = r.dst.includes(":");
  return `${program("ip", netns)}${v6 ? " -6" : ""} ${routeArgs(mode, r)}`;
}

/**
 * `ip [-n NETNS] neigh replace IP lladdr MAC dev DEV nud permanent` / `ip neigh del IP dev DEV`.
 * Text is printed as given.
 *
 * @example
 * ```ts
 * cmdNeigh("replace", { dev: "flannel.1", ip: "10.1.3.0", lladdr: "0a:58:0a:01:03:00" });
 * // "ip neigh replace 10.1.3.0 lladdr 0a:58:0a:01:03:00 dev flannel.1 nud permanent"
 * cmdNeigh("del", { dev: "flannel.1", ip: "10.1.3.0" }); // "ip neigh del 10.1.3.0 dev flannel.1"
 * ```
 */
export function cmdNeigh(
  mode: "replace" | "del",
  n: { readonly dev: string; readonly ip: string; readonly lladdr?: string | null },
  netns: string | null = null,
): string {
  return `${program("ip", netns)} ${neighArgs(mode, n)}`;
}

/**
 * `bridge [-n NETNS] fdb replace|append MAC dev DEV dst IP self permanent` /
 * `bridge fdb del MAC dev DEV dst IP self`. Text is printed as given.
 *
 * @example
 * ```ts
 * cmdFdb("append", { dev: "vx0", lladdr: "00:00:00:00:00:00", dst: "192.168.1.3" });
 * // "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.1.3 self permanent"
 * ```
 */
export function cmdFdb(
  mode: "replace" | "append" | "del",
  f: { readonly dev: string; readonly lladdr: string; readonly dst: string | null },
  netns: string | null = null,
): string {
  return `${program("bridge", netns)} ${fdbArgs(mode, f)}`;
}
