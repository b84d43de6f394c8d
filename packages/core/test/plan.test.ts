import { describe, expect, it } from "vitest";
import {
  BACKEND_MTU_OVERHEAD,
  backendMtu,
  canonicalMAC,
  cmdAddr,
  cmdFdb,
  cmdNeigh,
  cmdRoute,
  type DataPlanePlan,
  diffPlans,
  HOST_GW_NAT_MESSAGE,
  isFlannelError,
  type PlanResult,
  planEntries,
  planHostGw,
  planToBatches,
  planToCommands,
  planVxlan,
  type VxlanPlanInput,
} from "../src/index.js";
import {
  dualStackConfig,
  goldenView,
  guideConfig,
  lease,
  NODE_A,
  NODE_B,
  NODE_C,
  vxlanBackend,
} from "./plan-fixtures.js";

const eth0 = { name: "eth0", mtu: 1500 };

function guideInput(overrides: Partial<VxlanPlanInput> = {}): VxlanPlanInput {
  return {
    config: guideConfig(),
    ownLease: lease(NODE_A),
    leases: [lease(NODE_A), lease(NODE_B), lease(NODE_C)],
    externalInterface: eth0,
    ...overrides,
  };
}

function batchesText(plan: DataPlanePlan): string {
  return planToBatches(plan)
    .map((b) => `# ${b.tool} -batch -\n${b.lines.join("\n")}\n`)
    .join("");
}

async function golden(name: string, plan: PlanResult): Promise<void> {
  const dir = "./golden/plan";
  await expect(`${JSON.stringify(goldenView(plan), null, 2)}\n`).toMatchFileSnapshot(
    `${dir}/${name}.plan.json`,
  );
  await expect(`${planToCommands(plan).join("\n")}\n`).toMatchFileSnapshot(
    `${dir}/${name}.commands.txt`,
  );
  await expect(batchesText(plan)).toMatchFileSnapshot(`${dir}/${name}.batches.txt`);
}

function expectPlanError(fn: () => unknown, message?: string | RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(isFlannelError(e, "PLAN_INVALID"), String(e)).toBe(true);
    if (message !== undefined) expect((e as Error).message).toMatch(message);
    return;
  }
  throw new Error("expected a PLAN_INVALID error");
}

