#!/usr/bin/env node
// Benchmark of @flannel-sdk/netlink: applying a 1,000-peer vxlan plan (3,000 kernel objects:
// neighbour, FDB entry, route per peer) into a fresh network namespace, side by side with
// `ip -batch` / `bridge -batch` doing the same operations, plus a second apply of the same plan
// and, for contrast, the cost of one `ip` process per operation on a sample. With --dual, every
// peer is dual stack: the IPv4 plan and the IPv6 one (flannel-v6.1 over an IPv6 underlay), 6
// kernel objects per peer, applied one after the other as the agent does, and the same 6,006
// operations through `ip -batch` + `bridge -batch`.
//
//   npm run bench:netlink -- --peers 1000 [--dual] [--runs 5] [--json] [--keep-netns NAME]
//
// Needs root (network namespaces). Results: docs/benchmarks.md, "@flannel-sdk/netlink".
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseNetworkConfig, planVxlan } from "@flannel-sdk/core";
import { openHandle } from "@flannel-sdk/netlink";
import { measure } from "mitata";

const { values } = parseArgs({
  options: {
    peers: { type: "string", default: "1000" },
    runs: { type: "string", default: "5" },
    json: { type: "boolean", default: false },
    dual: { type: "boolean", default: false },
    "keep-netns": { type: "string" },
    "spawn-sample": { type: "string", default: "50" },
  },
});
const peers = Number(values.peers);
const runs = Number(values.runs);
const spawnSample = Number(values["spawn-sample"]);
const keep = values["keep-netns"] ?? null;
const log = values.json ? (...a) => console.error(...a) : (...a) => console.log(...a);

if (!(peers >= 1 && peers <= 60000) || !(runs >= 1)) {
  console.error("usage: --peers N (1..60000) [--runs R] [--json] [--keep-netns NAME]");
  process.exit(2);
}
if (process.getuid?.() !== 0) {
  console.error("bench:netlink needs root (it creates network namespaces)");
  process.exit(1);
}
if (keep !== null && existsSync(`/run/netns/${keep}`)) {
  console.error(
    `--keep-netns ${keep}: that namespace exists already; delete it (ip netns del ${keep}) or pick another name`,
  );
  process.exit(1);
}

const tag = randomBytes(3).toString("hex");
const made = new Set();
const cleanup = () => {
  for (const ns of made) if (ns !== keep) spawnSync("ip", ["netns", "del", ns]);
};
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
const hex = (n) => n.toString(16).padStart(2, "0");

// Addresses live only inside the namespaces made here: an underlay 10.250.0.0/16 on a veth
// pair, the overlay network 10.64.0.0/10 (one /24 per peer).
function peer(i) {
  const s = `10.${64 + (i >> 8)}.${i & 255}.0`;
  return {
    subnet: s,
    mac: `0a:58:00:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`,
    vtep: `10.250.${1 + (i >> 8)}.${i & 255}`,
  };
}

// The IPv6 side of peer i (--dual): overlay fd64::/48 (one /64 each), underlay fd50::/64.
function peer6(i) {
  return {
    subnet: `fd64:0:0:${i.toString(16)}::`,
    mac: `0a:59:00:${hex((i >> 16) & 255)}:${hex((i >> 8) & 255)}:${hex(i & 255)}`,
    vtep: `fd50::1:${i.toString(16)}`,
  };
}

function lease(subnet, publicIP, mac, v6 = null) {
  return {
    subnet,
    ipv6Subnet: v6 && `${v6.subnet}/64`,
    attrs: {
      publicIP,
      publicIPv6: v6 === null ? null : v6.vtep,
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: mac },
      backendV6Data: v6 && { VNI: 1, VtepMAC: v6.mac },
    },
    expiration: new Date(Date.now() + 86_400_000),
  };
}

