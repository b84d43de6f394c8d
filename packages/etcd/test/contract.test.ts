/**
 * Core's LeaseStore contract suite, run against both etcd stores on a real etcd.
 */
import type { Lease } from "@flannel-sdk/core";
import { describeLeaseStoreContract } from "@flannel-sdk/core/testing";
import { etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { describe, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "../src/index.js";
import { expectNoLeakedGrants, TRANSPORTS, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

const SKIP_24H = {
  "ttl-24h":
    "needs a 24 h clock jump; etcd keeps its own time. The 24 h TTL is checked in v3-store/v2-store tests (etcd lease granted for 86400 s; v2 ttl=86400)",
};

describe.runIf(run)("LeaseStore contract on etcd", () => {
  const etcd = etcdPerSuite({
    enableV2: true,
    // Every store the suite opened is closed by now: no lease grant may be left unattached.
    beforeClose: (e) => expectNoLeakedGrants(e.clientUrl),
  });
  const endpoints = () => [etcd.clientUrl];

  for (const transport of TRANSPORTS) {
    describeLeaseStoreContract<EtcdLeaseStore>(
      `EtcdLeaseStore (v3 over ${transport})`,
      { describe, it },
      {
        async create({ rawConfig }) {
          const store = new EtcdLeaseStore({
            endpoints: endpoints(),
            prefix: uniquePrefix("contract-v3"),
            transport,
          });
          if (rawConfig !== undefined) await store.connection.put(store.keys.config, rawConfig);
          return store;
        },
        // Exactly what the TTL running out does in etcd: the etcd lease ends and takes the key along.
        async expireLease(store, lease: Lease) {
          const key = `${store.keys.subnets}${lease.subnet.replace("/", "-")}${lease.ipv6Subnet ? `&${lease.ipv6Subnet.replace("/", "-")}` : ""}`;
          const kv = (await store.connection.range(key)).kvs[0];
          if (kv) await store.connection.revoke(kv.lease);
        },
        skip: SKIP_24H,
        timeoutMs: 30_000,
        toleranceMs: 5_000,
      },
    );
  }

  describeLeaseStoreContract<EtcdV2LeaseStore>(
    "EtcdV2LeaseStore (v2 keys API)",
    { describe, it },
    {
      async create({ rawConfig }) {
        const store = new EtcdV2LeaseStore({
          endpoints: endpoints(),
          prefix: uniquePrefix("contract-v2"),
        });
        if (rawConfig !== undefined) await store.client.set(store.keys.config, rawConfig);
        return store;
      },
      // v2 keys expire by their node TTL: give the key one second left and let etcd expire it.
      async expireLease(store, lease: Lease) {
        const key = `${store.keys.subnets}${lease.subnet.replace("/", "-")}${lease.ipv6Subnet ? `&${lease.ipv6Subnet.replace("/", "-")}` : ""}`;
        const node = (await store.client.get(key)).node;
        await store.client.set(key, node.value ?? "", { ttl: 1, prevIndex: node.modifiedIndex });
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
          try {
            await store.client.get(key);
          } catch {
            return;
          }
        }
        throw new Error(`etcd v2 did not expire ${key}`);
      },
      skip: SKIP_24H,
      timeoutMs: 30_000,
      toleranceMs: 5_000,
    },
  );
});