describe("planVxlan on the install guide's network (172.30.0.0/16, /24, vxlan)", () => {
  it("plans flannel.1, its /32 and per remote a neighbour, an FDB entry and an onlink route", async () => {
    const plan = planVxlan(guideInput());
    expect(plan.link).toEqual({
      kind: "vxlan",
      name: "flannel.1",
      vni: 1,
      port: 0,
      local: "172.16.97.244",
      lowerDevice: "eth0",
      learning: false,
      gbp: false,
      mtu: 1450,
      mac: "3a:b9:84:c3:57:7c",
    });
    expect(plan.mtu).toBe(1450);
    expect(plan.addresses).toEqual([
      { dev: "flannel.1", address: "172.30.8.0/32", exclusiveWithin: "172.30.0.0/16" },
    ]);
    expect(plan.neighbors).toEqual([
      { dev: "flannel.1", ip: "172.30.24.0", lladdr: NODE_B.mac, state: "permanent" },
      { dev: "flannel.1", ip: "172.30.57.0", lladdr: NODE_C.mac, state: "permanent" },
    ]);
    expect(plan.fdb).toEqual([
      { dev: "flannel.1", lladdr: NODE_B.mac, dst: NODE_B.publicIP, self: true, permanent: true },
      { dev: "flannel.1", lladdr: NODE_C.mac, dst: NODE_C.publicIP, self: true, permanent: true },
    ]);
    expect(plan.routes).toEqual([
      { dst: "172.30.24.0/24", gateway: "172.30.24.0", dev: "flannel.1", onlink: true },
      { dst: "172.30.57.0/24", gateway: "172.30.57.0", dev: "flannel.1", onlink: true },
    ]);
    expect(plan.owned).toEqual({ network: "172.30.0.0/16", devices: ["flannel.1"] });
    expect(plan.skipped).toEqual([]);
    await golden("vxlan-guide", plan);
  });

  it("prints flannel's commands in flannel's order (neighbour, FDB, route per lease)", () => {
    expect(planToCommands(planVxlan(guideInput()))).toEqual([
      "ip link add flannel.1 type vxlan id 1 local 172.16.97.244 dev eth0 nolearning",
      "ip link set flannel.1 mtu 1450 address 3a:b9:84:c3:57:7c up",
      "ip addr replace 172.30.8.0/32 dev flannel.1",
      "ip neigh replace 172.30.24.0 lladdr 5e:10:2a:7b:01:b2 dev flannel.1 nud permanent",
      "bridge fdb replace 5e:10:2a:7b:01:b2 dev flannel.1 dst 172.16.97.245 self permanent",
      "ip route replace 172.30.24.0/24 via 172.30.24.0 dev flannel.1 onlink",
      "ip neigh replace 172.30.57.0 lladdr d2:6f:51:0e:9c:03 dev flannel.1 nud permanent",
      "bridge fdb replace d2:6f:51:0e:9c:03 dev flannel.1 dst 172.16.98.17 self permanent",
      "ip route replace 172.30.57.0/24 via 172.30.57.0 dev flannel.1 onlink",
    ]);
  });

  it("grouped order and batches hold the same lines, routes last", () => {
    const plan = planVxlan(guideInput());
    const grouped = planToCommands(plan, { order: "grouped" });
    expect([...grouped].sort()).toEqual([...planToCommands(plan)].sort());
    const batches = planToBatches(plan);
    expect(batches.map((b) => b.tool)).toEqual(["ip", "bridge", "ip"]);
    expect(batches.flatMap((b) => b.lines.map((l) => `${b.tool} ${l}`))).toEqual(grouped);
    expect(batches[2]!.lines.every((l) => l.startsWith("route replace "))).toBe(true);
  });

  it("takes VNI, port, GBP, learning and MTU from the config", () => {
    const plan = planVxlan(
      guideInput({
        config: guideConfig(
          vxlanBackend({ vni: 4096, port: 4789, gbp: true, learning: true, mtu: 1400 }),
        ),
        ownLease: lease({ ...NODE_A, backendData: { VNI: 4096, VtepMAC: NODE_A.mac } }),
      }),
    );
    expect(plan.link).toMatchObject({ name: "flannel.4096", vni: 4096, port: 4789, gbp: true });
    expect(plan.link?.learning).toBe(true);
    expect(plan.mtu).toBe(1350);
    expect(plan.link?.mtu).toBe(1350);
    expect(planToCommands(plan).slice(0, 2)).toEqual([
      "ip link add flannel.4096 type vxlan id 4096 local 172.16.97.244 dev eth0 dstport 4789 learning gbp",
      "ip link set flannel.4096 mtu 1350 address 3a:b9:84:c3:57:7c up",
    ]);
    expect(plan.routes.every((r) => r.dev === "flannel.4096")).toBe(true);
  });

  it("reports FLANNEL_MTU = config MTU − 50 but caps the device at what the kernel keeps", () => {
    // flanneld asks for 8950 on a 1500 NIC; the kernel clamps the new device to 1450.
    const plan = planVxlan(guideInput({ config: guideConfig(vxlanBackend({ mtu: 9000 })) }));
    expect(plan.mtu).toBe(8950);
    expect(plan.link?.mtu).toBe(1450);
    const jumbo = planVxlan(guideInput({ externalInterface: { name: "eth0", mtu: 9001 } }));
    expect(jumbo.mtu).toBe(8951);
    expect(jumbo.link?.mtu).toBe(8951);
  });

  it("uses an explicit public IP and VtepMAC over the own lease's, canonicalised", () => {
    const plan = planVxlan(guideInput({ publicIP: "172.16.97.250", vtepMAC: "0A-0B-0C-0D-0E-0F" }));
    expect(plan.link?.local).toBe("172.16.97.250");
    expect(plan.link?.mac).toBe("0a:0b:0c:0d:0e:0f");
    const kernelChooses = planVxlan(guideInput({ vtepMAC: null }));
    expect(kernelChooses.link?.mac).toBeNull();
    expect(planToCommands(kernelChooses)[1]).toBe("ip link set flannel.1 mtu 1450 up");
  });

  it("reads a v0.11 lease (VtepMAC only, no VNI) and Go's case-insensitive keys", () => {
    const plan = planVxlan(
      guideInput({
        leases: [
          lease({ ...NODE_B, backendData: { VtepMAC: NODE_B.mac } }),
          lease({ ...NODE_C, backendData: { vni: 1, vtepmac: NODE_C.mac.toUpperCase() } }),
        ],
      }),
    );
    expect(plan.neighbors.map((n) => n.lladdr)).toEqual([NODE_B.mac, NODE_C.mac]);
  });

  it("never plans remote state for the own subnet, even with another public IP", () => {
    const plan = planVxlan(
      guideInput({ leases: [lease({ ...NODE_A, publicIP: "172.16.97.99" }), lease(NODE_B)] }),
    );
    expect(plan.routes.map((r) => r.dst)).toEqual(["172.30.24.0/24"]);
    expect(plan.skipped).toEqual([]);
  });

  it("with DirectRouting routes directly to peers on the same segment", async () => {
    const config = guideConfig(vxlanBackend({ directRouting: true }));
    const plan = planVxlan(guideInput({ config, underlaySubnets: ["172.16.97.0/24"] }));
    expect(plan.routes).toEqual([
      { dst: "172.30.24.0/24", gateway: "172.16.97.245", dev: null, onlink: false },
      { dst: "172.30.57.0/24", gateway: "172.30.57.0", dev: "flannel.1", onlink: true },
    ]);
    expect(plan.neighbors.map((n) => n.ip)).toEqual(["172.30.57.0"]);
    expect(plan.fdb.map((f) => f.dst)).toEqual(["172.16.98.17"]);
    expect(plan.owned.devices).toEqual(["flannel.1", "eth0"]);
    expect(planToCommands(plan)).toContain("ip route replace 172.30.24.0/24 via 172.16.97.245");
    await golden("vxlan-direct-routing", plan);

    const byPredicate = planVxlan(
      guideInput({ config, isDirectlyReachable: (ip) => ip === "172.16.98.17" }),
    );
    expect(byPredicate.routes.map((r) => r.gateway)).toEqual(["172.30.24.0", "172.16.98.17"]);
    // Without DirectRouting the predicate is not consulted.
    const off = planVxlan(guideInput({ isDirectlyReachable: () => true }));
    expect(off.routes.every((r) => r.onlink)).toBe(true);
    expect(off.owned.devices).toEqual(["flannel.1"]);
  });

  it("plans the IPv6 side on flannel-v6.N from the v6 subnets, PublicIPv6 and BackendV6Data", async () => {
    const plan = planVxlan({
      config: dualStackConfig(),
      family: 6,
      ownLease: lease(NODE_A),
      leases: [lease(NODE_A), lease(NODE_B), lease(NODE_C)],
      externalInterface: eth0,
    });
    expect(plan.family).toBe(6);
    expect(plan.link).toMatchObject({
      name: "flannel-v6.1",
      local: "2001:db8:97::244",
      mac: NODE_A.macV6,
      // the kernel keeps at most 1500 − 70 on a vxlan device over IPv6
      mtu: 1430,
    });
    expect(plan.mtu).toBe(1450);
    expect(plan.addresses).toEqual([
      { dev: "flannel-v6.1", address: "fc00:0:0:8::/128", exclusiveWithin: "fc00::/48" },
    ]);
    expect(plan.routes[0]).toEqual({
      dst: "fc00:0:0:24::/64",
      gateway: "fc00:0:0:24::",
      dev: "flannel-v6.1",
      onlink: true,
    });
    expect(plan.fdb[0]).toMatchObject({ lladdr: NODE_B.macV6, dst: "2001:db8:97::245" });
    const commands = planToCommands(plan);
    expect(commands).toContain(
      "ip -6 route replace fc00:0:0:24::/64 via fc00:0:0:24:: dev flannel-v6.1 onlink",
    );
    expect(planToBatches(plan)[0]!.lines).toContain(
      "addr replace fc00:0:0:8::/128 dev flannel-v6.1",
    );
    await golden("vxlan-ipv6", plan);

    const v4 = planVxlan({ ...guideInput(), config: dualStackConfig() });
    expect(v4.link?.name).toBe("flannel.1");
    expect(v4.routes).toHaveLength(2);
  });

  it("leaves out and reports remote leases it cannot program", async () => {
    const plan = planVxlan(
      guideInput({
        leases: [
          lease(NODE_A),
          lease(NODE_B),
          lease({ subnet: "172.30.30.0/24", publicIP: "172.16.97.30", backendType: "host-gw" }),
          lease({ subnet: "172.30.31.0/24", publicIP: "172.16.97.31", backendType: "" }),
          lease({ subnet: "172.30.32.0/24", publicIP: "172.16.97.32", mac: "not-a-mac" }),
          lease({ subnet: "172.30.33.0/24", publicIP: "172.16.97.33", backendData: { VNI: 1 } }),
          lease({ subnet: "172.30.34.0/24", publicIP: "172.16.97.34", mac: "01:00:5e:00:00:01" }),
          lease({ subnet: "172.30.35.0/24", publicIP: "172.16.97.35", backendData: "x" }),
          lease({ subnet: "10.9.0.0/24", publicIP: "172.16.97.36", mac: "02:00:00:00:00:36" }),
          lease({ subnet: "172.30.37.1/24", publicIP: "172.16.97.37", mac: "02:00:00:00:00:37" }),
          lease({ subnet: "172.30.38.0/24", publicIP: "0.0.0.0", mac: "02:00:00:00:00:38" }),
          lease({ subnet: "172.30.39.0/24", publicIP: NODE_A.publicIP, mac: "02:00:00:00:00:39" }),
          lease({ ...NODE_C, expiration: new Date("2026-01-01T00:00:00Z") }),
          lease({ ...NODE_C, publicIP: "172.16.98.18", mac: "02:00:00:00:00:18" }),
        ],
      }),
    );
    expect(plan.routes.map((r) => r.dst)).toEqual(["172.30.24.0/24", "172.30.57.0/24"]);
    // the later-expiring of the two 172.30.57.0/24 leases wins
    expect(plan.fdb[1]).toMatchObject({ dst: "172.16.98.18", lladdr: "02:00:00:00:00:18" });
    expect(plan.skipped.map((s) => [s.lease.subnet, s.reason])).toEqual([
      ["172.30.30.0/24", "backend-mismatch"],
      ["172.30.31.0/24", "backend-mismatch"],
      ["172.30.32.0/24", "bad-backend-data"],
      ["172.30.33.0/24", "bad-backend-data"],
      ["172.30.34.0/24", "bad-backend-data"],
      ["172.30.35.0/24", "bad-backend-data"],
      ["172.30.37.1/24", "bad-subnet"],
      ["172.30.57.0/24", "duplicate-subnet"],
      ["172.30.38.0/24", "no-public-ip"],
      ["10.9.0.0/24", "outside-network"],
      ["172.30.39.0/24", "same-public-ip"],
    ]);
    expect(plan.skipped[0]!.message).toBe(
      "ignoring non-vxlan v4Subnet(172.30.30.0/24) v6Subnet(::/0): type=host-gw",
    );
    await golden("vxlan-skipped", plan);
  });

  it("prefers a reservation, then the later expiration, then the higher revision", () => {
    const a = lease({ ...NODE_B, expiration: null });
    const b = lease({ ...NODE_B, publicIP: "172.16.97.200", expiration: new Date(2e12) });
    expect(planVxlan(guideInput({ leases: [b, a] })).fdb[0]!.dst).toBe(NODE_B.publicIP);
    const c = lease({ ...NODE_B, publicIP: "172.16.97.201", revision: 7n });
    const d = lease({ ...NODE_B, publicIP: "172.16.97.202", revision: 9n });
    expect(planVxlan(guideInput({ leases: [d, c] })).fdb[0]!.dst).toBe("172.16.97.202");
    expect(planVxlan(guideInput({ leases: [c, d] })).fdb[0]!.dst).toBe("172.16.97.202");
  });

  it("refuses unusable local input with PLAN_INVALID", () => {
    expectPlanError(
      () => planVxlan(guideInput({ config: guideConfig({ type: "host-gw" }) })),
      "the network config's backend is host-gw, not vxlan",
    );
    expectPlanError(
      () => planVxlan({ ...guideInput(), family: 6 }),
      "IPv6 is not enabled in the network config",
    );
    expectPlanError(
      () => planVxlan(guideInput({ ownLease: lease({ ...NODE_A, subnet: "0.0.0.0/0" }) })),
      "IPv4 is enabled but the lease has no IPv4",
    );
    expectPlanError(() => planVxlan(guideInput({ publicIP: "172.16.97" })), /public IP/);
    expectPlanError(() => planVxlan(guideInput({ vtepMAC: "zz:00:00:00:00:00" })), /invalid MAC/);
    expectPlanError(() => planVxlan(guideInput({ vtepMAC: "ff:ff:ff:ff:ff:ff" })), /unicast/);
    expectPlanError(() => planVxlan(guideInput({ externalInterface: { name: "", mtu: 1500 } })));
    expectPlanError(
      () => planVxlan(guideInput({ externalInterface: { name: "eth0", mtu: 0 } })),
      "failed to determine MTU for eth0 interface: 0",
    );
    expectPlanError(
      () => planVxlan(guideInput({ externalInterface: { name: "eth0", mtu: 100 } })),
      "MTU 100 of iface eth0 is too small for vxlan mode to work",
    );
    expectPlanError(() =>
      planVxlan(
        guideInput({
          config: guideConfig(vxlanBackend({ directRouting: true })),
          underlaySubnets: ["172.16.97.0/33"],
        }),
      ),
    );
  });
});

