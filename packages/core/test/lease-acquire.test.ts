import { describe, expect, it } from "vitest";
import {
  type Clock,
  FlannelError,
  isFlannelError,
  isLeaseCompatible,
  LEASE_RACE_RETRIES,
  type Lease,
  type LeaseAcquisitionBackend,
  type LeaseAcquisitionPlan,
  type LeaseAttrs,
  parseNetworkConfig,
  planLeaseAcquisition,
  planReservation,
  runLeaseAcquisition,
  SUBNET_TTL_SECONDS,
} from "../src/index.js";

const config = parseNetworkConfig('{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}');
const dual = parseNetworkConfig(
  '{"Network":"10.7.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:7::/48"}',
);
const v6only = parseNetworkConfig(
  '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:7::/48"}',
);

function attrs(n: number, extra: Partial<LeaseAttrs> = {}): LeaseAttrs {
  return {
    publicIP: `192.0.2.${n}`,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: `02:00:00:00:00:${n.toString(16).padStart(2, "0")}` },
    backendV6Data: null,
    ...extra,
  };
}

function lease(subnet: string, a: LeaseAttrs, extra: Partial<Lease> = {}): Lease {
  return { subnet, ipv6Subnet: null, attrs: a, expiration: new Date(1e12), ...extra };
}

