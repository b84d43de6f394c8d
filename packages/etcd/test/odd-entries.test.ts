/**
 * Issue 16.1: whatever another tool or a hand wrote under `subnets/`, one odd entry never stops a
 * watch or a node. Non-canonical keys are skipped and reported (with the lease as read, which
 * renew and release take exactly as listed), their subnets count as taken; canonical keys with
 * odd contents (out of the network, another SubnetLen, `{}`, both `&` forms) are leases.
 */
import {
  formatLeaseAttrs,
  type LeaseStore,
  type LeaseWatchResult,
  type SkippedLeaseEntry,
} from "@flannel-sdk/core";
import { type EtcdServer, etcdctl, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { describe, expect, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "../src/index.js";
import { codeOf, expectNoLeakedGrants, node, TRANSPORTS, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

/** 10.40.0.0/26 by /28: SubnetMin 10.40.0.16 … SubnetMax 10.40.0.48, three subnets. */
const CONFIG = { Network: "10.40.0.0/26", SubnetLen: 28, Backend: { Type: "vxlan" } };
const json = (i: number) => formatLeaseAttrs(node(i));

/** Key name → value, written raw, as another tool or a hand would. */
const ODD: Record<string, string> = {
  "10.40.0.17-28": json(1), // host bits set: flannel reads 10.40.0.17/28, covering .16/28
  "10.40.0.32-028": json(2), // a leading zero in the length
  "10.99.0.0-28": json(3), // out of the network
  "10.40.0.0-29": json(4), // another SubnetLen (inside the network's unleasable first /28)
  "10.99.1.0-28": "{}", // an empty value: PublicIP 0.0.0.0
  "10.99.2.0-28": json(5), // the same IPv4 subnet, with and without an IPv6 part
  "10.99.2.0-28&fc00::-64": json(6),
  "10.99.2.0-28&fc00:0::-64": json(7), // the IPv6 part not in Go's canonical text
};
const NON_CANONICAL = ["10.40.0.17-28", "10.40.0.32-028", "10.99.2.0-28&fc00:0::-64"];
const LISTED = Object.keys(ODD)
  .filter((k) => !NON_CANONICAL.includes(k))
  .sort();

interface Kind {
  name: string;
  open(etcd: EtcdServer, prefix: string): LeaseStore & { keys: { subnets: string } };
  write(store: LeaseStore, key: string, value: string): Promise<void>;
  remove(etcd: EtcdServer, store: LeaseStore, key: string): Promise<void>;
  v3: boolean;
}

const KINDS: Kind[] = [
  ...TRANSPORTS.map(
    (transport): Kind => ({
      name: `EtcdLeaseStore (v3 over ${transport})`,
      open: (etcd, prefix) =>
        new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport }),
      write: async (s, key, value) => {
        await (s as EtcdLeaseStore).connection.put(key, value);
      },
      remove: async (etcd, _s, key) => {
        await etcdctl(["del", key], { api: 3, endpoints: [etcd.clientUrl] });
      },
      v3: true,
    }),
  ),
  {
    name: "EtcdV2LeaseStore (v2 keys API)",
    open: (etcd, prefix) => new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix }),
    write: async (s, key, value) => {
      await (s as EtcdV2LeaseStore).client.set(key, value, { ttl: 86_400 });
    },
    remove: async (_etcd, s, key) => {
      await (s as EtcdV2LeaseStore).client.delete(key);
    },
    v3: false,
  },
];

const names = (entries: readonly { key: string }[], subnets: string) =>
  entries.map((e) => e.key.slice(subnets.length)).sort();
const leaseKeyName = (l: { subnet: string; ipv6Subnet: string | null }) =>
  `${l.subnet.replace("/", "-")}${l.ipv6Subnet ? `&${l.ipv6Subnet.replace("/", "-")}` : ""}`;

