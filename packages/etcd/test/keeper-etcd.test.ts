import type { LeaseKeeperEvent } from "@flannel-sdk/core";
import { etcdMissingReason, startEtcd, startTcpProxy, tierGate } from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "../src/index.js";
import { expectNoLeakedGrants, GUIDE_CONFIG, node, TRANSPORTS, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

describe.runIf(run)("keepLease on real etcd: the own lease deleted or taken is lost", () => {
  for (const transport of TRANSPORTS) {
    it(`v3 over ${transport}: renews on time, then reports lost when the key is deleted, and when another node takes it`, async () => {
      await using etcd = await startEtcd();
      const prefix = uniquePrefix("keep-v3");
      const store = new EtcdLeaseStore({
        endpoints: [etcd.clientUrl],
        prefix,
        leaseTTL: 4,
        transport,
      });
      const admin = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
      try {
        await store.putNetworkConfig(GUIDE_CONFIG);
        const lease = await store.acquireLease(node(1));
        const events: LeaseKeeperEvent[] = [];
        const keeper = store.keepLease(lease, {
          renewMargin: 3000,
          onEvent: (e) => events.push(e),
        });
        const deadline = Date.now() + 10_000;
        while (!events.some((e) => e.type === "renewed") && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        expect(events.map((e) => e.type)).toContain("renewed");
        await admin.releaseLease(lease.subnet);
        expect(await keeper.done).toMatchObject({ type: "lost", reason: "deleted" });

        const again = await store.acquireLease(node(2));
        const keeper2 = store.keepLease(again);
        await new Promise((r) => setTimeout(r, 200));
        await admin.connection.put(
          `${prefix}/subnets/${again.subnet.replace("/", "-")}`,
          '{"PublicIP":"10.66.66.66","PublicIPv6":null}',
        );
        expect(await keeper2.done).toMatchObject({ type: "lost", reason: "taken" });
      } finally {
        await store.close();
        await admin.close();
      }
    });

    it(`v3 over ${transport}: a key deleted while the keeper was cut off and etcd compacted is still reported lost`, async () => {
      await using etcd = await startEtcd();
      await using proxy = await startTcpProxy({ targetPort: etcd.ports.client });
      const prefix = uniquePrefix("keep-compact");
      const store = new EtcdLeaseStore({ endpoints: [proxy.url()], prefix, transport });
      const admin = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
      try {
        await admin.putNetworkConfig(GUIDE_CONFIG);
        const lease = await store.acquireLease(node(3));
        const keeper = store.keepLease(lease);
        await new Promise((r) => setTimeout(r, 300));
        proxy.refuse();
        await admin.releaseLease(lease.subnet);
        for (let i = 0; i < 5; i++) await admin.putNetworkConfig(GUIDE_CONFIG);
        const { revision } = await admin.listLeases();
        await admin.connection.compact(revision);
        proxy.resume();
        expect(await keeper.done).toMatchObject({ type: "lost", reason: "deleted" });
      } finally {
        await store.close();
        await admin.close();
      }
      await expectNoLeakedGrants(etcd.clientUrl);
    });
  }

  it("v2: reports lost when the key is deleted by someone else", async () => {
    await using etcd = await startEtcd({ enableV2: true });
    const prefix = uniquePrefix("keep-v2");
    const store = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix });
    try {
      await store.putNetworkConfig(GUIDE_CONFIG);
      const lease = await store.acquireLease(node(4));
      const keeper = store.keepLease(lease);
      await new Promise((r) => setTimeout(r, 200));
      await store.client.delete(`${prefix}/subnets/${lease.subnet.replace("/", "-")}`);
      expect(await keeper.done).toMatchObject({ type: "lost", reason: "deleted" });
    } finally {
      await store.close();
    }
  });
});