describe("planLeaseAcquisition", () => {
  it("reuses the compatible lease of the same PublicIP with the new attrs and a 24 h TTL", () => {
    const own = lease("10.5.3.0/24", attrs(1));
    const plan = planLeaseAcquisition({
      config,
      leases: [lease("10.5.2.0/24", attrs(2)), own],
      attrs: attrs(1, { backendData: { VNI: 1, VtepMAC: "AA-BB-CC-DD-EE-FF" } }),
      previousSubnet: "10.5.9.0/24",
    });
    expect(plan.delete).toEqual([]);
    expect(plan.write).toMatchObject({
      mode: "update",
      reason: "public-ip",
      lease: own,
      subnet: "10.5.3.0/24",
      ttlSeconds: SUBNET_TTL_SECONDS,
    });
    // Attributes are written as a reader will see them.
    expect(plan.write.attrs.backendData).toEqual({ VNI: 1, VtepMAC: "aa:bb:cc:dd:ee:ff" });
    expect(plan.notes).toEqual([
      "Found lease (ip: 10.5.3.0/24 ipv6: <nil>) for current IP (192.0.2.1), reusing",
    ]);
  });

  it("keeps a reservation without TTL, and prefers it to another lease of the same node", () => {
    const ordinary = lease("10.5.3.0/24", attrs(1));
    const reserved = lease("10.5.200.0/24", attrs(1), { expiration: null });
    const plan = planLeaseAcquisition({ config, leases: [ordinary, reserved], attrs: attrs(1) });
    expect(plan.write).toMatchObject({ mode: "update", subnet: "10.5.200.0/24", ttlSeconds: null });
  });

  it("deletes an incompatible lease of the node, and its subnet no longer counts as held", () => {
    const stale = lease("10.5.9.0/25", attrs(1));
    const plan = planLeaseAcquisition({
      config,
      leases: [stale],
      attrs: attrs(1),
      previousSubnet: "10.5.9.0/24",
    });
    expect(plan.delete).toEqual([stale]);
    expect(plan.write).toMatchObject({
      mode: "create",
      reason: "previous-subnet",
      subnet: "10.5.9.0/24",
    });
    expect(plan.notes[0]).toMatch(/not compatible with current config, deleting/);
  });

  it("reuses a free previous subnet, masking host bits", () => {
    const plan = planLeaseAcquisition({
      config,
      leases: [],
      attrs: attrs(1),
      previousSubnet: "10.5.77.1/24",
    });
    expect(plan.write).toMatchObject({
      mode: "create",
      reason: "previous-subnet",
      subnet: "10.5.77.0/24",
      ipv6Subnet: null,
      ttlSeconds: SUBNET_TTL_SECONDS,
    });
  });

  it("does not reuse a previous subnet that any lease overlaps, even of another length", () => {
    for (const held of ["10.5.77.0/24", "10.5.77.128/25", "10.5.64.0/18"]) {
      const plan = planLeaseAcquisition({
        config,
        leases: [lease(held, attrs(2))],
        attrs: attrs(1),
        previousSubnet: "10.5.77.0/24",
        strategy: "sequential",
      });
      expect(plan.write.reason).toBe("allocated");
      expect(plan.write.subnet).not.toBe("10.5.77.0/24");
    }
  });

  it("ignores an incompatible previous subnet, with flannel's note", () => {
    const plan = planLeaseAcquisition({
      config,
      leases: [],
      attrs: attrs(1),
      previousSubnet: "10.6.1.0/24",
      strategy: "sequential",
    });
    expect(plan.write).toMatchObject({ reason: "allocated", subnet: "10.5.1.0/24" });
    expect(plan.notes).toEqual([
      "Found previously leased subnet (10.6.1.0/24) that is not compatible with the Etcd network config, ignoring",
      "Picking subnet in range 10.5.1.0 ... 10.5.255.0",
    ]);
  });

  it("treats an unreadable previous subnet as none", () => {
    const plan = planLeaseAcquisition({
      config,
      leases: [],
      attrs: attrs(1),
      previousSubnet: "garbage",
      strategy: "sequential",
    });
    expect(plan.write.reason).toBe("allocated");
  });

  it("allocates around held subnets and throws OUT_OF_SUBNETS when full", () => {
    const small = parseNetworkConfig('{"Network":"10.6.0.0/28"}');
    const held = ["10.6.0.4/30", "10.6.0.8/30"].map((s, i) => lease(s, attrs(i + 2)));
    const plan = planLeaseAcquisition({ config: small, leases: held, attrs: attrs(1) });
    expect(plan.write.subnet).toBe("10.6.0.12/30");
    let error: unknown;
    try {
      planLeaseAcquisition({
        config: small,
        leases: [...held, lease("10.6.0.12/30", attrs(4))],
        attrs: attrs(1),
      });
    } catch (e) {
      error = e;
    }
    expect(isFlannelError(error, "OUT_OF_SUBNETS")).toBe(true);
    expect((error as Error).message).toBe("out of subnets");
  });

  it("dual stack: allocates both families, and needs both parts to reuse", () => {
    const plan = planLeaseAcquisition({
      config: dual,
      leases: [],
      attrs: attrs(1, { publicIPv6: "fd00::1" }),
      strategy: "sequential",
    });
    expect(plan.write).toMatchObject({ subnet: "10.7.1.0/24", ipv6Subnet: "fd00:7:0:1::/64" });
    // A v4-only lease of this node does not fit a dual-stack config.
    const v4only = lease("10.7.3.0/24", attrs(1));
    const again = planLeaseAcquisition({
      config: dual,
      leases: [v4only],
      attrs: attrs(1),
      previousSubnet: "10.7.3.0/24",
      previousIPv6Subnet: "fd00:7:0:3::/64",
    });
    expect(again.delete).toEqual([v4only]);
    expect(again.write).toMatchObject({
      reason: "previous-subnet",
      subnet: "10.7.3.0/24",
      ipv6Subnet: "fd00:7:0:3::/64",
    });
  });

  it("dual stack: a previous subnet whose IPv6 half is held is not reused", () => {
    const plan = planLeaseAcquisition({
      config: dual,
      leases: [lease("10.7.9.0/24", attrs(2), { ipv6Subnet: "fd00:7:0:3::/64" })],
      attrs: attrs(1),
      previousSubnet: "10.7.3.0/24",
      previousIPv6Subnet: "fd00:7:0:3::/64",
      strategy: "sequential",
    });
    expect(plan.write.reason).toBe("allocated");
    expect(plan.write.ipv6Subnet).not.toBe("fd00:7:0:3::/64");
  });

  it("IPv4 only: a previous IPv6 subnet is ignored, not held against the IPv4 one", () => {
    const plan = planLeaseAcquisition({
      config,
      leases: [],
      attrs: attrs(1),
      previousSubnet: "10.5.3.0/24",
      previousIPv6Subnet: "fd00:7:0:3::/64",
    });
    expect(plan.write).toMatchObject({
      reason: "previous-subnet",
      subnet: "10.5.3.0/24",
      ipv6Subnet: null,
    });
  });

  it("IPv6 only: the IPv4 subnet is 0.0.0.0/0, nodes are told apart by PublicIPv6", () => {
    const a = { ...attrs(1), publicIP: "0.0.0.0", publicIPv6: "fd00::1" };
    const b = { ...attrs(2), publicIP: "0.0.0.0", publicIPv6: "fd00::2" };
    const first = planLeaseAcquisition({
      config: v6only,
      leases: [],
      attrs: a,
      strategy: "sequential",
    });
    expect(first.write).toMatchObject({ subnet: "0.0.0.0/0", ipv6Subnet: "fd00:7:0:1::/64" });
    const held = lease("0.0.0.0/0", first.write.attrs, { ipv6Subnet: "fd00:7:0:1::/64" });
    const second = planLeaseAcquisition({
      config: v6only,
      leases: [held],
      attrs: b,
      strategy: "sequential",
    });
    expect(second.write).toMatchObject({ mode: "create", ipv6Subnet: "fd00:7:0:2::/64" });
    const reuse = planLeaseAcquisition({ config: v6only, leases: [held], attrs: a });
    expect(reuse.write).toMatchObject({ mode: "update", ipv6Subnet: "fd00:7:0:1::/64" });
    const previous = planLeaseAcquisition({
      config: v6only,
      leases: [held],
      attrs: b,
      previousIPv6Subnet: "fd00:7:0:9::1/64",
    });
    expect(previous.write).toMatchObject({
      reason: "previous-subnet",
      ipv6Subnet: "fd00:7:0:9::/64",
    });
  });

  it("a node without any public address never reuses another's lease", () => {
    const anon = { ...attrs(1), publicIP: "0.0.0.0" };
    const plan = planLeaseAcquisition({
      config,
      leases: [lease("10.5.3.0/24", { ...attrs(2), publicIP: "0.0.0.0" })],
      attrs: anon,
    });
    expect(plan.write.mode).toBe("create");
  });

  it("refuses attrs that cannot be written", () => {
    expect(() =>
      planLeaseAcquisition({ config, leases: [], attrs: attrs(1, { publicIP: "fc00::1" }) }),
    ).toThrow(expect.objectContaining({ code: "LEASE_INVALID" }));
  });
});

