#!/usr/bin/env node
// One watcher in a fresh process (for an honest RSS): opens a store, waits for the initial
// snapshot, prints {snapshotMs, leases, rssMB, heapMB} as JSON. Used by etcd.mjs ("watch").
//
//   node etcd-watch-child.mjs <endpoint> <prefix> watch|baseline
import { performance } from "node:perf_hooks";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";

const [endpoint, prefix, mode] = process.argv.slice(2);
const MB = 1024 * 1024;
const store = new EtcdLeaseStore({ endpoints: [endpoint], prefix });
let leases = 0;
let snapshotMs = 0;
let keep = null;
if (mode === "watch") {
  const ac = new AbortController();
  const start = performance.now();
  for await (const result of store.watchLeases({ signal: ac.signal })) {
    snapshotMs = performance.now() - start;
    if (result.type === "snapshot") {
      leases = result.leases.length;
      keep = result;
    }
    break;
  }
} else {
  await store.getNetworkConfig().catch(() => undefined);
}
const mem = process.memoryUsage();
await store.close();
process.stdout.write(
  JSON.stringify({
    snapshotMs,
    leases,
    rssMB: mem.rss / MB,
    heapMB: mem.heapUsed / MB,
    kept: keep !== null,
  }),
);
