/**
 * Kernel tier: the printed commands run as they are, with the real `ip` and `bridge`, inside
 * network namespaces this test creates (and removes, also on failure).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { tierGate } from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DataPlanePlan,
  planHostGw,
  planToBatches,
  planToCommands,
  planVxlan,
} from "../src/index.js";
import { dualStackConfig, lease, NODE_A, NODE_B, NODE_C, vxlanBackend } from "./plan-fixtures.js";

function missingPart(): string | null {
  if (process.platform !== "linux") return "needs Linux network namespaces";
  if (process.getuid?.() !== 0) {
    return "needs root (CAP_NET_ADMIN) to create network namespaces: run as root";
  }
  for (const tool of ["ip", "bridge"]) {
    if (spawnSync(tool, ["-V"]).error) return `${tool} not found: apt-get install -y iproute2`;
  }
  return null;
}

const run = tierGate("kernel", missingPart());
const suffix = Math.floor(Math.random() * 0xffffffff)
  .toString(16)
  .padStart(8, "0");
const namespaces: string[] = [];

function sh(tool: string, args: string[], input?: string): string {
  return execFileSync(tool, args, { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"] });
}

function makeNetns(tag: string): string {
  const ns = `core-plan-${tag}-${suffix}`;
  sh("ip", ["netns", "add", ns]);
  namespaces.push(ns);
  sh("ip", ["-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"]);
  sh("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  sh("ip", ["-n", ns, "link", "set", "eth0p", "up"]);
  sh("ip", ["-n", ns, "addr", "add", "172.16.97.244/24", "dev", "eth0"]);
  sh("ip", ["-n", ns, "-6", "addr", "add", "2001:db8:97::244/64", "dev", "eth0", "nodad"]);
  return ns;
}

/**
 * Runs `planToBatches` output with `ip -batch` / `bridge -batch`. `link add` is the one line
 * that is not idempotent: with `exists`, it is left out, as flanneld reuses a compatible device.
 */
function applyBatches(ns: string, plan: DataPlanePlan, exists = false): void {
  for (const b of planToBatches(plan)) {
    const lines = b.lines.filter((l) => !(exists && l.startsWith("link add ")));
    sh(b.tool, ["-n", ns, "-batch", "-"], `${lines.join("\n")}\n`);
  }
}

/** Runs each `planToCommands` line as its own process, `-n NS` after the program name. */
function applyCommands(ns: string, plan: DataPlanePlan): void {
  for (const line of planToCommands(plan)) {
    const [tool, ...args] = line.split(" ");
    sh(tool!, ["-n", ns, ...args]);
  }
}

function json<T>(tool: string, ns: string, args: string[]): T {
  return JSON.parse(sh(tool, ["-n", ns, "-j", ...args]) || "[]") as T;
}

interface Route {
  dst: string;
  gateway?: string;
  dev: string;
  flags: string[];
}

function state(ns: string, dev: string, family: "-4" | "-6") {
  return {
    link: json<{ mtu: number; address: string; operstate: string }[]>("ip", ns, [
      "-d",
      "link",
      "show",
      dev,
    ]),
    addr: json<{ addr_info: { local: string; prefixlen: number }[] }[]>("ip", ns, [
      family,
      "addr",
      "show",
      "dev",
      dev,
    ]),
    routes: json<Route[]>("ip", ns, [family, "route", "show"]),
    neigh: json<{ dst: string; lladdr: string; state: string[] }[]>("ip", ns, [
      family,
      "neigh",
      "show",
      "dev",
      dev,
    ]),
    fdb: json<{ mac: string; dst?: string; flags: string[]; state?: string }[]>("bridge", ns, [
      "fdb",
      "show",
      "dev",
      dev,
    ]).filter((e) => e.dst !== undefined),
  };
}