describe("isLeaseCompatible", () => {
  it("follows flannel's isSubnetConfigCompat", () => {
    expect(isLeaseCompatible(config, "10.5.1.0/24", null)).toBe(true);
    expect(isLeaseCompatible(config, "10.5.255.0/24", null)).toBe(true);
    expect(isLeaseCompatible(config, "10.5.0.0/24", null)).toBe(false);
    expect(isLeaseCompatible(config, "10.5.1.0/25", null)).toBe(false);
    expect(isLeaseCompatible(config, "10.6.1.0/24", null)).toBe(false);
    expect(isLeaseCompatible(config, "10.5.1.0/24", "fd00:7:0:1::/64")).toBe(false);
    expect(isLeaseCompatible(config, "nonsense", null)).toBe(false);
    expect(isLeaseCompatible(dual, "10.7.1.0/24", "fd00:7:0:1::/64")).toBe(true);
    expect(isLeaseCompatible(dual, "10.7.1.0/24", null)).toBe(false);
    expect(isLeaseCompatible(dual, "10.7.1.0/24", "fd00:7::/64")).toBe(false);
    expect(isLeaseCompatible(v6only, "0.0.0.0/0", "fd00:7:0:1::/64")).toBe(true);
    expect(isLeaseCompatible(v6only, "10.7.1.0/24", "fd00:7:0:1::/64")).toBe(false);
  });
});