describe("planHostGw", () => {
  const hostGwLease = (n: typeof NODE_A) => lease({ ...n, backendType: "host-gw" });
  const input = {
    config: guideConfig({ type: "host-gw" }),
    ownLease: hostGwLease(NODE_A),
    leases: [
      hostGwLease(NODE_A),
      hostGwLease(NODE_B),
      hostGwLease(NODE_C),
      lease({ subnet: "172.30.90.0/24", publicIP: "172.16.97.90", mac: "02:00:00:00:00:90" }),
    ],
    externalInterface: { name: "eth0", mtu: 1500, address: "172.16.97.244" },
  };

  it("routes each remote subnet via its public IP on the external interface", async () => {
    const plan = planHostGw(input);
    expect(plan.link).toBeNull();
    expect(plan.addresses).toEqual([]);
    expect(plan.neighbors).toEqual([]);
    expect(plan.fdb).toEqual([]);
    expect(plan.mtu).toBe(1500);
    expect(plan.routes).toEqual([
      { dst: "172.30.24.0/24", gateway: "172.16.97.245", dev: "eth0", onlink: false },
      { dst: "172.30.57.0/24", gateway: "172.16.98.17", dev: "eth0", onlink: false },
    ]);
    expect(plan.owned).toEqual({ network: "172.30.0.0/16", devices: ["eth0"] });
    expect(plan.skipped.map((s) => [s.reason, s.message])).toEqual([
      ["backend-mismatch", "Ignoring non-host-gw subnet: type=vxlan"],
    ]);
    expect(planToCommands(plan)).toEqual([
      "ip route replace 172.30.24.0/24 via 172.16.97.245 dev eth0",
      "ip route replace 172.30.57.0/24 via 172.16.98.17 dev eth0",
    ]);
    await golden("host-gw-guide", plan);
  });

  it("refuses a public IP that is not the interface's address, with flannel's message", () => {
    expectPlanError(
      () => planHostGw({ ...input, publicIP: "203.0.113.7" }),
      "your PublicIP differs from interface IP, meaning that probably you're on a NAT, which is not supported by host-gw backend",
    );
    expect(HOST_GW_NAT_MESSAGE).toContain("not supported by host-gw backend");
    expectPlanError(() =>
      planHostGw({ ...input, externalInterface: { ...input.externalInterface, address: "x" } }),
    );
    // no interface address given: nothing to compare
    expect(() =>
      planHostGw({ ...input, externalInterface: { name: "eth0", mtu: 1500 } }),
    ).not.toThrow();
  });

  it("plans IPv6 routes via PublicIPv6", () => {
    const plan = planHostGw({
      ...input,
      config: dualStackConfig({ type: "host-gw" }),
      family: 6,
    });
    expect(plan.routes[0]).toEqual({
      dst: "fc00:0:0:24::/64",
      gateway: "2001:db8:97::245",
      dev: "eth0",
      onlink: false,
    });
    expect(planToCommands(plan)[0]).toBe(
      "ip -6 route replace fc00:0:0:24::/64 via 2001:db8:97::245 dev eth0",
    );
  });
});

