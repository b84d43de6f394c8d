/**
 * Dual stack: the IPv6 half of a vxlan overlay (flannel-v6.1 over an IPv6 underlay), planned by
 * core from two dual-stack leases, applied beside the IPv4 half, with ping -6 across.
 */
import { execFileSync } from "node:child_process";
import { type Lease, parseNetworkConfig, planVxlan } from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { openHandle } from "../src/index.js";
import { inNs, ip, ipj, type J, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier() && tierGate("kernel", missingCommand("ping", "iputils-ping"));
const nss = new Netns();
afterAll(() => nss.cleanup());

function lease(n: number, mac4: string, mac6: string): Lease {
  return {
    subnet: `10.64.${n}.0/24`,
    ipv6Subnet: `fd00:64:0:${n}::/64`,
    attrs: {
      publicIP: `10.250.0.${n}`,
      publicIPv6: `fd00:250::${n}`,
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: mac4 },
      backendV6Data: { VNI: 1, VtepMAC: mac6 },
    },
    expiration: null,
  };
}

describe.runIf(run)("two-host overlay, dual stack", () => {
  it("vxlan over IPv6: flannel-v6.1 on both sides, ping -6 between the bridges", async () => {
    const a = nss.create();
    const b = nss.create();
    ip("-n", a, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", b);
    for (const [ns, n] of [
      [a, 1],
      [b, 2],
    ] as const) {
      inNs(ns, "addr", "add", `10.250.0.${n}/24`, "dev", "eth0");
      inNs(ns, "addr", "add", `fd00:250::${n}/64`, "dev", "eth0", "nodad");
      inNs(ns, "link", "set", "eth0", "up");
    }
    const leases = [
      lease(1, "0a:58:0a:40:01:00", "0a:58:fd:00:01:00"),
      lease(2, "0a:58:0a:40:02:00", "0a:58:fd:00:02:00"),
    ];
    const config = parseNetworkConfig({
      Network: "10.64.0.0/16",
      EnableIPv6: true,
      IPv6Network: "fd00:64::/48",
      Backend: { Type: "vxlan" },
    });
    const handles = await Promise.all([openHandle({ netns: a }), openHandle({ netns: b })]);
    try {
      for (const [i, h] of handles.entries()) {
        const ns = i === 0 ? a : b;
        const own = leases[i]!;
        await h.ensureBridge({ name: "cni0" });
        await h.linkSetUp("cni0");
        inNs(ns, "addr", "add", `fd00:64:0:${i + 1}::1/64`, "dev", "cni0", "nodad");
        const ext = { name: "eth0", mtu: 1500 };
        const v4 = planVxlan({ config, ownLease: own, leases, externalInterface: ext });
        const v6 = planVxlan({ config, family: 6, ownLease: own, leases, externalInterface: ext });
        expect(v6.link?.name).toBe("flannel-v6.1");
        await h.applyPlan(v4);
        const r6 = await h.applyPlan(v6);
        expect(r6.link?.mac).toBe(i === 0 ? "0a:58:fd:00:01:00" : "0a:58:fd:00:02:00");
        expect((await h.applyPlan(v6)).changes).toEqual([]);
        expect((await h.applyPlan(v4)).changes).toEqual([]);
      }
      const routes = ipj<J[]>(a, "-6", "route", "show", "dev", "flannel-v6.1");
      expect(routes).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ dst: "fd00:64:0:2::/64", gateway: "fd00:64:0:2::" }),
        ]),
      );
      execFileSync(
        "ip",
        [
          "netns",
          "exec",
          a,
          "ping",
          "-6",
          "-c",
          "2",
          "-i",
          "0.2",
          "-W",
          "2",
          "-I",
          "fd00:64:0:1::1",
          "fd00:64:0:2::1",
        ],
        { stdio: "pipe" },
      );
    } finally {
      for (const h of handles) h.close();
    }
  });
});