describe("planReservation", () => {
  it("writes the reservation, deletes the node's overlapping leases, refuses others' ", () => {
    const mine = lease("10.5.7.0/24", attrs(1), { ipv6Subnet: null });
    const plan = planReservation({
      config,
      leases: [mine],
      subnet: "10.5.7.0/24",
      attrs: attrs(1),
    });
    expect(plan).toMatchObject({ delete: [], subnet: "10.5.7.0/24", ipv6Subnet: null });
    const other = lease("10.5.7.128/25", attrs(1));
    const plan2 = planReservation({
      config,
      leases: [other],
      subnet: "10.5.7.1/24",
      attrs: attrs(1),
    });
    expect(plan2.delete).toEqual([other]);
    expect(plan2.subnet).toBe("10.5.7.0/24");
    expect(() =>
      planReservation({
        config,
        leases: [lease("10.5.7.0/24", attrs(2))],
        subnet: "10.5.7.0/24",
        attrs: attrs(1),
      }),
    ).toThrow(expect.objectContaining({ code: "LEASE_CONFLICT" }));
  });

  it("names the field that does not fit", () => {
    const code = (f: () => unknown): [string | undefined, string | undefined] => {
      try {
        f();
      } catch (e) {
        return [(e as FlannelError).code, (e as FlannelError).field];
      }
      return [undefined, undefined];
    };
    expect(
      code(() => planReservation({ config, leases: [], subnet: "10.9.0.0/24", attrs: attrs(1) })),
    ).toEqual(["CONFIG_INVALID", "subnet"]);
    expect(
      code(() =>
        planReservation({ config: dual, leases: [], subnet: "10.7.1.0/24", attrs: attrs(1) }),
      ),
    ).toEqual(["CONFIG_INVALID", "ipv6Subnet"]);
    expect(
      code(() =>
        planReservation({
          config: dual,
          leases: [],
          subnet: "10.7.1.0/24",
          ipv6Subnet: "fd00:9::/64",
          attrs: attrs(1),
        }),
      ),
    ).toEqual(["CONFIG_INVALID", "ipv6Subnet"]);
    expect(
      code(() => planReservation({ config, leases: [], subnet: "x", attrs: attrs(1) })),
    ).toEqual(["CONFIG_INVALID", "subnet"]);
  });

  it("refuses a vxlan reservation without a VtepMAC (flanneld cannot decode it), LEASE_INVALID", () => {
    const code = (a: LeaseAttrs, ipv6Subnet: string | null = null): unknown => {
      try {
        const c = ipv6Subnet === null ? config : dual;
        const subnet = ipv6Subnet === null ? "10.5.1.0/24" : "10.7.1.0/24";
        planReservation({ config: c, leases: [], subnet, ipv6Subnet, attrs: a });
        return "ok";
      } catch (e) {
        return [(e as FlannelError).code, (e as FlannelError).field];
      }
    };
    expect(code(attrs(1, { backendData: null }))).toEqual(["LEASE_INVALID", "BackendData.VtepMAC"]);
    expect(code(attrs(1, { backendData: { VNI: 1 } }))).toEqual([
      "LEASE_INVALID",
      "BackendData.VtepMAC",
    ]);
    // an unreadable one is refused by normalizeLeaseAttrs already
    expect(code(attrs(1, { backendData: { VNI: 1, VtepMAC: "nonsense" } }))).toEqual([
      "LEASE_INVALID",
      "BackendData",
    ]);
    const v6 = { VNI: 1, VtepMAC: "02:00:00:00:01:01" };
    expect(code(attrs(1), "fd00:7:0:1::/64")).toEqual(["LEASE_INVALID", "BackendV6Data.VtepMAC"]);
    expect(code(attrs(1, { backendV6Data: v6 }), "fd00:7:0:1::/64")).toBe("ok");
    // flannel's Documentation/reservations.md form, for a node whose MAC is not known yet
    expect(code(attrs(1, { backendType: "", backendData: null }))).toBe("ok");
    expect(code(attrs(1, { backendType: "host-gw", backendData: null }))).toBe("ok");
  });
});

