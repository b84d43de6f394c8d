/**
 * iproute2 spellings of every change the handle makes: the dry run prints them, and error
 * messages name the failed operation with them. Running the printed commands yields the same
 * kernel state as applying (same protocol, scope and flags).
 *
 * The address, route, neighbour and FDB printers are core's (`planToCommands` prints plans with
 * them), re-exported here under their netlink names, so a dry run and core's commands cannot
 * drift apart. The link printers stay here: they spell netlink's own link requests (a vxlan
 * device created with its MTU and MAC in one request), which core's two-step `link add` /
 * `link set … up` form of a plan deliberately does not.
 */

export { cmdAddr, cmdFdb, cmdNeigh, cmdRoute } from "@flannel-sdk/core";

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
