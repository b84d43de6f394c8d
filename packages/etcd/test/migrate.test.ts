import { etcdctl, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { describe, expect, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore, migrateV2ToV3 } from "../src/index.js";
import { expectNoLeakedGrants, GUIDE_CONFIG, node, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

describe.runIf(run)("migrateV2ToV3", () => {
  const etcd = etcdPerSuite({
    enableV2: true,
    beforeClose: (e) => expectNoLeakedGrants(e.clientUrl),
  });

  it("copies config and leases keeping the time left, reports, and is idempotent", async () => {
    const prefix = uniquePrefix("migrate");
    const v2 = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix });
    try {
      await v2.putNetworkConfig(GUIDE_CONFIG);
      const a = await v2.acquireLease(node(1));
      const r = await v2.reserveSubnet("172.30.77.0/24", node(2));
      await v2.client.set(`${prefix}/subnets/172.30.78.0-24`, '{"PublicIP":"10.9.9.9"}', {
        ttl: 300,
      });
      await v2.client.set(`${prefix}/subnets/junk`, "???");
      const opts = {
        from: { endpoints: [etcd.clientUrl] },
        to: { endpoints: [etcd.clientUrl] },
        prefix,
      };

      const dry = await migrateV2ToV3({ ...opts, dryRun: true });
      expect(dry.dryRun).toBe(true);
      expect(dry.counts).toEqual({ created: 4, unchanged: 0, conflict: 0, skipped: 1 });
      expect(
        await etcdctl(["get", "--prefix", prefix], { api: 3, endpoints: [etcd.clientUrl] }),
      ).toBe("");

      const report = await migrateV2ToV3(opts);
      expect(report.counts).toEqual({ created: 4, unchanged: 0, conflict: 0, skipped: 1 });
      expect(
        report.leases.find((l) => l.key.endsWith("172.30.78.0-24"))!.ttlSeconds,
      ).toBeLessThanOrEqual(300);
      expect(report.leases.find((l) => l.key.endsWith("junk"))!.action).toBe("skipped");

      const v3 = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix });
      try {
        expect((await v3.getNetworkConfig()).network).toBe("172.30.0.0/16");
        const list = await v3.listLeases();
        const bySubnet = new Map(list.leases.map((l) => [l.subnet, l]));
        expect(
          Math.abs(bySubnet.get(a.subnet)!.expiration!.getTime() - a.expiration!.getTime()),
        ).toBeLessThan(3000);
        expect(bySubnet.get(r.subnet)!.expiration).toBeNull();
        expect(
          Math.abs(bySubnet.get("172.30.78.0/24")!.expiration!.getTime() - Date.now() - 300_000),
        ).toBeLessThan(3000);
        // the value is copied byte for byte (v0.11 JSON), and a v3 flanneld-style node reuses it
        expect(
          await etcdctl(
            ["get", "--print-value-only", `${prefix}/subnets/${a.subnet.replace("/", "-")}`],
            { api: 3, endpoints: [etcd.clientUrl] },
          ),
        ).toBe(
          '{"PublicIP":"192.168.0.2","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}\n',
        );
        expect((await v3.acquireLease(node(1))).subnet).toBe(a.subnet);
        expect((await v3.acquireLease(node(2))).expiration).toBeNull();
      } finally {
        await v3.close();
      }

      const again = await migrateV2ToV3(opts);
      expect(again.counts.created).toBe(0);
      expect(again.counts.skipped).toBe(1);
      // node 1's lease was rewritten in v3 by acquireLease (current JSON shape): a conflict, left alone
      expect(again.counts.unchanged + again.counts.conflict).toBe(4);
    } finally {
      await v2.close();
    }
  });
});
