#!/usr/bin/env node
// Benchmarks of @flannel-sdk/etcd against a real etcd started for the run (Debian etcd 3.4):
//
//   acquire  1,000 agents acquire concurrently (through one store, and through 10 stores of 100
//            agents each), side by side with 1,000 bare create-if-absent txns (plain etcd3, same
//            concurrency, same run).
//   rpcs     server-side RPCs per acquisition, from etcd's /metrics (grpc_server_handled_total),
//            with 10 / 100 / 1,000 leases present; beside it the same acquisition done flannel
//            v0.28's way (Get config, Get subnets, one TimeToLive per lease, Grant, Txn).
//   watch    a watcher on 10,000 leases, in a fresh process: time to the initial snapshot and
//            the process RSS after it.
//
//   npx turbo run build && npm run bench:etcd -w @flannel-sdk/bench -- [acquire|rpcs|watch] [--rounds 5]
//
// Prints Markdown tables for docs/benchmarks.md ("@flannel-sdk/etcd").
import { spawn } from "node:child_process";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";
import { startEtcd, sumMetric } from "@flannel-sdk/testkit";
import { Etcd3 } from "etcd3";
import { measure } from "mitata";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: "string", default: "5" } },
});
const which = new Set(positionals.length > 0 ? positionals : ["acquire", "rpcs", "watch"]);
const rounds = Number(values.rounds);

const attrs = (i) => ({
  publicIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  publicIPv6: null,
  backendType: "vxlan",
  backendData: { VNI: 1, VtepMAC: "c6:d2:32:6f:8f:44" },
  backendV6Data: null,
});
// 10.0.0.0/8 by /24: 65,535 leasable subnets.
const CONFIG = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
let prefixes = 0;
const freshPrefix = (tag) => `/bench-${tag}-${process.pid}-${++prefixes}/network`;
const ms = (ns) => (ns / 1e6).toFixed(0);

console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "?"}, Node ${process.version}, load average ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ")}`,
);

const etcd = await startEtcd();
const endpoint = etcd.clientUrl;
const raw = new Etcd3({ hosts: endpoint });
try {
  if (which.has("acquire")) await benchAcquire();
  if (which.has("rpcs")) await benchRpcs();
  if (which.has("watch")) await benchWatch();
} finally {
  raw.close();
  await etcd.close();
}

/** Acquires `n` leases under a fresh prefix through `storeCount` stores; returns the prefix. */
async function populate(n, storeCount = 1, strategy = "random", prefix = freshPrefix("net")) {
  await raw.put(`${prefix}/config`).value(CONFIG);
  const stores = Array.from(
    { length: storeCount },
    () => new EtcdLeaseStore({ endpoints: [endpoint], prefix, strategy }),
  );
  try {
    const leases = [];
    for (let start = 0; start < n; start += 1000) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(1000, n - start) }, (_, j) =>
          stores[(start + j) % storeCount].acquireLease(attrs(start + j)),
        ),
      );
      leases.push(...batch);
    }
    return { prefix, leases };
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

async function benchAcquire() {
  const N = 1000;
  const opts = { min_samples: rounds, max_samples: rounds, warmup_samples: 1, min_cpu_time: 0 };
  let unique = true;
  const acquire = (storeCount, strategy) => async () => {
    const { leases } = await populate(N, storeCount, strategy);
    if (new Set(leases.map((l) => l.subnet)).size !== N) unique = false;
  };
  const tenClients = Array.from({ length: 10 }, () => new Etcd3({ hosts: endpoint }));
  const bare = (clients) => async () => {
    const prefix = freshPrefix("bare");
    await Promise.all(
      Array.from({ length: N }, (_, i) => {
        const c = clients[i % clients.length];
        const key = `${prefix}/subnets/${i}`;
        return c.if(key, "Version", "==", 0).then(c.put(key).value("x")).commit();
      }),
    );
  };
  const results = [
    [
      "etcd3: 1,000 × `Txn(If Version(k) == 0, Then Put(k))`, one client",
      await measure(bare([raw]), opts),
    ],
    ["etcd3: the same through 10 clients × 100", await measure(bare(tenClients), opts)],
    [
      "`acquireLease` × 1,000, one store, `hashed` (the default)",
      await measure(acquire(1, "hashed"), opts),
    ],
    [
      "`acquireLease` × 1,000, one store, `random` (flannel's choice)",
      await measure(acquire(1, "random"), opts),
    ],
    [
      "`acquireLease` × 1,000, 10 stores × 100, `random`",
      await measure(acquire(10, "random"), opts),
    ],
    [
      "`acquireLease` × 1,000, 10 stores × 100, `hashed`",
      await measure(acquire(10, "hashed"), opts),
    ],
  ];
  for (const c of tenClients) c.close();
  const base = results[0][1].p50;
  console.log("\n### 1,000 concurrent acquisitions vs 1,000 bare create-if-absent txns\n");
  console.log(
    "| peer (1,000 in flight) | p50 (ms) | min (ms) | max (ms) | × bare, one client (p50) |",
  );
  console.log("| --- | ---: | ---: | ---: | ---: |");
  for (const [name, s] of results) {
    console.log(
      `| ${name} | ${ms(s.p50)} | ${ms(s.min)} | ${ms(s.max)} | ${(s.p50 / base).toFixed(2)} |`,
    );
  }
  console.log(
    `\n${rounds} rounds each after one warm-up; every round's 1,000 subnets unique: ${unique}.`,
  );
}

