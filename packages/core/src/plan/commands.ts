import { FlannelError, printable } from "../errors.js";
import { canonicalCidr, canonicalIP } from "../ip/parse.js";
import { canonicalMAC } from "../mac.js";
import { addrArgs, fdbArgs, neighArgs, program, routeArgs } from "./iproute2.js";
import type {
  AddressPlan,
  DataPlanePlan,
  FdbPlan,
  NeighborPlan,
  RoutePlan,
  VxlanLinkPlan,
} from "./types.js";

/** Options of {@link planToCommands}. */
export interface PlanCommandOptions {
  /**
   * `"per-peer"` (default): for each route, its neighbour and FDB entry first, then the route —
   * the order flanneld programs a remote lease in. `"grouped"`: all neighbours, then all FDB
   * entries, then all routes (what {@link planToBatches} feeds to `ip -batch`); it keeps the
   * same guarantee that no route exists before the entries it needs.
   */
  readonly order?: "per-peer" | "grouped";
  /**
   * A network namespace name: every line gets `ip -n NAME` / `bridge -n NAME`, as
   * `@flannel-sdk/netlink` prints a handle's dry run. Default: none.
   */
  readonly netns?: string;
}

/** One `ip -batch` / `bridge -batch` run: lines without the program name or global options. */
export interface CommandBatch {
  readonly tool: "ip" | "bridge";
  readonly lines: readonly string[];
}

interface Op {
  readonly tool: "ip" | "bridge";
  /** Needs `-6` on the command line (the batch form infers the family from the addresses). */
  readonly v6: boolean;
  readonly args: string;
}

const DEVICE_NAME = /^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,14}$/;
const NETNS_NAME = /^[A-Za-z0-9_.+][A-Za-z0-9_.+-]{0,254}$/;

function bad(what: string, value: unknown): FlannelError {
  return new FlannelError("PLAN_INVALID", `cannot print ${what}: ${printable(value)}`, {
    details: { [what]: value },
  });
}

function dev(name: unknown): string {
  if (typeof name !== "string" || !DEVICE_NAME.test(name) || name === "." || name === "..") {
    throw bad("device name", name);
  }
  return name;
}

function ip(text: unknown): string {
  try {
    return canonicalIP(text as string);
  } catch {
    throw bad("address", text);
  }
}

function cidr(text: unknown): string {
  try {
    return canonicalCidr(text as string);
  } catch {
    throw bad("CIDR", text);
  }
}

function mac(text: unknown): string {
  try {
    return canonicalMAC(text as string);
  } catch {
    throw bad("MAC", text);
  }
}

function namespace(name: unknown): string {
  // A name under /run/netns that needs no shell quoting.
  if (typeof name !== "string" || !NETNS_NAME.test(name) || name === "." || name === "..") {
    throw bad("namespace name", name);
  }
  return name;
}

function uint(value: unknown, what: string, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > max) {
    throw bad(what, value);
  }
  return value;
}

function linkOps(link: VxlanLinkPlan): Op[] {
  let add = `link add ${dev(link.name)} type vxlan id ${uint(link.vni, "VNI", 0xffffff)}`;
  if (link.local !== null && link.local !== undefined) add += ` local ${ip(link.local)}`;
  if (link.lowerDevice !== null) add += ` dev ${dev(link.lowerDevice)}`;
  // Port 0 leaves the attribute out, as flanneld does: the kernel default (8472) applies.
  if (uint(link.port, "port", 0xffff) > 0) add += ` dstport ${link.port}`;
  add += link.learning ? " learning" : " nolearning";
  if (link.gbp) add += " gbp";
  let set = `link set ${dev(link.name)} mtu ${uint(link.mtu, "MTU", 0xffff_ffff)}`;
  if (link.mac !== null) set += ` address ${mac(link.mac)}`;
  set += " up";
  return [
    { tool: "ip", v6: false, args: add },
    { tool: "ip", v6: false, args: set },
  ];
}

function addressOp(a: AddressPlan, v6: boolean): Op {
  return { tool: "ip", v6, args: addrArgs("replace", dev(a.dev), cidr(a.address), null) };
}

function neighborOp(n: NeighborPlan, v6: boolean): Op {
  const args = neighArgs("replace", { ip: ip(n.ip), lladdr: mac(n.lladdr), dev: dev(n.dev) });
  return { tool: "ip", v6, args };
}

function fdbOp(f: FdbPlan): Op {
  const args = fdbArgs("replace", { lladdr: mac(f.lladdr), dev: dev(f.dev), dst: ip(f.dst) });
  return { tool: "bridge", v6: false, args };
}

function routeOp(r: RoutePlan, v6: boolean): Op {
  const args = routeArgs("replace", {
    dst: cidr(r.dst),
    gateway: r.gateway === null ? null : ip(r.gateway),
    dev: r.dev === null ? null : dev(r.dev),
    onlink: r.onlink,
    ...(r.table === undefined ? {} : { table: uint(r.table, "table", 0xffff_ffff) }),
  });
  return { tool: "ip", v6, args };
}