describe.runIf(run)("odd entries under subnets/ (issue 16.1)", () => {
  const etcd = etcdPerSuite({
    enableV2: true,
    beforeClose: (e) => expectNoLeakedGrants(e.clientUrl),
  });

  for (const kind of KINDS) {
    describe(kind.name, () => {
      it("lists canonical keys as leases and skips non-canonical ones, with the lease as read", async () => {
        const store = kind.open(etcd, uniquePrefix("odd-list"));
        try {
          await store.putNetworkConfig(CONFIG);
          for (const [k, v] of Object.entries(ODD))
            await kind.write(store, store.keys.subnets + k, v);
          const list = await store.listLeases();
          expect(list.leases.map(leaseKeyName).sort()).toEqual(LISTED);
          expect(names(list.skipped, store.keys.subnets)).toEqual([...NON_CANONICAL].sort());
          for (const s of list.skipped) {
            expect(s.error.code).toBe("SUBNET_KEY_INVALID");
            expect(s.lease?.key).toBe(s.key.slice(store.keys.subnets.length));
          }
          const hostBits = list.skipped.find((s) => s.key.endsWith("10.40.0.17-28"))!;
          expect(hostBits.lease).toMatchObject({ subnet: "10.40.0.17/28", attrs: node(1) });
          expect(hostBits.error.message).toMatch(/not canonical.*10\.40\.0\.16-28/);
        } finally {
          await store.close();
        }
      });

      it("a watch reports odd entries as skipped and keeps going, in its snapshot and its events", async () => {
        const store = kind.open(etcd, uniquePrefix("odd-watch"));
        const ac = new AbortController();
        try {
          await store.putNetworkConfig(CONFIG);
          for (const [k, v] of Object.entries(ODD))
            await kind.write(store, store.keys.subnets + k, v);
          const it = store.watchLeases({ signal: ac.signal })[Symbol.asyncIterator]();
          const first = (await it.next()).value as LeaseWatchResult;
          expect(first.type).toBe("snapshot");
          expect(first.type === "snapshot" && first.leases.map(leaseKeyName).sort()).toEqual(
            LISTED,
          );
          expect(names(first.skipped, store.keys.subnets)).toEqual([...NON_CANONICAL].sort());
          // A new odd key: reported, not added.
          await kind.write(store, `${store.keys.subnets}10.99.3.1-28`, json(8));
          const skippedOne = (await it.next()).value as LeaseWatchResult;
          expect(skippedOne).toMatchObject({ type: "events", events: [] });
          expect(names(skippedOne.skipped, store.keys.subnets)).toEqual(["10.99.3.1-28"]);
          // Its removal is nothing to the lease set; the watch goes on to the next real lease.
          await kind.remove(etcd, store, `${store.keys.subnets}10.99.3.1-28`);
          const lease = await store.acquireLease(node(9));
          let added: SkippedLeaseEntry[] | undefined;
          for (;;) {
            const r = (await it.next()).value as LeaseWatchResult;
            if (r.type === "events" && r.events.some((e) => e.type === "added")) {
              expect(r.events).toMatchObject([{ type: "added", lease: { subnet: lease.subnet } }]);
              added = [...r.skipped];
              break;
            }
            expect(r.type === "events" && r.events).toEqual([]);
          }
          expect(added).toEqual([]);
        } finally {
          ac.abort();
          await store.close();
        }
      });

      it("counts their subnets as taken; their owners renew and release them exactly as listed", async () => {
        const store = kind.open(etcd, uniquePrefix("odd-acquire"));
        try {
          await store.putNetworkConfig(CONFIG);
          for (const [k, v] of Object.entries(ODD))
            await kind.write(store, store.keys.subnets + k, v);
          // .16/28 and .32/28 are covered by the odd keys: only .48/28 is free.
          expect((await store.acquireLease(node(9))).subnet).toBe("10.40.0.48/28");
          expect(await codeOf(store.acquireLease(node(10)))).toBe("OUT_OF_SUBNETS");
          const { skipped } = await store.listLeases();
          const hostBits = skipped.find((s) => s.key.endsWith("/10.40.0.17-28"))!.lease!;
          const renewed = await store.renewLease(hostBits);
          expect(renewed).toMatchObject({ subnet: "10.40.0.17/28", key: "10.40.0.17-28" });
          expect(renewed.revision).not.toBe(hostBits.revision);
          // Another node cannot renew or release it.
          expect(await codeOf(store.renewLease({ ...hostBits, attrs: node(11) }))).toBe(
            "LEASE_NOT_FOUND",
          );
          await store.releaseLease({ ...hostBits, attrs: node(11) });
          expect(names((await store.listLeases()).skipped, store.keys.subnets)).toContain(
            "10.40.0.17-28",
          );
          await store.releaseLease(renewed);
          await store.releaseLease("10.40.0.32-028");
          await store.releaseLease("10.99.2.0/28");
          const after = await store.listLeases();
          expect(names(after.skipped, store.keys.subnets)).toEqual([]);
          expect(after.leases.map(leaseKeyName).sort()).toEqual(
            ["10.40.0.0-29", "10.40.0.48-28", "10.99.0.0-28", "10.99.1.0-28"].sort(),
          );
          // The subnets are free again.
          expect((await store.acquireLease(node(10))).subnet).toMatch(/^10\.40\.0\.(16|32)\/28$/);
        } finally {
          await store.close();
        }
      });
    });
  }
});