// The plans core's planner makes for node 10.250.0.1 (fd50::1) from n remote leases: IPv4,
// and with --dual the IPv6 one too.
function vxlanPlans(n) {
  const own6 = values.dual
    ? { subnet: "fd64:0:0:ffff::", mac: "0a:59:0a:fa:00:01", vtep: "fd50::1" }
    : null;
  const own = lease("10.127.255.0/24", "10.250.0.1", "0a:58:0a:fa:00:01", own6);
  const leases = [own];
  for (let i = 0; i < n; i++) {
    const p = peer(i);
    leases.push(lease(`${p.subnet}/24`, p.vtep, p.mac, values.dual ? peer6(i) : null));
  }
  const config = parseNetworkConfig({
    Network: "10.64.0.0/10",
    SubnetLen: 24,
    ...(values.dual ? { EnableIPv6: true, IPv6Network: "fd64::/48", IPv6SubnetLen: 64 } : {}),
    Backend: { Type: "vxlan" },
  });
  return (values.dual ? [4, 6] : [4]).map((family) => {
    const plan = planVxlan({
      config,
      family,
      ownLease: own,
      leases,
      externalInterface: { name: "ul0", mtu: 1500 },
    });
    if (plan.neighbors.length !== n || plan.skipped.length !== 0)
      throw new Error("unexpected plan");
    return plan;
  });
}

