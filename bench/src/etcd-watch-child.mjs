#!/usr/bin/env node
// One watcher in a fresh process (for an honest RSS): opens a store, waits for the initial
// snapshot, keeps watching, and prints as JSON: the time to the snapshot, the process RSS and
// JS heap right after it, and again after each of the `marks` (ms of watching, comma-separated;
// no forced GC anywhere). Used by etcd.mjs ("watch").
//
//   node etcd-watch-child.mjs <endpoint> <prefix> watch|baseline <transport> [marks]
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";

const [endpoint, prefix, mode, transport, marks = "5000"] = process.argv.slice(2);
const MB = 1024 * 1024;
const mem = () => {
  const m = process.memoryUsage();
  return {
    rssMB: m.rss / MB,
    heapMB: m.heapUsed / MB,
    heapTotalMB: m.heapTotal / MB,
    externalMB: m.external / MB,
  };
};
const store = new EtcdLeaseStore({ endpoints: [endpoint], prefix, transport });
let leases = 0;
let snapshotMs = 0;
let atSnapshot = null;
const ac = new AbortController();
if (mode === "watch") {
  const start = performance.now();
  let resolveSnapshot;
  const snapshot = new Promise((r) => {
    resolveSnapshot = r;
  });
  const watching = (async () => {
    for await (const result of store.watchLeases({ signal: ac.signal })) {
      if (result.type === "snapshot" && atSnapshot === null) {
        snapshotMs = performance.now() - start;
        leases = result.leases.length;
        atSnapshot = mem();
        resolveSnapshot();
      }
    }
  })();
  await snapshot;
  const steady = [];
  let waited = 0;
  for (const mark of marks.split(",").map(Number)) {
    await sleep(mark - waited);
    waited = mark;
    steady.push({ afterMs: mark, ...mem() });
  }
  ac.abort();
  await watching;
  await store.close();
  process.stdout.write(JSON.stringify({ snapshotMs, leases, ...atSnapshot, steady }));
} else {
  // baseline: the package loaded and one request made, no watch
  await store.getNetworkConfig().catch(() => undefined);
  const m = mem();
  await store.close();
  process.stdout.write(JSON.stringify({ ...m }));
}