async function handled() {
  return sumMetric(await etcd.metricsText(), "grpc_server_handled_total");
}

/**
 * flannel v0.28's acquisition (tryAcquireLease in pkg/subnet/etcd/local_manager.go, the calls of
 * pkg/subnet/etcd/registry.go), step by step on plain etcd3.
 */
async function flannelWay(prefix, i) {
  await raw.kv.range({ key: Buffer.from(`${prefix}/config`) });
  const end = Buffer.from(`${prefix}/subnets`);
  end[end.length - 1] += 1;
  const list = await raw.kv.range({ key: Buffer.from(`${prefix}/subnets`), range_end: end });
  for (const kv of list.kvs) await raw.leaseClient.leaseTimeToLive({ ID: kv.lease });
  const { ID } = await raw.leaseClient.leaseGrant({ TTL: 86400 });
  const key = `${prefix}/subnets/10.250.${i}.0-24`;
  await raw.kv.txn({
    compare: [{ key: Buffer.from(key), target: "Version", result: "Equal", version: 0 }],
    success: [{ request_put: { key: Buffer.from(key), value: Buffer.from("{}"), lease: ID } }],
  });
}

async function benchRpcs() {
  console.log("\n### Server-side RPCs per acquisition (etcd `grpc_server_handled_total`)\n");
  console.log(
    "| leases present | `EtcdLeaseStore.acquireLease` (3 rounds) | flannel v0.28's way |",
  );
  console.log("| ---: | ---: | ---: |");
  for (const n of [10, 100, 1000]) {
    const { prefix } = await populate(n, 1);
    // flannel's way first, with exactly n leases present
    const beforeFlannel = await handled();
    await flannelWay(prefix, n % 250);
    const flannel = (await handled()) - beforeFlannel;
    const counts = [];
    for (let round = 0; round < 3; round++) {
      // A fresh store each time: nothing cached from earlier calls.
      const store = new EtcdLeaseStore({ endpoints: [endpoint], prefix });
      const before = await handled();
      await store.acquireLease(attrs(100_000 + n * 10 + round));
      const after = await handled();
      await store.close();
      counts.push(after - before);
    }
    console.log(`| ${n.toLocaleString("en")} | ${counts.join(", ")} | ${flannel} |`);
  }
  console.log(
    "\nOne acquisition by a new store each round (3 rounds). The metrics scrape itself is not a gRPC call.",
  );
}

async function benchWatch() {
  const N = 10_000;
  const { prefix } = await populate(N, 10, "hashed");
  const child = fileURLToPath(new URL("./etcd-watch-child.mjs", import.meta.url));
  const runChild = (mode, transport, marks = "5000") =>
    new Promise((resolve, reject) => {
      const p = spawn(process.execPath, [child, endpoint, prefix, mode, transport, marks], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      let out = "";
      p.stdout.on("data", (d) => {
        out += d;
      });
      p.on("exit", (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(out))));
    });
  console.log("\n### A watcher on 10,000 leases (fresh process each run)\n");
  console.log("| transport | measure | p50 | min | max |");
  console.log("| --- | --- | ---: | ---: | ---: |");
  const baselines = [];
  for (const transport of ["http", "grpc"]) {
    const baseline = await runChild("baseline", transport);
    baselines.push(
      `${transport}: RSS ${baseline.rssMB.toFixed(0)} MB, heap ${baseline.heapMB.toFixed(0)} MB`,
    );
    const runs = [];
    // The default transport is also watched for 45 s: V8 gives back the young generation it
    // grew while decoding once the process has been quiet for a while (its memory reducer).
    const marks = transport === "http" ? "5000,45000" : "5000";
    for (let i = 0; i < rounds; i++) runs.push(await runChild("watch", transport, marks));
    runs.sort((a, b) => a.snapshotMs - b.snapshotMs);
    const mid = runs[Math.floor(runs.length / 2)];
    const col = (f, unit) =>
      `${f(mid).toFixed(0)} ${unit} | ${Math.min(...runs.map(f)).toFixed(0)} ${unit} | ${Math.max(...runs.map(f)).toFixed(0)} ${unit}`;
    const name = transport === "http" ? '`"http"` (default)' : '`"grpc"` (npm etcd3)';
    console.log(
      `| ${name} | \`watchLeases()\` → initial snapshot (${mid.leases.toLocaleString("en")} leases) | ${col((r) => r.snapshotMs, "ms")} |`,
    );
    console.log(`| ${name} | process RSS after the snapshot | ${col((r) => r.rssMB, "MB")} |`);
    for (const [k, { afterMs }] of mid.steady.entries()) {
      console.log(
        `| ${name} | process RSS after ${afterMs / 1000} s more of watching | ${col((r) => r.steady[k].rssMB, "MB")} |`,
      );
    }
    console.log(`| ${name} | JS heap used after the snapshot | ${col((r) => r.heapMB, "MB")} |`);
  }
  console.log(
    `\nBaseline (same process, package loaded, store opened, one request, no watch): ${baselines.join("; ")}.`,
  );
}