describe("backendMtu", () => {
  it.each([
    ["vxlan", 1500, 1450],
    ["vxlan", 9001, 8951],
    ["host-gw", 1500, 1500],
    ["udp", 1500, 1472],
    ["ipip", 1500, 1480],
    ["wireguard", 1500, 1420],
    ["ipsec", 1500, 1423],
    ["alloc", 1500, 1500],
    ["extension", 1500, 1500],
  ] as const)("%s over %i reports %i", (type, underlay, expected) => {
    expect(backendMtu(type, underlay)).toBe(expected);
    expect(BACKEND_MTU_OVERHEAD[type]).toBe(underlay - expected);
  });

  it("uses the MTU option of vxlan / wireguard and ipsec's UDPEncap", () => {
    expect(backendMtu(vxlanBackend({ mtu: 1400 }), 1500)).toBe(1350);
    expect(backendMtu("vxlan", 1500, { configMtu: 1400 })).toBe(1350);
    expect(
      backendMtu(
        {
          type: "wireguard",
          listenPort: 51820,
          listenPortV6: 51821,
          mtu: 9000,
          psk: "",
          persistentKeepaliveInterval: 0,
          mode: "separate",
        },
        1500,
      ),
    ).toBe(8920);
    expect(backendMtu("ipsec", 1500, { udpEncap: true })).toBe(1415);
  });

  it("keeps a smaller existing ipip device MTU (flanneld only lowers it)", () => {
    expect(backendMtu("ipip", 1500, { existingDeviceMtu: 1400 })).toBe(1400);
    expect(backendMtu("ipip", 1500, { existingDeviceMtu: 9000 })).toBe(1480);
  });

  it("refuses a missing underlay MTU or a result below 68", () => {
    expectPlanError(() => backendMtu("vxlan", 0));
    expectPlanError(() => backendMtu("vxlan", 1.5));
    expectPlanError(
      () => backendMtu("ipip", 80, { interfaceName: "eth0" }),
      "MTU 80 of iface eth0 is too small for ipip mode to work",
    );
    expectPlanError(() => backendMtu("bogus" as never, 1500), "unknown backend type: bogus");
  });
});