describe("runLeaseAcquisition", () => {
  // Pauses between attempts take no time.
  const instant: Clock = {
    now: () => Date.now(),
    setTimeout: (fn) => setTimeout(fn, 0),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  };
  function backend(loseRaces: number): LeaseAcquisitionBackend & { creates: number } {
    const out = {
      creates: 0,
      snapshot: async () => ({ config, leases: [] as Lease[] }),
      commit: async (plan: LeaseAcquisitionPlan): Promise<Lease | null> => {
        if (plan.write.mode !== "create") throw new Error("unexpected update");
        out.creates++;
        if (out.creates <= loseRaces) return null;
        const w = plan.write;
        return {
          subnet: w.subnet,
          ipv6Subnet: w.ipv6Subnet,
          attrs: w.attrs,
          expiration: new Date(0),
        };
      },
    };
    return out;
  }

  it("retries a lost create race", async () => {
    const s = backend(3);
    const notes: string[] = [];
    const lease = await runLeaseAcquisition(s, attrs(1), {
      clock: instant,
      onNote: (n) => notes.push(n),
    });
    expect(s.creates).toBe(4);
    expect(lease.attrs.publicIP).toBe("192.0.2.1");
    expect(notes.filter((n) => n.includes("taken meanwhile"))).toHaveLength(3);
    expect(notes.at(-1)).toMatch(/^Allocated lease \(ip: 10\.5\.\d+\.0\/24 ipv6: <nil>\)/);
  });

  it("starts over when the reused lease changed hands", async () => {
    const mine = lease("10.5.3.0/24", attrs(1));
    let listed: Lease[] = [mine];
    let updates = 0;
    const s: LeaseAcquisitionBackend = {
      snapshot: async () => ({ config, leases: listed }),
      commit: async (plan) => {
        if (plan.write.mode === "update") {
          updates++;
          listed = [lease("10.5.3.0/24", attrs(2))];
          return null;
        }
        return { ...plan.write, expiration: new Date(0) };
      },
    };
    const got = await runLeaseAcquisition(s, attrs(1), { strategy: "sequential", clock: instant });
    expect(updates).toBe(1);
    expect(got.subnet).toBe("10.5.1.0/24");
  });

  it("a retryable failure costs one attempt; the last one is thrown", async () => {
    const blip = new FlannelError("ETCD_UNAVAILABLE", "no leader", { retryable: true });
    let reads = 0;
    const flaky: LeaseAcquisitionBackend = {
      snapshot: async () => {
        reads++;
        if (reads < 3) throw blip;
        return { config, leases: [] };
      },
      commit: async (plan) => ({ ...plan.write, expiration: new Date(0) }),
    };
    await expect(runLeaseAcquisition(flaky, attrs(1), { clock: instant })).resolves.toBeTruthy();
    expect(reads).toBe(3);
    const down: LeaseAcquisitionBackend = {
      snapshot: async () => {
        throw blip;
      },
      commit: async () => null,
    };
    await expect(runLeaseAcquisition(down, attrs(1), { clock: instant, attempts: 2 })).rejects.toBe(
      blip,
    );
  });

  it("gives up with MAX_RETRIES after LEASE_RACE_RETRIES attempts", async () => {
    const s = backend(1000);
    await expect(runLeaseAcquisition(s, attrs(1), { clock: instant })).rejects.toMatchObject({
      code: "MAX_RETRIES",
      message: "max retries reached trying to acquire a subnet",
      retryable: true,
    });
    expect(s.creates).toBe(LEASE_RACE_RETRIES);
  });

  it("stops with ABORTED when the signal fires between attempts", async () => {
    const ac = new AbortController();
    const s = backend(1000);
    const orig = s.commit;
    s.commit = async (plan) => {
      if (s.creates === 2) ac.abort();
      return orig(plan, undefined);
    };
    await expect(
      runLeaseAcquisition(s, attrs(1), { signal: ac.signal, clock: instant }),
    ).rejects.toMatchObject({ code: "ABORTED" });
    expect(s.creates).toBe(3);
  });
});
