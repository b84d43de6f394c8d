import type { LeaseWatchResult } from "@flannel-sdk/core";
import { etcdctl, etcdctlMissingReason, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, describe, expect, it } from "vitest";
import { EtcdV2LeaseStore } from "../src/index.js";
import { codeOf, GUIDE_CONFIG, node, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason() ?? etcdctlMissingReason());

const GUIDE_NODE = {
  publicIP: "172.16.97.244",
  publicIPv6: null,
  backendType: "vxlan",
  backendData: { VtepMAC: "3a:b9:84:c3:57:7c" },
  backendV6Data: null,
};

describe.runIf(run)("EtcdV2LeaseStore on etcd 3.4 --enable-v2 (the install guide's API)", () => {
  const etcd = etcdPerSuite({ enableV2: true });
  const v2 = (args: string[]) => etcdctl(args, { api: 2, endpoints: [etcd.clientUrl] });
  const stores: EtcdV2LeaseStore[] = [];
  const open = (
    prefix: string,
    extra: Partial<ConstructorParameters<typeof EtcdV2LeaseStore>[0]> = {},
  ) => {
    const s = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix, ...extra });
    stores.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of stores) await s.close();
  });

  it("reads the config the guide's etcdctl mkdir/mk wrote; etcdctl ls/get see the lease it writes", async () => {
    const prefix = uniquePrefix("guide");
    await v2(["mkdir", prefix]);
    await v2([
      "mk",
      `${prefix}/config`,
      '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
    ]);
    const store = open(prefix);
    expect((await store.getNetworkConfig()).subnetLen).toBe(24);
    const lease = await store.acquireLease(GUIDE_NODE);
    const key = `${prefix}/subnets/${lease.subnet.replace("/", "-")}`;
    expect(await v2(["ls", `${prefix}/subnets`])).toBe(`${key}\n`);
    expect(await v2(["get", key])).toBe(
      '{"PublicIP":"172.16.97.244","BackendType":"vxlan","BackendData":{"VtepMAC":"3a:b9:84:c3:57:7c"}}\n',
    );
    expect(lease.expiration!.getTime()).toBeGreaterThan(Date.now() + 86_390_000);
    // the v2 node carries ttl=86400
    const raw = await store.client.get(key);
    expect(raw.node.ttl).toBeGreaterThan(86_390);
  });

  it("reads leases etcdctl wrote: with --ttl an expiring lease, without one a reservation", async () => {
    const prefix = uniquePrefix("ctl");
    const store = open(prefix);
    await store.putNetworkConfig(GUIDE_CONFIG);
    await v2([
      "mk",
      "--ttl",
      "600",
      `${prefix}/subnets/172.30.40.0-24`,
      '{"PublicIP":"10.1.1.1","BackendType":"vxlan","BackendData":{"VtepMAC":"1e:38:19:e2:7e:3a"}}',
    ]);
    await v2([
      "mk",
      `${prefix}/subnets/172.30.41.0-24`,
      '{"PublicIP":"10.1.1.2","PublicIPv6":null,"BackendType":"host-gw"}',
    ]);
    await v2(["mk", `${prefix}/subnets/garbage`, "x"]);
    const list = await store.listLeases();
    expect(list.leases.map((l) => [l.subnet, l.attrs.publicIP])).toEqual([
      ["172.30.40.0/24", "10.1.1.1"],
      ["172.30.41.0/24", "10.1.1.2"],
    ]);
    expect(Math.abs(list.leases[0]!.expiration!.getTime() - Date.now() - 600_000)).toBeLessThan(
      3000,
    );
    expect(list.leases[1]!.expiration).toBeNull();
    expect(list.skipped.map((s) => s.key)).toEqual([`${prefix}/subnets/garbage`]);
    // the reservation's node gets it, and it stays without TTL
    const got = await store.acquireLease({ ...node(0), publicIP: "10.1.1.2" });
    expect(got.subnet).toBe("172.30.41.0/24");
    expect(got.expiration).toBeNull();
    expect((await store.client.get(`${prefix}/subnets/172.30.41.0-24`)).node.ttl).toBeUndefined();
  });

  it("a second listing reuses only unchanged entries: a rewrite, a new value, a garbage value and a new key are read anew", async () => {
    const prefix = uniquePrefix("relist");
    const store = open(prefix);
    await store.putNetworkConfig(GUIDE_CONFIG);
    const value = (ip: string) => JSON.stringify({ PublicIP: ip, BackendType: "vxlan" });
    const put = (name: string, v: string, ttl?: number) =>
      store.client.set(`${prefix}/subnets/${name}`, v, ttl ? { ttl } : {});
    await put("172.30.1.0-24", value("10.0.0.1"));
    await put("172.30.2.0-24", value("10.0.0.2"));
    await put("172.30.3.0-24", value("10.0.0.3"));
    await put("172.30.4.0-24", value("10.0.0.4"));
    const first = await store.listLeases();
    expect(first.leases.map((l) => l.attrs.publicIP)).toEqual([
      "10.0.0.1",
      "10.0.0.2",
      "10.0.0.3",
      "10.0.0.4",
    ]);
    const rewritten = await put("172.30.2.0-24", value("10.0.0.2"), 600); // same value, new index and TTL
    await put("172.30.3.0-24", value("10.0.0.33"));
    await put("172.30.4.0-24", "not json");
    await put("172.30.5.0-24", value("10.0.0.5"));
    const second = await store.listLeases();
    expect(second.leases.map((l) => [l.subnet, l.attrs.publicIP])).toEqual([
      ["172.30.1.0/24", "10.0.0.1"],
      ["172.30.2.0/24", "10.0.0.2"],
      ["172.30.3.0/24", "10.0.0.33"],
      ["172.30.5.0/24", "10.0.0.5"],
    ]);
    expect(second.leases[0]).toBe(first.leases[0]); // unchanged: the same decoded lease
    expect(second.leases[1]!.revision).toBe(BigInt(rewritten.node.modifiedIndex));
    expect(second.leases[1]!.expiration).not.toBeNull();
    expect(second.skipped.map((s) => s.key)).toEqual([`${prefix}/subnets/172.30.4.0-24`]);
  });

  it("tells a v3-written config apart: CONFIG_NOT_FOUND with the v2/v3 hint", async () => {
    const prefix = uniquePrefix("v3cfg");
    await etcdctl(["put", `${prefix}/config`, GUIDE_CONFIG], {
      api: 3,
      endpoints: [etcd.clientUrl],
    });
    const store = open(prefix);
    const err = await store.getNetworkConfig().catch((e) => e);
    expect(err.code).toBe("CONFIG_NOT_FOUND");
    expect(err.message).toMatch(/ETCDCTL_API=2 etcdctl mk/);
  });

  it("renews with a new ttl, reserves, releases, and refuses another node's lease", async () => {
    const prefix = uniquePrefix("ops");
    const store = open(prefix, { leaseJson: "current" });
    await store.putNetworkConfig(GUIDE_CONFIG);
    const lease = await store.acquireLease(node(1));
    const key = `${prefix}/subnets/${lease.subnet.replace("/", "-")}`;
    expect(await v2(["get", key])).toBe(
      '{"PublicIP":"192.168.0.2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}\n',
    );
    const renewed = await store.renewLease(lease);
    expect(renewed.revision! > lease.revision!).toBe(true);
    expect(await codeOf(store.renewLease({ ...lease, attrs: node(2) }))).toBe("LEASE_NOT_FOUND");
    const r = await store.reserveSubnet("172.30.50.0/24", node(3));
    expect(r.expiration).toBeNull();
    expect(await codeOf(store.reserveSubnet("172.30.50.0/24", node(4)))).toBe("LEASE_CONFLICT");
    await store.releaseLease(renewed);
    await store.releaseLease("172.30.50.0/24");
    expect((await store.listLeases()).leases).toEqual([]);
    expect(await codeOf(store.renewLease(renewed))).toBe("LEASE_NOT_FOUND");
  });

  it("watches with waitIndex, re-lists after the index is cleared, and ends on close", async () => {
    const prefix = uniquePrefix("watch");
    const store = open(prefix);
    await store.putNetworkConfig(GUIDE_CONFIG);
    const a = await store.acquireLease(node(5));
    const it = store.watchLeases()[Symbol.asyncIterator]();
    const first = (await it.next()).value as LeaseWatchResult;
    expect(first.type).toBe("snapshot");
    expect(first.type === "snapshot" && first.leases.map((l) => l.subnet)).toEqual([a.subnet]);
    const b = await store.acquireLease(node(6));
    const ev = (await it.next()).value as LeaseWatchResult;
    expect(ev.type === "events" && ev.events.map((e) => [e.type, e.lease.subnet])).toEqual([
      ["added", b.subnet],
    ]);
    await store.releaseLease(a);
    const del = (await it.next()).value as LeaseWatchResult;
    expect(del.type === "events" && del.events[0]).toMatchObject({
      type: "removed",
      lease: { subnet: a.subnet, attrs: { publicIP: "192.168.0.6" } },
    });
    // garbage is reported, not applied
    await v2(["set", `${prefix}/subnets/bad-key`, "{}"]);
    const bad = (await it.next()).value as LeaseWatchResult;
    expect(bad.type === "events" && bad.events).toEqual([]);
    expect(bad.skipped.map((s) => s.key)).toEqual([`${prefix}/subnets/bad-key`]);
    // fall more than 1000 events behind while not polling: 401 → re-list → a new snapshot
    const statuses: string[] = [];
    const lagging = store
      .watchLeases({ onStatus: (st) => statuses.push(st.type) })
      [Symbol.asyncIterator]();
    expect(((await lagging.next()).value as LeaseWatchResult).type).toBe("snapshot");
    const c = await store.acquireLease(node(7));
    for (let i = 0; i < 1100; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.client.set(`/noise-${prefix}/${(i + j) % 5}`, String(i + j)),
        ),
      );
    }
    const again = (await lagging.next()).value as LeaseWatchResult;
    expect(statuses).toEqual(["indexCleared"]);
    expect(again.type).toBe("snapshot");
    expect(again.type === "snapshot" && again.leases.map((l) => l.subnet).sort()).toEqual(
      [b.subnet, c.subnet].sort(),
    );
    const stale = lagging;
    await store.close();
    expect((await it.next()).done).toBe(true);
    expect((await stale.next()).done).toBe(true);
  });
});