describe("canonicalMAC", () => {
  it.each([
    ["3a:b9:84:c3:57:7c", "3a:b9:84:c3:57:7c"],
    ["3A:B9:84:C3:57:7C", "3a:b9:84:c3:57:7c"],
    ["3a-b9-84-c3-57-7c", "3a:b9:84:c3:57:7c"],
    ["3ab9.84c3.577c", "3a:b9:84:c3:57:7c"],
  ])("%s → %s", (text, expected) => {
    expect(canonicalMAC(text)).toBe(expected);
  });

  it.each([
    "",
    "3a:b9:84:c3:57",
    "3a:b9:84:c3:57:7c:00",
    "3a:b9-84:c3:57:7c",
    "3a:b9:84:c3:57:7g",
    " 3a:b9:84:c3:57:7c",
    "3ab9.84c3-577c",
    "00:00:5e:00:53:00:00:01",
  ])("refuses %j", (text) => {
    expect(() => canonicalMAC(text)).toThrow(/invalid MAC address/);
  });
});

describe("planToCommands", () => {
  it("prints tables other than main, device routes, and refuses unsafe tokens", () => {
    const base = planHostGw({
      config: guideConfig({ type: "host-gw" }),
      ownLease: lease({ ...NODE_A, backendType: "host-gw" }),
      leases: [],
      externalInterface: eth0,
    });
    const plan: DataPlanePlan = {
      ...base,
      routes: [
        { dst: "172.30.9.0/24", gateway: "172.16.97.245", dev: "eth0", onlink: false, table: 254 },
        { dst: "172.30.10.0/24", gateway: "172.16.97.246", dev: "eth0", onlink: true, table: 100 },
        { dst: "172.30.11.0/24", gateway: null, dev: "eth0", onlink: false },
      ],
    };
    expect(planToCommands(plan)).toEqual([
      "ip route replace 172.30.9.0/24 via 172.16.97.245 dev eth0",
      "ip route replace 172.30.10.0/24 via 172.16.97.246 dev eth0 onlink table 100",
      "ip route replace 172.30.11.0/24 dev eth0",
    ]);
    const evil = { ...plan, routes: [{ ...plan.routes[0]!, dev: "eth0;reboot" }] };
    expectPlanError(() => planToCommands(evil), /device name/);
    expectPlanError(() => planToCommands({ ...plan, routes: [{ ...plan.routes[0]!, dev: "-6" }] }));
    expectPlanError(() =>
      planToCommands({ ...plan, routes: [{ ...plan.routes[0]!, gateway: "1.2.3.4 x" }] }),
    );
  });

  it("prints neighbours and FDB entries no route refers to after the routes", () => {
    const plan = planVxlan(guideInput());
    const hand: DataPlanePlan = { ...plan, routes: plan.routes.slice(1) };
    const lines = planToCommands(hand);
    expect(lines.slice(3, 6)).toEqual(planToCommands(plan).slice(6, 9));
    expect(lines.slice(6)).toEqual([
      "ip neigh replace 172.30.24.0 lladdr 5e:10:2a:7b:01:b2 dev flannel.1 nud permanent",
      "bridge fdb replace 5e:10:2a:7b:01:b2 dev flannel.1 dst 172.16.97.245 self permanent",
    ]);
  });

  it("runs every line in a namespace with netns, and refuses a name the shell would split", () => {
    const plan = planVxlan(guideInput());
    const plain = planToCommands(plan);
    const inNs = planToCommands(plan, { netns: "core-ns1" });
    expect(inNs).toEqual(plain.map((l) => l.replace(/^(ip|bridge) /, "$1 -n core-ns1 ")));
    expectPlanError(() => planToCommands(plan, { netns: "a b" }), /namespace name/);
    expectPlanError(() => planToCommands(plan, { netns: "/run/netns/x" }), /namespace name/);
  });

  it("spells peer state with the cmd* printers netlink re-exports", () => {
    for (const family of [4, 6] as const) {
      const plan =
        family === 4
          ? planVxlan(guideInput())
          : planVxlan({
              config: dualStackConfig(),
              family: 6,
              ownLease: lease(NODE_A),
              leases: [lease(NODE_A), lease(NODE_B), lease(NODE_C)],
              externalInterface: eth0,
            });
      const v6 = family === 6 ? " -6" : "";
      const want = [
        ...plan.addresses.map((a) =>
          cmdAddr("replace", a.dev, a.address, null, "blue").replace(
            "ip -n blue",
            `ip -n blue${v6}`,
          ),
        ),
        ...plan.neighbors.map((n) =>
          cmdNeigh("replace", n, "blue").replace("ip -n blue", `ip -n blue${v6}`),
        ),
        ...plan.fdb.map((f) => cmdFdb("replace", f, "blue")),
        ...plan.routes.map((r) => cmdRoute("replace", r, "blue")),
      ];
      const got = planToCommands(plan, { order: "grouped", netns: "blue" }).filter(
        (l) => !l.includes(" link "),
      );
      expect(got).toEqual(want);
    }
  });
});

