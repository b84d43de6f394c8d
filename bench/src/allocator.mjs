// SubnetAllocator: filling a whole window one subnet at a time, and the cost of one allocation
// as the window fills, with a port of flannel's own walk (allocateSubnet, v0.28) for contrast.
//
//   npm run build && npm run bench -w @flannel-sdk/bench -- allocator
//
// Prints Markdown tables for docs/benchmarks.md.
import os from "node:os";
import { parseIPv4, SubnetAllocator } from "@flannel-sdk/core";
import { do_not_optimize, measure } from "mitata";
import { flannelAllocate } from "./flannel-walk.mjs";

const config4 = {
  enableIPv4: true,
  enableIPv6: false,
  enableNFTables: false,
  network: "10.0.0.0/8",
  subnetLen: 24,
  subnetMin: "10.0.1.0",
  subnetMax: "10.255.255.0",
  ipv6Network: null,
  ipv6SubnetLen: 0,
  ipv6SubnetMin: null,
  ipv6SubnetMax: null,
  backend: {
    type: "vxlan",
    vni: 1,
    port: 0,
    gbp: false,
    learning: false,
    directRouting: false,
    mtu: null,
    macPrefix: "0E-2A",
  },
};
const config6 = (network, min, max) => ({
  ...config4,
  enableIPv4: false,
  enableIPv6: true,
  network: null,
  subnetLen: 0,
  subnetMin: null,
  subnetMax: null,
  ipv6Network: network,
  ipv6SubnetLen: 64,
  ipv6SubnetMin: min,
  ipv6SubnetMax: max,
});
const config6small = config6("fc00::/48", "fc00:0:0:1::", "fc00:0:0:ffff::");
const config6huge = config6("fc00::/8", "fc00:0:0:1::", "fcff:ffff:ffff:ffff::");

// Seeded xorshift32, so that every run makes the same random choices.
function rng(seed = 0x9e3779b9) {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

const N = 65_535;
const loadAvg = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const header = `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}`;

function fill(config, strategy, count = N) {
  const alloc = new SubnetAllocator(config, { strategy, random: rng(), identity: "n" });
  let last = "";
  for (let i = 0; i < count; i++) last = alloc.allocate({ identity: `node-${i}` });
  return last;
}

// Process CPU time (user + system, all threads) in ns: a fill takes tens of milliseconds, long
// enough to be descheduled on a busy machine, and CPU time does not count the waiting.
const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
};

// Each row is measured in several rounds, interleaved with the other rows, and keeps the median
// of its best round: bursts of load from other processes then cost a round, not the figure.
async function best(rows, measureRow, rounds) {
  const out = new Map();
  for (let r = 0; r < rounds; r++) {
    for (const row of rows) {
      const got = await measureRow(row);
      const prev = out.get(row);
      out.set(row, prev === undefined ? got : got.map((v, k) => Math.min(v, prev[k])));
    }
    console.error(`round ${r + 1}/${rounds}`);
  }
  return out;
}

const fmtMs = (x) => `${x.toFixed(1)} ms`;
const fmtNs = (ns) =>
  ns >= 1e6
    ? `${(ns / 1e6).toFixed(1)} ms`
    : ns >= 1000
      ? `${(ns / 1000).toFixed(2)} µs`
      : `${ns.toFixed(0)} ns`;

// ---- 1. Whole windows, one allocation at a time.
const totals = [
  ["10.0.0.0/8 at /24 (65,535)", config4, "sequential"],
  ["10.0.0.0/8 at /24 (65,535)", config4, "random"],
  ["10.0.0.0/8 at /24 (65,535)", config4, "hashed"],
  ["fc00::/48 at /64 (65,535)", config6small, "sequential"],
  ["fc00::/48 at /64 (65,535)", config6small, "random"],
  ["fc00::/48 at /64 (65,535)", config6small, "hashed"],
  ["fc00::/8 at /64, first 65,535 of 2^56 (sparse)", config6huge, "sequential"],
  ["fc00::/8 at /64, first 65,535 of 2^56 (sparse)", config6huge, "random"],
];
const lines = [
  "### Filling a window, one `allocate()` at a time (target ≤ 50 ms for 65,535)",
  "",
  `${header}, load average before ${loadAvg()}`,
  "",
  "| window | strategy | total, wall clock | total, process CPU time | per allocation (wall) |",
  "| --- | --- | ---: | ---: | ---: |",
];
const fillTimes = await best(
  totals,
  async ([, config, strategy]) => {
    const fn = () => do_not_optimize(fill(config, strategy));
    const wall = await measure(fn, { min_cpu_time: 250e6, min_samples: 5 });
    const cpu = await measure(fn, { now: cpuNow, min_cpu_time: 250e6, min_samples: 5 });
    return [wall.p50 / 1e6, cpu.p50 / 1e6];
  },
  4,
);
for (const row of totals) {
  const [name, , strategy] = row;
  const [wall, cpu] = fillTimes.get(row);
  lines.push(
    `| ${name} | ${strategy} | ${fmtMs(wall)} | ${fmtMs(cpu)} | ${fmtNs((wall * 1e6) / N)} |`,
  );
}

