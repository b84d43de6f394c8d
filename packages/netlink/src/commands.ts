/**
 * iproute2 spellings of every change the handle makes: the dry run prints them, and error
 * messages name the failed operation with them. Running the printed commands yields the same
 * kernel state as applying (same protocol, scope and flags).
 */

/** Prefix for a named namespace: `ip -n NAME`, `bridge -n NAME`. */
function tool(name: "ip" | "bridge", netns: string | null): string {
  return netns === null || netns.includes("/") ? name : `${name} -n ${netns}`;
}

/**
 * `ip link add NAME … type vxlan …` for a vxlan spec (names, not indexes). `netns` adds `-n NAME`.
 * @example
 * ```ts
 * cmdVxlanAdd({ name: "flannel.1", vni: 1, port: 0, local: "10.0.0.1", lowerDevice: "eth0", learning: false, gbp: false, mtu: 1450, mac: null });
 * // "ip link add flannel.1 mtu 1450 type vxlan id 1 local 10.0.0.1 dev eth0 dstport 0 nolearning"
 * ```
 */
export function cmdVxlanAdd(
  v: {
    name: string;
    vni: number;
    port: number;
    local: string | null;
    lowerDevice: string | null;
    learning: boolean;
    gbp: boolean;
    mtu: number | null;
    mac: string | null;
  },
  netns: string | null = null,
): string {
  let s = `${tool("ip", netns)} link add ${v.name}`;
  if (v.mac !== null) s += ` address ${v.mac}`;
  if (v.mtu !== null) s += ` mtu ${v.mtu}`;
  s += ` type vxlan id ${v.vni}`;
  if (v.local !== null) s += ` local ${v.local}`;
  if (v.lowerDevice !== null) s += ` dev ${v.lowerDevice}`;
  s += ` dstport ${v.port}`; // 0: the kernel default (8472), as flannel leaves it
  s += v.learning ? " learning" : " nolearning";
  if (v.gbp) s += " gbp";
  return s;
}

/**
 * `ip link add NAME [address MAC] [mtu N] type bridge`.
 * @example
 * ```ts
 * cmdBridgeAdd({ name: "cni0", mtu: 1450, mac: null }); // "ip link add cni0 mtu 1450 type bridge"
 * ```
 */
export function cmdBridgeAdd(
  v: { name: string; mtu: number | null; mac: string | null },
  netns: string | null = null,
): string {
  let s = `${tool("ip", netns)} link add ${v.name}`;
  if (v.mac !== null) s += ` address ${v.mac}`;
  if (v.mtu !== null) s += ` mtu ${v.mtu}`;
  return `${s} type bridge`;
}

/**
 * `ip link set dev DEV [up|down] [mtu N] [address MAC]`.
 * @example
 * ```ts
 * cmdLinkSet("flannel.1", { up: true }); // "ip link set dev flannel.1 up"
 * ```
 */
export function cmdLinkSet(
  dev: string,
  change: { up?: boolean; mtu?: number; mac?: string },
  netns: string | null = null,
): string {
  let s = `${tool("ip", netns)} link set dev ${dev}`;
  if (change.up !== undefined) s += change.up ? " up" : " down";
  if (change.mtu !== undefined) s += ` mtu ${change.mtu}`;
  if (change.mac !== undefined) s += ` address ${change.mac}`;
  return s;
}

/**
 * `ip link del dev DEV`.
 * @example
 * ```ts
 * cmdLinkDel("flannel.1", "blue"); // "ip -n blue link del dev flannel.1"
 * ```
 */
export function cmdLinkDel(dev: string, netns: string | null = null): string {
  return `${tool("ip", netns)} link del dev ${dev}`;
}

/**
 * `ip addr add|replace|del CIDR [broadcast B] dev DEV`.
 * @example
 * ```ts
 * cmdAddr("add", "flannel.1", "10.1.2.0/32"); // "ip addr add 10.1.2.0/32 dev flannel.1"
 * ```
 */
export function cmdAddr(
  mode: "add" | "replace" | "del",
  dev: string,
  cidr: string,
  broadcast: string | null = null,
  netns: string | null = null,
): string {
  const brd = broadcast === null ? "" : ` broadcast ${broadcast}`;
  return `${tool("ip", netns)} addr ${mode} ${cidr}${brd} dev ${dev}`;
}

/**
 * `ip [-6] route replace|add|del DST [via GW] [dev DEV] [onlink] [table T] [metric M]`.
 * @example
 * ```ts
 * cmdRoute("replace", { dst: "10.1.3.0/24", gateway: "10.1.3.0", dev: "flannel.1", onlink: true });
 * // "ip route replace 10.1.3.0/24 via 10.1.3.0 dev flannel.1 onlink"
 * ```
 */
export function cmdRoute(
  mode: "replace" | "add" | "del",
  r: {
    dst: string;
    gateway?: string | null;
    dev?: string | null;
    onlink?: boolean;
    table?: number;
    priority?: number;
  },
  netns: string | null = null,
): string {
  const v6 = r.dst.includes(":");
  let s = `${tool("ip", netns)}${v6 ? " -6" : ""} route ${mode} ${r.dst}`;
  if (r.gateway != null) s += ` via ${r.gateway}`;
  if (r.dev != null) s += ` dev ${r.dev}`;
  if (r.onlink) s += " onlink";
  if (r.table !== undefined && r.table !== 254) s += ` table ${r.table}`;
  if (r.priority !== undefined && r.priority !== 0) s += ` metric ${r.priority}`;
  return s;
}

/**
 * `ip neigh replace IP lladdr MAC dev DEV nud permanent` / `ip neigh del IP dev DEV`.
 * @example
 * ```ts
 * cmdNeigh("del", { dev: "flannel.1", ip: "10.1.3.0" }); // "ip neigh del 10.1.3.0 dev flannel.1"
 * ```
 */
export function cmdNeigh(
  mode: "replace" | "del",
  n: { dev: string; ip: string; lladdr?: string | null },
  netns: string | null = null,
): string {
  if (mode === "del") return `${tool("ip", netns)} neigh del ${n.ip} dev ${n.dev}`;
  return `${tool("ip", netns)} neigh replace ${n.ip} lladdr ${n.lladdr} dev ${n.dev} nud permanent`;
}

/**
 * `bridge fdb replace|append MAC dev DEV dst IP self permanent` / `bridge fdb del MAC dev DEV dst IP self`.
 * @example
 * ```ts
 * cmdFdb("append", { dev: "vx0", lladdr: "00:00:00:00:00:00", dst: "192.168.1.3" });
 * // "bridge fdb append 00:00:00:00:00:00 dev vx0 dst 192.168.1.3 self permanent"
 * ```
 */
export function cmdFdb(
  mode: "replace" | "append" | "del",
  f: { dev: string; lladdr: string; dst: string | null },
  netns: string | null = null,
): string {
  const dst = f.dst === null ? "" : ` dst ${f.dst}`;
  const tail = mode === "del" ? " self" : " self permanent";
  return `${tool("bridge", netns)} fdb ${mode} ${f.lladdr} dev ${f.dev}${dst}${tail}`;
}
