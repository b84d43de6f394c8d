import { etcdctl, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, describe, expect, it } from "vitest";
import { EtcdLeaseStore } from "../src/index.js";
import {
  codeOf,
  expectNoLeakedGrants,
  GUIDE_CONFIG,
  node,
  TRANSPORTS,
  uniquePrefix,
} from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

describe.runIf(run).each(TRANSPORTS)(
  "EtcdLeaseStore on etcd v3 over %s: flanneld's data layout",
  (transport) => {
    const etcd = etcdPerSuite({ beforeClose: (e) => expectNoLeakedGrants(e.clientUrl) });
    const ctl = (args: string[]) => etcdctl(args, { api: 3, endpoints: [etcd.clientUrl] });
    // etcdctl -w json prints the lease ID as a JSON number: JSON.parse would round it.
    const leaseIdOf = async (key: string) =>
      BigInt((await ctl(["get", key, "-w", "json"])).match(/"lease":(\d+)/)?.[1] ?? "0");
    const stores: EtcdLeaseStore[] = [];
    const open = (prefix: string) => {
      const s = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
      stores.push(s);
      return s;
    };
    afterAll(async () => {
      for (const s of stores) await s.close();
    });

    it("reports a missing config with flannel's hint and refuses to write an invalid one", async () => {
      const prefix = uniquePrefix("cfg");
      const store = open(prefix);
      await expect(store.getNetworkConfig()).rejects.toThrow(
        "flannel config not found in etcd store. Did you create your config using etcdv3 API?",
      );
      expect(await codeOf(store.putNetworkConfig('{"Network":"10.0.0.0/30"}'))).toBe(
        "CONFIG_INVALID",
      );
      expect(await ctl(["get", `${prefix}/config`])).toBe("");
      await ctl(["put", `${prefix}/config`, GUIDE_CONFIG]);
      expect((await store.getNetworkConfig()).network).toBe("172.30.0.0/16");
      await store.putNetworkConfig({ Network: "10.5.0.0/16", Backend: { Type: "host-gw" } });
      expect(await ctl(["get", "--print-value-only", `${prefix}/config`])).toBe(
        '{"Network":"10.5.0.0/16","Backend":{"Type":"host-gw"}}\n',
      );
    });

    it("writes the lease JSON in Go's field order under subnets/, on a 24 h etcd lease", async () => {
      const prefix = uniquePrefix("layout");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const lease = await store.acquireLease(node(0));
      const key = `${prefix}/subnets/${lease.subnet.replace("/", "-")}`;
      expect(await ctl(["get", "--print-value-only", key])).toBe(
        '{"PublicIP":"192.168.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}\n',
      );
      const leaseId = await leaseIdOf(key);
      expect(leaseId).not.toBe(0n);
      const ttl = await ctl(["lease", "timetolive", leaseId.toString(16)]);
      expect(ttl).toMatch(/granted with TTL\(86400s\)/);
      expect(lease.expiration!.getTime()).toBeGreaterThan(Date.now() + 86_390_000);
      expect(typeof lease.revision).toBe("bigint");
      expect(lease.subnet).toMatch(/^172\.30\.\d+\.0\/24$/);
      expect(lease.subnet).not.toBe("172.30.0.0/24");
    });

    it("reuses the lease of the same PublicIP and revokes the replaced etcd lease", async () => {
      const prefix = uniquePrefix("reuse");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const first = await store.acquireLease(node(1, "aa:aa:aa:aa:aa:aa"));
      const key = `${prefix}/subnets/${first.subnet.replace("/", "-")}`;
      const oldId = await leaseIdOf(key);
      const again = await store.acquireLease(node(1, "bb:bb:bb:bb:bb:bb"));
      expect(again.subnet).toBe(first.subnet);
      expect(await ctl(["get", "--print-value-only", key])).toContain(
        '"VtepMAC":"bb:bb:bb:bb:bb:bb"',
      );
      expect(await ctl(["lease", "timetolive", oldId.toString(16)])).toMatch(/already expired/);
    });

    it("finds the node's own lease however its PublicIP is spelled (values are decoded only where they may be the node's)", async () => {
      const prefix = uniquePrefix("spelled");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      // node(1) is 192.168.0.2: its lease written by hand with the IPv4-mapped hex spelling,
      // next to a lease of 192.168.0.20, whose text contains the node's address
      await ctl([
        "put",
        `${prefix}/subnets/172.30.77.0-24`,
        '{"PublicIP":"::ffff:c0a8:2","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:aa:aa:aa:aa:aa"}}',
      ]);
      await ctl([
        "put",
        `${prefix}/subnets/172.30.78.0-24`,
        '{"PublicIP":"192.168.0.20","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:aa:aa:aa:aa:ab"}}',
      ]);
      // node(20) (192.168.0.21), the long mapped form in capitals
      await ctl([
        "put",
        `${prefix}/subnets/172.30.80.0-24`,
        '{"PublicIP":"0:0:0:0:0:FFFF:c0a8:15","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:aa:aa:aa:aa:ad"}}',
      ]);
      // node(2) (192.168.0.3) with a JSON escape in its address: unreadable to flannel
      // (ip.IP4.UnmarshalJSON sees the raw token), so not its lease
      await ctl([
        "put",
        `${prefix}/subnets/172.30.79.0-24`,
        '{"PublicIP":"192.168.0\\u002e3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:aa:aa:aa:aa:ac"}}',
      ]);
      expect((await store.acquireLease(node(1))).subnet).toBe("172.30.77.0/24");
      expect((await store.acquireLease(node(19))).subnet).toBe("172.30.78.0/24");
      expect((await store.acquireLease(node(20))).subnet).toBe("172.30.80.0/24");
      expect((await store.acquireLease(node(2))).subnet).not.toBe("172.30.79.0/24");
    });

    it("renews on a fresh etcd lease, revoking the old one; release deletes and revokes", async () => {
      const prefix = uniquePrefix("renew");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const lease = await store.acquireLease(node(2));
      const key = `${prefix}/subnets/${lease.subnet.replace("/", "-")}`;
      const id0 = await leaseIdOf(key);
      const renewed = await store.renewLease(lease);
      const id1 = await leaseIdOf(key);
      expect(id1).not.toBe(id0);
      expect(renewed.revision! > lease.revision!).toBe(true);
      expect(await ctl(["lease", "timetolive", id0.toString(16)])).toMatch(/already expired/);
      // another node's attrs cannot renew or release it
      expect(await codeOf(store.renewLease({ ...lease, attrs: node(3) }))).toBe("LEASE_NOT_FOUND");
      await store.releaseLease({ ...lease, attrs: node(3) });
      expect(await ctl(["get", "--print-value-only", key])).not.toBe("");
      await store.releaseLease(renewed);
      expect(await ctl(["get", key])).toBe("");
      expect(await ctl(["lease", "timetolive", id1.toString(16)])).toMatch(/already expired/);
      await store.releaseLease(renewed);
      expect(await codeOf(store.renewLease(renewed))).toBe("LEASE_NOT_FOUND");
    });

    it("refuses a vxlan reservation without a VtepMAC before writing anything", async () => {
      const prefix = uniquePrefix("reserve-mac");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      // the node's own lease under that key: a plan that went ahead would make it TTL-less
      const own = await store.acquireLease(node(6), { previousSubnet: "172.30.11.0/24" });
      expect(own.subnet).toBe("172.30.11.0/24");
      const state = async () => [
        await ctl(["get", prefix, "--prefix", "-w", "json"]).then(
          (j) => j.match(/"revision":(\d+)/)?.[1],
        ),
        await ctl(["get", prefix, "--prefix"]),
      ];
      const before = await state();
      const err = await store
        .reserveSubnet("172.30.11.0/24", { ...node(6), backendData: { VNI: 1 } })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "LEASE_INVALID", field: "BackendData.VtepMAC" });
      expect(await state()).toEqual(before);
      await store.releaseLease(own);
    });

    it("keeps a reservation permanent when its node reuses and renews it", async () => {
      const prefix = uniquePrefix("reserve");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const reserved = await store.reserveSubnet("172.30.9.0/24", node(4));
      expect(reserved.expiration).toBeNull();
      const key = `${prefix}/subnets/172.30.9.0-24`;
      const leaseOf = () => leaseIdOf(key);
      expect(Number(await leaseOf())).toBe(0);
      expect(await codeOf(store.reserveSubnet("172.30.9.0/24", node(5)))).toBe("LEASE_CONFLICT");
      expect(await codeOf(store.reserveSubnet("10.9.9.0/24", node(5)))).toBe("CONFIG_INVALID");
      const lease = await store.acquireLease(node(4, "cc:cc:cc:cc:cc:cc"));
      expect(lease.subnet).toBe("172.30.9.0/24");
      expect(lease.expiration).toBeNull();
      expect(Number(await leaseOf())).toBe(0);
      const renewed = await store.renewLease(lease);
      expect(renewed.expiration).toBeNull();
      expect(Number(await leaseOf())).toBe(0);
      // a reservation written by hand (etcdctl put without --lease) works the same
      await ctl([
        "put",
        `${prefix}/subnets/172.30.10.0-24`,
        '{"PublicIP":"192.168.9.9","BackendType":"vxlan","BackendData":{"VtepMAC":"3a:b9:84:c3:57:7c"}}',
      ]);
      const byHand = await store.acquireLease({ ...node(0), publicIP: "192.168.9.9" });
      expect(byHand.subnet).toBe("172.30.10.0/24");
      expect(byHand.expiration).toBeNull();
    });

    it("lists with exact expirations and reports garbage instead of failing", async () => {
      const prefix = uniquePrefix("list");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const id = (await ctl(["lease", "grant", "600"])).match(/lease ([0-9a-f]+) granted/)![1]!;
      await ctl([
        "put",
        "--lease",
        id,
        `${prefix}/subnets/172.30.20.0-24`,
        '{"PublicIP":"192.168.7.7"}',
      ]);
      await ctl(["put", `${prefix}/subnets/not-a-key`, "{}"]);
      await ctl(["put", `${prefix}/subnets/172.30.21.0-24`, "not json"]);
      await ctl(["put", `${prefix}/subnets/x/172.30.22.0-24`, '{"PublicIP":"1.2.3.4"}']);
      const a = await store.acquireLease(node(6));
      expect(["172.30.20.0/24", "172.30.21.0/24"]).not.toContain(a.subnet);
      const other = open(prefix); // never timed any etcd lease
      const list = await other.listLeases();
      expect(list.leases.map((l) => l.subnet).sort()).toEqual([a.subnet, "172.30.20.0/24"].sort());
      const byHand = list.leases.find((l) => l.subnet === "172.30.20.0/24")!;
      expect(Math.abs(byHand.expiration!.getTime() - (Date.now() + 600_000))).toBeLessThan(3000);
      expect(list.skipped.map((s) => s.key).sort()).toEqual([
        `${prefix}/subnets/172.30.21.0-24`,
        `${prefix}/subnets/not-a-key`,
        `${prefix}/subnets/x/172.30.22.0-24`,
      ]);
      expect(list.skipped.map((s) => s.error.code).sort()).toEqual([
        "LEASE_INVALID",
        "SUBNET_KEY_INVALID",
        "SUBNET_KEY_INVALID",
      ]);
      // an unreadable value still holds its subnet: the sequential strategy, which always wants
      // the lowest free subnet, steps over it instead of failing to create its key ten times
      await ctl(["put", `${prefix}/subnets/172.30.1.0-24`, "garbage"]);
      const sequential = new EtcdLeaseStore({
        endpoints: [etcd.clientUrl],
        prefix,
        strategy: "sequential",
        transport,
      });
      stores.push(sequential);
      const next = await sequential.acquireLease(node(8));
      expect(next.subnet).not.toBe("172.30.1.0/24");
    });

    it("releases by key, by full path and by CIDR", async () => {
      const prefix = uniquePrefix("release");
      const store = open(prefix);
      await store.putNetworkConfig(GUIDE_CONFIG);
      const l1 = await store.acquireLease(node(10));
      const l2 = await store.acquireLease(node(11));
      const l3 = await store.acquireLease(node(12));
      await store.releaseLease(l1.subnet.replace("/", "-"));
      await store.releaseLease(`${prefix}/subnets/${l2.subnet.replace("/", "-")}`);
      await store.releaseLease(l3.subnet);
      expect((await store.listLeases()).leases).toEqual([]);
      expect(await codeOf(store.releaseLease("garbage"))).toBe("SUBNET_KEY_INVALID");
    });

    it("rejects calls after close() and on an aborted signal", async () => {
      const store = new EtcdLeaseStore({
        endpoints: [etcd.clientUrl],
        prefix: uniquePrefix("closed"),
        transport,
      });
      const ac = new AbortController();
      ac.abort();
      expect(await codeOf(store.listLeases({ signal: ac.signal }))).toBe("ABORTED");
      await store.close();
      await store.close();
      expect(await codeOf(store.listLeases())).toBe("STORE_CLOSED");
      expect(await codeOf(store.acquireLease(node(1)))).toBe("STORE_CLOSED");
    });
  },
);