function planOps(plan: DataPlanePlan, order: "per-peer" | "grouped"): Op[] {
  const v6 = plan.family === 6;
  const ops: Op[] = plan.link === null ? [] : linkOps(plan.link);
  for (const a of plan.addresses) ops.push(addressOp(a, v6));
  if (order === "grouped") {
    for (const n of plan.neighbors) ops.push(neighborOp(n, v6));
    for (const f of plan.fdb) ops.push(fdbOp(f));
    for (const r of plan.routes) ops.push(routeOp(r, v6));
    return ops;
  }
  const neighborsByGateway = new Map<string, NeighborPlan[]>();
  for (const n of plan.neighbors) {
    const key = `${n.dev} ${n.ip}`;
    const list = neighborsByGateway.get(key);
    if (list === undefined) neighborsByGateway.set(key, [n]);
    else list.push(n);
  }
  const fdbByMac = new Map<string, FdbPlan[]>();
  for (const f of plan.fdb) {
    const key = `${f.dev} ${f.lladdr}`;
    const list = fdbByMac.get(key);
    if (list === undefined) fdbByMac.set(key, [f]);
    else list.push(f);
  }
  const neighborDone = new Set<NeighborPlan>();
  const fdbDone = new Set<FdbPlan>();
  for (const r of plan.routes) {
    const n = r.onlink ? neighborsByGateway.get(`${r.dev} ${r.gateway}`)?.shift() : undefined;
    if (n !== undefined) {
      neighborDone.add(n);
      ops.push(neighborOp(n, v6));
      for (const f of fdbByMac.get(`${n.dev} ${n.lladdr}`) ?? []) {
        if (fdbDone.has(f)) continue;
        fdbDone.add(f);
        ops.push(fdbOp(f));
      }
    }
    ops.push(routeOp(r, v6));
  }
  // Entries no route leads to (a hand-built plan) still get programmed.
  for (const n of plan.neighbors) if (!neighborDone.has(n)) ops.push(neighborOp(n, v6));
  for (const f of plan.fdb) if (!fdbDone.has(f)) ops.push(fdbOp(f));
  return ops;
}

/**
 * The plan as iproute2 command lines (`ip …`, `bridge …`), in an order that can be run top to
 * bottom: `ip link add flannel.1 type vxlan id 1 local … dev … nolearning`, `ip link set
 * flannel.1 mtu 1450 address … up`, `ip addr replace …/32 dev flannel.1`, then per remote
 * lease `ip neigh replace S lladdr M dev flannel.1 nud permanent`, `bridge fdb replace M dev
 * flannel.1 dst P self permanent`, `ip route replace S/len via S dev flannel.1 onlink`. IPv6
 * plans use `ip -6`. Everything but `link add` is idempotent (`replace`); the address's
 * exclusivity within the network needs the current state and has no single command. With
 * `netns`, each line runs in that namespace (`ip -n NAME …`). The address, neighbour, FDB and
 * route lines are spelled by the same printers as `cmdAddr`, `cmdNeigh`, `cmdFdb`, `cmdRoute`.
 *
 * @throws FlannelError `PLAN_INVALID` when a plan field cannot be printed safely (a device or
 * namespace name that is not a kernel-valid, shell-safe name; an address, CIDR or MAC that does
 * not parse).
 * @example
 * ```ts
 * planToCommands(planHostGw(input));
 * // ["ip route replace 172.30.9.0/24 via 192.0.2.11 dev eth0", …]
 * ```
 */
export function planToCommands(plan: DataPlanePlan, options: PlanCommandOptions = {}): string[] {
  const netns = options.netns === undefined ? null : namespace(options.netns);
  return planOps(plan, options.order ?? "per-peer").map(
    (op) => `${program(op.tool, netns)}${op.v6 ? " -6" : ""} ${op.args}`,
  );
}

/**
 * The plan as input for `ip -batch -` and `bridge -batch -`: the grouped order of
 * {@link planToCommands} cut into consecutive runs per program (typically ip: link, address,
 * neighbours; bridge: FDB; ip: routes), each line without the program name and without `-6`
 * (batch lines take no global options; `ip` infers the family from the addresses). Run the
 * batches in order; `ip -force -batch` tolerates an existing device at `link add`.
 *
 * @throws FlannelError `PLAN_INVALID`, as {@link planToCommands}.
 * @example
 * ```ts
 * for (const b of planToBatches(plan)) execFileSync(b.tool, ["-batch", "-"], { input: b.lines.join("\n") });
 * ```
 */
export function planToBatches(plan: DataPlanePlan): CommandBatch[] {
  const batches: { tool: "ip" | "bridge"; lines: string[] }[] = [];
  for (const op of planOps(plan, "grouped")) {
    const last = batches[batches.length - 1];
    if (last !== undefined && last.tool === op.tool) last.lines.push(op.args);
    else batches.push({ tool: op.tool, lines: [op.args] });
  }
  return batches;
}