describe("cmdAddr / cmdRoute / cmdNeigh / cmdFdb", () => {
  it("print text as given, with -n for a namespace name and none for a path", () => {
    expect(cmdAddr("del", "cni0", "10.1.2.1/24", "10.1.2.255", "blue")).toBe(
      "ip -n blue addr del 10.1.2.1/24 broadcast 10.1.2.255 dev cni0",
    );
    expect(
      cmdRoute(
        "add",
        { dst: "fd00:1::/64", dev: "flannel-v6.1", priority: 1024 },
        "/proc/1/ns/net",
      ),
    ).toBe("ip -6 route add fd00:1::/64 dev flannel-v6.1 metric 1024");
    expect(cmdNeigh("del", { dev: "flannel.1", ip: "10.1.3.0" })).toBe(
      "ip neigh del 10.1.3.0 dev flannel.1",
    );
    expect(cmdFdb("del", { dev: "vx0", lladdr: "0a:00:00:00:00:01", dst: null })).toBe(
      "bridge fdb del 0a:00:00:00:00:01 dev vx0 self",
    );
  });
});

describe("planEntries / diffPlans", () => {
  it("keys each entry by what the kernel replaces in place", () => {
    expect(planEntries(planVxlan(guideInput())).map((e) => e.key)).toEqual([
      "link flannel.1",
      "address flannel.1 172.30.8.0/32",
      "neighbor flannel.1 172.30.24.0",
      "neighbor flannel.1 172.30.57.0",
      "fdb flannel.1 5e:10:2a:7b:01:b2 172.16.97.245",
      "fdb flannel.1 d2:6f:51:0e:9c:03 172.16.98.17",
      "route 254 172.30.24.0/24",
      "route 254 172.30.57.0/24",
    ]);
  });

  it("shows what a lease change adds, removes and changes", () => {
    const before = planVxlan(guideInput());
    const after = planVxlan(
      guideInput({
        leases: [
          lease(NODE_B),
          lease({ ...NODE_C, publicIP: "172.16.98.99" }),
          lease({ subnet: "172.30.60.0/24", publicIP: "172.16.97.60", mac: "02:00:00:00:00:60" }),
        ],
      }),
    );
    const d = diffPlans(before, after);
    expect(d.added.map((e) => e.key)).toEqual([
      "neighbor flannel.1 172.30.60.0",
      "fdb flannel.1 d2:6f:51:0e:9c:03 172.16.98.99",
      "fdb flannel.1 02:00:00:00:00:60 172.16.97.60",
      "route 254 172.30.60.0/24",
    ]);
    expect(d.removed.map((e) => e.key)).toEqual(["fdb flannel.1 d2:6f:51:0e:9c:03 172.16.98.17"]);
    expect(d.changed).toEqual([]);
    expect(diffPlans(before, before)).toEqual({ added: [], removed: [], changed: [] });
    expect(diffPlans(null, before).added).toHaveLength(planEntries(before).length);

    const direct = planVxlan(
      guideInput({
        config: guideConfig(vxlanBackend({ directRouting: true })),
        underlaySubnets: ["172.16.97.0/24"],
      }),
    );
    const d2 = diffPlans(before, direct);
    expect(d2.changed.map((c) => c.after.key)).toEqual(["route 254 172.30.24.0/24"]);
    expect(d2.removed.map((e) => e.kind)).toEqual(["neighbor", "fdb"]);
  });
});