describe.runIf(run)("plan commands against the real kernel (kernel tier)", () => {
  let ns4: string;
  let nsHostGw: string;
  beforeAll(() => {
    ns4 = makeNetns("vx");
    nsHostGw = makeNetns("gw");
  });
  afterAll(() => {
    for (const ns of namespaces) spawnSync("ip", ["netns", "del", ns]);
  });

  it("the vxlan batches build flannel.1 with direct and encapsulated peers, idempotently", () => {
    const plan = planVxlan({
      config: dualStackConfig(vxlanBackend({ directRouting: true })),
      ownLease: lease(NODE_A),
      leases: [lease(NODE_A), lease(NODE_B), lease(NODE_C)],
      externalInterface: { name: "eth0", mtu: 1500 },
      underlaySubnets: ["172.16.97.0/24"],
    });
    applyBatches(ns4, plan);
    const first = state(ns4, "flannel.1", "-4");
    const info = first.link[0] as unknown as {
      mtu: number;
      address: string;
      linkinfo: { info_kind: string; info_data: Record<string, unknown> };
    };
    expect(info.mtu).toBe(1450);
    expect(info.address).toBe(NODE_A.mac);
    expect(info.linkinfo.info_kind).toBe("vxlan");
    expect(info.linkinfo.info_data).toMatchObject({ id: 1, local: NODE_A.publicIP, port: 8472 });
    expect(info.linkinfo.info_data.learning).toBe(false);
    expect(first.addr[0]!.addr_info).toEqual([
      expect.objectContaining({ local: "172.30.8.0", prefixlen: 32 }),
    ]);
    expect(first.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: "172.30.24.0/24", gateway: NODE_B.publicIP, dev: "eth0" }),
        expect.objectContaining({
          dst: "172.30.57.0/24",
          gateway: "172.30.57.0",
          dev: "flannel.1",
          flags: ["onlink"],
        }),
      ]),
    );
    expect(first.neigh).toEqual([
      expect.objectContaining({ dst: "172.30.57.0", lladdr: NODE_C.mac, state: ["PERMANENT"] }),
    ]);
    expect(first.fdb).toEqual([
      expect.objectContaining({
        mac: NODE_C.mac,
        dst: NODE_C.publicIP,
        flags: ["self"],
        state: "permanent",
      }),
    ]);

    applyBatches(ns4, plan, true);
    expect(state(ns4, "flannel.1", "-4")).toEqual(first);
  });

  it("the IPv6 commands, one process each, build flannel-v6.1 at the MTU the kernel keeps", () => {
    const plan = planVxlan({
      config: dualStackConfig(),
      family: 6,
      ownLease: lease(NODE_A),
      leases: [lease(NODE_B), lease(NODE_C)],
      externalInterface: { name: "eth0", mtu: 1500 },
    });
    applyCommands(ns4, plan);
    const s = state(ns4, "flannel-v6.1", "-6");
    expect(s.link[0]).toMatchObject({ mtu: 1430, address: NODE_A.macV6 });
    expect(s.addr[0]!.addr_info).toEqual(
      expect.arrayContaining([expect.objectContaining({ local: "fc00:0:0:8::", prefixlen: 128 })]),
    );
    expect(s.routes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          dst: "fc00:0:0:24::/64",
          gateway: "fc00:0:0:24::",
          dev: "flannel-v6.1",
          flags: ["onlink"],
        }),
      ]),
    );
    // Why link.mtu is 1430, not flanneld's 1450: the kernel clamps that request at creation
    // (netlink IFLA_MTU, as flanneld sends it) and refuses it afterwards.
    sh(
      "ip",
      ["-n", ns4, "link", "add", "probe6", "mtu", "1450", "type", "vxlan", "id", "99"].concat([
        "local",
        NODE_A.publicIPv6,
        "dev",
        "eth0",
        "dstport",
        "0",
      ]),
    );
    expect(json<{ mtu: number }[]>("ip", ns4, ["link", "show", "probe6"])[0]!.mtu).toBe(1430);
    expect(() => sh("ip", ["-n", ns4, "link", "set", "flannel-v6.1", "mtu", "1450"])).toThrow();
    expect(s.neigh.map((n) => [n.dst, n.lladdr])).toEqual(
      expect.arrayContaining([
        ["fc00:0:0:24::", NODE_B.macV6],
        ["fc00:0:0:57::", NODE_C.macV6],
      ]),
    );
    expect(s.fdb.map((f) => [f.mac, f.dst])).toEqual(
      expect.arrayContaining([
        [NODE_B.macV6, NODE_B.publicIPv6],
        [NODE_C.macV6, NODE_C.publicIPv6],
      ]),
    );
  });

  it("the host-gw commands route each subnet via its public IP on eth0", () => {
    const hostGw = (n: typeof NODE_A) => lease({ ...n, backendType: "host-gw" });
    for (const family of [4, 6] as const) {
      const plan = planHostGw({
        config: dualStackConfig({ type: "host-gw" }),
        family,
        ownLease: hostGw(NODE_A),
        // NODE_C's public IP is off-link here; give it one on the segment
        leases: [
          hostGw(NODE_B),
          hostGw({ ...NODE_C, publicIP: "172.16.97.17", publicIPv6: "2001:db8:97::17" }),
        ],
        externalInterface: { name: "eth0", mtu: 1500, address: "172.16.97.244" },
      });
      applyCommands(nsHostGw, plan);
      applyCommands(nsHostGw, plan);
    }
    const v4 = json<Route[]>("ip", nsHostGw, ["-4", "route", "show"]);
    expect(v4).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ dst: "172.30.24.0/24", gateway: "172.16.97.245", dev: "eth0" }),
        expect.objectContaining({ dst: "172.30.57.0/24", gateway: "172.16.97.17", dev: "eth0" }),
      ]),
    );
    const v6 = json<Route[]>("ip", nsHostGw, ["-6", "route", "show"]);
    expect(v6).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          dst: "fc00:0:0:24::/64",
          gateway: "2001:db8:97::245",
          dev: "eth0",
        }),
      ]),
    );
  });
});