function freshNetns(name) {
  ip("netns", "add", name);
  made.add(name);
  ip("-n", name, "link", "set", "lo", "up");
  ip("-n", name, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  ip("-n", name, "addr", "add", "10.250.0.1/16", "dev", "ul0");
  if (values.dual) ip("-n", name, "addr", "add", "fd50::1/64", "dev", "ul0", "nodad");
  ip("-n", name, "link", "set", "ul0", "up");
  ip("-n", name, "link", "set", "ul1", "up");
  return name;
}

function dropNetns(name) {
  if (name === keep) return;
  spawnSync("ip", ["netns", "del", name]);
  made.delete(name);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const plans = vxlanPlans(peers);
const plan = plans[0];
const objects = plans.reduce((n, p) => n + p.neighbors.length + p.fdb.length + p.routes.length, 0);
const dir = mkdtempSync(join(tmpdir(), "nl-bench-"));
// The same 3,003 operations as the plan (6,006 with --dual): devices, their addresses and up,
// then neighbours; FDB entries (bridge); routes last, as flannel orders them.
writeFileSync(
  join(dir, "ip-1.batch"),
  plans
    .flatMap(({ link: l, addresses, neighbors }) => [
      `link add ${l.name} address ${l.mac} mtu ${l.mtu} type vxlan id ${l.vni} local ${l.local} dev ${l.lowerDevice} dstport ${l.port} nolearning`,
      `addr add ${addresses[0].address} dev ${l.name}`,
      `link set dev ${l.name} up`,
      ...neighbors.map(
        (n) => `neigh replace ${n.ip} lladdr ${n.lladdr} dev ${n.dev} nud permanent`,
      ),
    ])
    .join("\n") + "\n",
);
writeFileSync(
  join(dir, "bridge.batch"),
  plans
    .flatMap((p) => p.fdb)
    .map((f) => `fdb replace ${f.lladdr} dev ${f.dev} dst ${f.dst} self permanent`)
    .join("\n") + "\n",
);
writeFileSync(
  join(dir, "ip-2.batch"),
  plans
    .flatMap((p) => p.routes)
    .map((r) => `route replace ${r.dst} via ${r.gateway} dev ${r.dev} onlink`)
    .join("\n") + "\n",
);

/** Applies every plan (IPv4, then IPv6), as the agent does; the changes of all. */
async function applyAll(h) {
  let changes = 0;
  for (const p of plans) changes += (await h.applyPlan(p)).changes.length;
  return changes;
}

async function runApply(name) {
  freshNetns(name);
  const t0 = performance.now();
  const h = await openHandle({ netns: name });
  const openMs = performance.now() - t0;
  try {
    const t1 = performance.now();
    const applyChanges = await applyAll(h);
    const applyMs = performance.now() - t1;
    const t2 = performance.now();
    const reapplyChanges = await applyAll(h);
    const reapplyMs = performance.now() - t2;
    return { openMs, applyMs, applyChanges, reapplyMs, reapplyChanges };
  } finally {
    h.close();
  }
}

function runIpBatch(name) {
  freshNetns(name);
  const t0 = performance.now();
  execFileSync("ip", ["-n", name, "-batch", join(dir, "ip-1.batch")]);
  execFileSync("bridge", ["-n", name, "-batch", join(dir, "bridge.batch")]);
  execFileSync("ip", ["-n", name, "-batch", join(dir, "ip-2.batch")]);
  return performance.now() - t0;
}

const results = [];
const ipBatch = [];
try {
  // Warm-up, not measured: the first applies of a process pay for JIT compilation (it takes
  // V8 a couple of 3,000-operation rounds to reach its optimising tier), the first ip/bridge
  // runs for loading the binaries.
  for (let w = 0; w < 2; w++) {
    const x = await runApply(`nl-bench-${tag}-wa${w}`);
    const y = runIpBatch(`nl-bench-${tag}-wb${w}`);
    dropNetns(`nl-bench-${tag}-wa${w}`);
    dropNetns(`nl-bench-${tag}-wb${w}`);
    log(
      `warm-up ${w + 1}/2 (not counted): applyPlan ${x.applyMs.toFixed(1)} ms, ip/bridge -batch ${y.toFixed(1)} ms`,
    );
  }
  for (let r = 0; r < runs; r++) {
    const last = r === runs - 1;
    const applyNs = last && keep !== null ? keep : `nl-bench-${tag}-a${r}`;
    const ipNs = `nl-bench-${tag}-b${r}`;
    // alternate who goes first, so neither always meets a warmer kernel
    if (r % 2 === 0) {
      results.push(await runApply(applyNs));
      ipBatch.push(runIpBatch(ipNs));
    } else {
      ipBatch.push(runIpBatch(ipNs));
      results.push(await runApply(applyNs));
    }
    dropNetns(ipNs);
    if (!last) dropNetns(applyNs);
    const x = results.at(-1);
    log(
      `run ${r + 1}/${runs}: applyPlan ${x.applyMs.toFixed(1)} ms (${x.applyChanges} changes), ip/bridge -batch ${ipBatch.at(-1).toFixed(1)} ms, re-apply ${x.reapplyMs.toFixed(1)} ms (${x.reapplyChanges} changes), open ${x.openMs.toFixed(1)} ms`,
    );
  }

  // Re-apply, many samples on the state the last run left (mitata).
  const lastNs = results.length > 0 ? (keep ?? `nl-bench-${tag}-a${runs - 1}`) : null;
  const h = await openHandle({ netns: lastNs });
  let reapplyStats;
  try {
    reapplyStats = await measure(
      async () => {
        if ((await applyAll(h)) !== 0) throw new Error("re-apply changed something");
      },
      { min_samples: 10, max_samples: 30, min_cpu_time: 200e6 },
    );
  } finally {
    h.close();
  }
  if (keep === null && lastNs !== null) dropNetns(lastNs);

  // One `ip` process per operation, on a sample (idempotent replaces into a fresh namespace).
  const spawnNs = freshNetns(`nl-bench-${tag}-s`);
  execFileSync("ip", ["-n", spawnNs, "-batch", join(dir, "ip-1.batch")]);
  const sample = plan.neighbors.slice(0, spawnSample);
  const t0 = performance.now();
  for (const n of sample) {
    execFileSync("ip", [
      "-n",
      spawnNs,
      "neigh",
      "replace",
      n.ip,
      "lladdr",
      n.lladdr,
      "dev",
      n.dev,
      "nud",
      "permanent",
    ]);
  }
  const spawnPerOpMs = (performance.now() - t0) / sample.length;
  dropNetns(spawnNs);

  const out = {
    peers,
    dual: values.dual,
    objects,
    applyMs: Number(median(results.map((x) => x.applyMs)).toFixed(1)),
    ipBatchMs: Number(median(ipBatch).toFixed(1)),
    reapplyMs: Number(median(results.map((x) => x.reapplyMs)).toFixed(1)),
    reapplyChanges: Math.max(...results.map((x) => x.reapplyChanges)),
  };
  log(
    `re-apply (mitata, ${reapplyStats.samples.length} samples): p50 ${(reapplyStats.p50 / 1e6).toFixed(1)} ms, min ${(reapplyStats.min / 1e6).toFixed(1)} ms, p99 ${(reapplyStats.p99 / 1e6).toFixed(1)} ms`,
  );
  log(
    `one ip process per operation: ${spawnPerOpMs.toFixed(2)} ms/op on ${sample.length} ops → ~${((spawnPerOpMs * objects) / 1000).toFixed(1)} s for ${objects} ops`,
  );
  log(
    `handle open (netns agent start): median ${median(results.map((x) => x.openMs)).toFixed(1)} ms, not in applyMs`,
  );
  if (keep !== null)
    log(
      `kept namespace ${keep}: inspect with  ip -n ${keep} route; bridge -n ${keep} fdb show dev flannel.1`,
    );
  if (values.json) console.log(JSON.stringify(out));
  else console.log(out);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