// ---- 2. One allocation (then its release, to keep the level) at 1k, 16k and 65k allocated.
const levels = [1_000, 16_000, 65_000];
function prepared(config, strategy, level) {
  const alloc = new SubnetAllocator(config, { strategy, random: rng(7), identity: "n" });
  for (let i = 0; i < level; i++) alloc.allocate({ identity: `node-${i}` });
  let i = 0;
  return () => {
    const got = alloc.allocate({ identity: `probe-${i++ & 1023}` });
    alloc.release(got);
    return got;
  };
}
lines.push(
  "",
  "### One `allocate()` + `release()` with 1k, 16k and 65k subnets already allocated (must stay flat)",
  "",
  `load average before ${loadAvg()}`,
  "",
  `| window | strategy | ${levels.map((l) => `${l.toLocaleString("en")} allocated`).join(" | ")} |`,
  `| --- | --- | ${levels.map(() => "---:").join(" | ")} |`,
);
const flatRows = [
  ["10.0.0.0/8 at /24", config4, "sequential"],
  ["10.0.0.0/8 at /24", config4, "random"],
  ["10.0.0.0/8 at /24", config4, "hashed"],
  ["fc00::/48 at /64", config6small, "sequential"],
  ["fc00::/48 at /64", config6small, "random"],
  ["fc00::/8 at /64 (sparse)", config6huge, "sequential"],
  ["fc00::/8 at /64 (sparse)", config6huge, "random"],
];
const flatTimes = await best(
  flatRows,
  async ([, config, strategy]) => {
    const out = [];
    for (const level of levels) {
      const fn = prepared(config, strategy, level);
      const stats = await measure(() => do_not_optimize(fn()), { min_cpu_time: 100e6 });
      out.push(stats.p50);
    }
    return out;
  },
  3,
);
for (const row of flatRows) {
  const [name, , strategy] = row;
  lines.push(`| ${name} | ${strategy} | ${flatTimes.get(row).map(fmtNs).join(" | ")} |`);
}

// The same question answered inside a fill, without releases: the time taken by the
// allocations numbered 1,000–1,999, 16,000–16,999 and 64,000–64,999 of one fill, per allocation.
// Each row is filled 12 times, interleaved with the other rows; each bucket keeps its best fill.
const buckets = [1_000, 16_000, 64_000];
const bucketTimes = await best(
  flatRows,
  async ([, config, strategy]) => {
    const alloc = new SubnetAllocator(config, { strategy, random: rng(11), identity: "n" });
    const out = [];
    let done = 0;
    for (const start of buckets) {
      for (; done < start; done++) alloc.allocate({ identity: `node-${done}` });
      const t0 = performance.now();
      for (let k = 0; k < 1000; k++)
        do_not_optimize(alloc.allocate({ identity: `node-${done++}` }));
      out.push(((performance.now() - t0) * 1e6) / 1000);
    }
    return out;
  },
  12,
);
lines.push(
  "",
  "### Inside one fill: cost per allocation of allocations #1,000–1,999, #16,000–16,999, #64,000–64,999",
  "",
  `| window | strategy | ${buckets.map((b) => `at ${b.toLocaleString("en")}`).join(" | ")} |`,
  `| --- | --- | ${buckets.map(() => "---:").join(" | ")} |`,
);
for (const row of flatRows) {
  const [name, , strategy] = row;
  lines.push(`| ${name} | ${strategy} | ${bucketTimes.get(row).map(fmtNs).join(" | ")} |`);
}
lines.push(
  "",
  "flannel's walk, for contrast (one allocation with 1,000 / 4,000 / 16,000 leases held):",
  "",
);

// flannel's walk: every candidate from SubnetMin checked against every lease. Its cost grows
// with the leases held, so it is measured at smaller levels (16k already takes about a second).
const walkLevels = [1_000, 4_000, 16_000];
const min = parseIPv4("10.0.1.0");
const max = parseIPv4("10.255.255.0");
const cells = [];
for (const level of walkLevels) {
  const leases = Array.from({ length: level }, (_, i) => [min + i * 256, 24]);
  const random = rng(3);
  const stats = await measure(
    () => do_not_optimize(flannelAllocate(min, max, 24, leases, random)),
    {
      min_cpu_time: 500e6,
      min_samples: 2,
    },
  );
  cells.push(fmtNs(stats.p50));
}
lines.push(
  `| window | strategy | ${walkLevels.map((l) => `${l.toLocaleString("en")} held`).join(" | ")} |`,
  `| --- | --- | ${walkLevels.map(() => "---:").join(" | ")} |`,
  `| 10.0.0.0/8 at /24, flannel's walk (JS port) | random | ${cells.join(" | ")} |`,
);
lines.push("", `load average after ${loadAvg()}`);
console.log(lines.join("\n"));
