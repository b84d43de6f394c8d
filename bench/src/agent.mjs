#!/usr/bin/env node
// Head-to-head: flanneld-ts against real flanneld (v0.20.2 on etcd v3, v0.11.0 on etcd v2) on
// the same node (a network namespace), the same etcd, the same flags (`-ip-masq`, vxlan), with N
// fake leases of other nodes already in etcd. The implementations alternate run by run (the
// starting one alternates too), so both see the same load; each measure is reported as
// min / median / max over the runs and the ratio of the medians (flanneld-ts / real).
//
//   npm run bench:agent -- [--cells v3:0,v3:1000,v3:5000,v2:1000,v2:5000] [--runs 3]
//                          [--settle 30] [--reactions 5] [--json] [--log-dir DIR]
//                          [--impls real,ts]
//
// Measures, per run:
//   start → subnet.env      spawn until the subnet file appears (inotify on its directory)
//   start → all N routes    spawn until flannel.1 carries a route for every fake lease (polled)
//   one new lease → route   a lease written to etcd until `ip monitor route` shows its route
//                           (median of --reactions leases, written 0.5 s apart after --settle)
//   RSS, CPU                VmRSS and utime+stime (+ waited-for children: iptables) at
//                           start + --settle seconds; the RSS also split into anonymous
//                           memory (RssAnon) and the binary's and libraries' file pages
//                           (RssFile, shared by every process of that binary), and the peak
//                           RSS so far (VmHWM)
// Needs root, etcd (Debian etcd-server), iproute2, iptables, xz, and ../shared/flannel.
// Results: docs/benchmarks.md, "flanneld-ts against real flanneld".
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { missingCommands, RealFlannel, realFlannelMissing } from "@flannel-sdk/testkit";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TS_BIN = join(ROOT, "node_modules/.bin/flanneld-ts");
const CHILD = fileURLToPath(new URL("./agent-etcd-child.mjs", import.meta.url));
const PREFIX = "/bench/network";
const NETWORK = { text: "10.128.0.0/9", first: 128 };
const CLK_TCK = 100;

const { values } = parseArgs({
  options: {
    cells: { type: "string", default: "v3:0,v3:1000,v3:5000,v2:1000,v2:5000" },
    runs: { type: "string", default: "3" },
    settle: { type: "string", default: "30" },
    reactions: { type: "string", default: "5" },
    impls: { type: "string", default: "real,ts" },
    json: { type: "boolean", default: false },
    "log-dir": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
const USAGE = `usage: npm run bench:agent -- [--cells v3:0,v3:1000,v3:5000,v2:1000,v2:5000]
         [--runs 3] [--settle SECONDS (30)] [--reactions 5] [--json] [--log-dir DIR]
         [--impls real,ts]   (one of them alone: no ratio, for quick looks at one side)
`;
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const cells = values.cells.split(",").map((c) => {
  const [api, n] = c.split(":");
  return { api, n: Number(n) };
});
const runs = Number(values.runs);
const settleMs = Number(values.settle) * 1000;
const reactions = Number(values.reactions);
const impls = values.impls.split(",");
if (
  impls.some((i) => !["real", "ts"].includes(i)) ||
  cells.some((c) => !["v2", "v3"].includes(c.api) || !(c.n >= 0 && c.n <= 30000)) ||
  !(runs >= 1) ||
  !(settleMs >= 1000) ||
  !(reactions >= 0)
) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const log = values.json ? (...a) => console.error(...a) : (...a) => console.log(...a);

function missing() {
  if (process.getuid?.() !== 0) return "needs root (network namespaces)";
  const command = missingCommands([
    ["etcd", "etcd-server"],
    ["ip", "iproute2"],
    ["iptables", "iptables"],
  ]);
  if (command !== null) return command;
  const flannel = realFlannelMissing();
  if (flannel !== null) return flannel;
  if (!existsSync(TS_BIN)) return `${TS_BIN} missing: npm ci && npx turbo run build`;
  return null;
}
const why = missing();
if (why) {
  console.error(`bench:agent: ${why}`);
  process.exit(1);
}

const tag = randomBytes(3).toString("hex");
const work = mkdtempSync(join(tmpdir(), `bench-agent-${tag}-`));
const namespaces = new Set();
const children = new Set();
function cleanup() {
  for (const c of children) c.kill("SIGKILL");
  for (const ns of namespaces) spawnSync("ip", ["netns", "del", ns]);
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(130));

const sh = (cmd, args) =>
  execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
const ip = (...args) => sh("ip", args);
const now = () => process.hrtime.bigint();
const ms = (from, to = now()) => Number(to - from) / 1e6;
const wait = (t) => new Promise((r) => setTimeout(r, t));

const bins = new RealFlannel();
process.on("exit", () => bins.close());
const real = { "v0.11.0": bins.flanneld("v0.11.0"), "v0.20.2": bins.flanneld("v0.20.2") };

function spawnIn(ns, argv, logFile) {
  const out = logFile ? ["ignore", "pipe", "pipe"] : ["pipe", "pipe", "inherit"];
  const c = spawn("ip", ["netns", "exec", ns, ...argv], { stdio: out });
  children.add(c);
  c.once("exit", () => children.delete(c));
  return c;
}

/** The etcd namespace: a bridge the node's veth joins, etcd on it and on its loopback. */
async function startEtcdNs(api) {
  const ns = `ba${tag}e${api}`;
  ip("netns", "add", ns);
  namespaces.add(ns);
  ip("-n", ns, "link", "set", "lo", "up");
  ip("-n", ns, "link", "add", "br0", "type", "bridge");
  ip("-n", ns, "addr", "add", "10.251.0.1/16", "dev", "br0");
  ip("-n", ns, "link", "set", "br0", "up");
  const data = join(work, `etcd-${api}`);
  const etcd = spawnIn(
    ns,
    [
      "etcd",
      "--name=b",
      `--data-dir=${data}`,
      "--listen-client-urls=http://127.0.0.1:2379,http://10.251.0.1:2379",
      "--advertise-client-urls=http://10.251.0.1:2379",
      "--listen-peer-urls=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls=http://127.0.0.1:2380",
      "--initial-cluster=b=http://127.0.0.1:2380",
      "--quota-backend-bytes=4294967296",
      ...(api === "v2" ? ["--enable-v2=true"] : []),
    ],
    true,
  );
  etcd.stdout.resume();
  etcd.stderr.resume();
  const child = spawnIn(ns, [process.execPath, CHILD]);
  const answers = new Map();
  let seq = 0;
  createInterface({ input: child.stdout }).on("line", (line) => {
    const a = JSON.parse(line);
    answers.get(a.id)?.(a);
    answers.delete(a.id);
  });
  const call = (cmd) =>
    new Promise((resolve, reject) => {
      const id = ++seq;
      answers.set(id, (a) => (a.error ? reject(new Error(a.error)) : resolve(BigInt(a.at))));
      child.stdin.write(`${JSON.stringify({ ...cmd, api, id })}\n`);
    });
  await call({ op: "health" });
  return {
    ns,
    call,
    close: async () => {
      child.kill();
      etcd.kill();
      await wait(200);
      spawnSync("ip", ["netns", "del", ns]);
      namespaces.delete(ns);
    },
  };
}

const hex = (n) => n.toString(16).padStart(2, "0");
function fake(idx, v2) {
  const subnet = `10.${NETWORK.first + (idx >> 8)}.${idx & 255}.0`;
  const publicIP = `10.251.${1 + (idx >> 8)}.${idx & 255}`;
  const attrs = {
    PublicIP: publicIP,
    ...(v2 ? {} : { PublicIPv6: null }),
    BackendType: "vxlan",
    BackendData: {
      VNI: 1,
      VtepMAC: `0a:58:00:${hex((idx >> 16) & 255)}:${hex((idx >> 8) & 255)}:${hex(idx & 255)}`,
    },
  };
  return {
    subnet,
    key: `${PREFIX}/subnets/${subnet}-24`,
    value: JSON.stringify(attrs),
    ttl: 86400,
  };
}

const CONFIG = JSON.stringify({ Network: NETWORK.text, SubnetLen: 24, Backend: { Type: "vxlan" } });

async function populate(etcd, n, v2) {
  await etcd.call({ op: "delPrefix", prefix: `${PREFIX}/` });
  await etcd.call({ op: "put", key: `${PREFIX}/config`, value: CONFIG });
  const items = Array.from({ length: n }, (_, i) => fake(i + 1, v2));
  for (let i = 0; i < items.length; i += 1000) {
    await etcd.call({ op: "puts", items: items.slice(i, i + 1000) });
  }
}

function makeNode(etcd, run) {
  const ns = `ba${tag}n${run}`;
  ip("netns", "add", ns);
  namespaces.add(ns);
  ip("-n", ns, "link", "set", "lo", "up");
  ip("-n", etcd.ns, "link", "add", `v${run}`, "type", "veth", "peer", "name", "eth0", "netns", ns);
  ip("-n", etcd.ns, "link", "set", `v${run}`, "master", "br0", "up");
  ip("-n", ns, "addr", "add", "10.251.0.2/16", "dev", "eth0");
  ip("-n", ns, "link", "set", "eth0", "up");
  return ns;
}

function countRoutes(ns) {
  const r = spawnSync("ip", ["-n", ns, "-o", "-4", "route", "show", "dev", "flannel.1"], {
    encoding: "utf8",
  });
  if (r.status !== 0) return 0;
  let n = 0;
  for (let i = r.stdout.indexOf("\n"); i !== -1; i = r.stdout.indexOf("\n", i + 1)) n++;
  return n;
}

function procTimes(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields 14..17 of proc(5): utime stime cutime cstime, counted from field 3 here
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  // RssAnon is the process's own memory (heaps, stacks); RssFile is the executable's and
  // libraries' pages it touched, which every process of that binary shares.
  return {
    cpuS: ticks / CLK_TCK,
    rssMB: kb("VmRSS") / 1024,
    rssPeakMB: kb("VmHWM") / 1024,
    rssAnonMB: kb("RssAnon") / 1024,
    rssFileMB: kb("RssFile") / 1024,
  };
}

function waitFile(file, timeoutMs) {
  return new Promise((resolve, reject) => {
    const dir = dirname(file);
    const w = watch(dir);
    const t = setTimeout(() => done(new Error(`no ${file} after ${timeoutMs} ms`)), timeoutMs);
    const done = (e) => {
      clearTimeout(t);
      w.close();
      e ? reject(e) : resolve(now());
    };
    w.on("change", () => existsSync(file) && done());
    if (existsSync(file)) done();
  });
}

async function until(what, check, timeoutMs, everyMs) {
  const start = now();
  for (;;) {
    if (check()) return now();
    if (ms(start) > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await wait(everyMs);
  }
}

/** One run of one implementation: spawn, the measures, SIGTERM. */
async function runOnce(impl, cell, etcd, run) {
  const v2 = cell.api === "v2";
  await populate(etcd, cell.n, v2);
  const ns = makeNode(etcd, run);
  const dir = join(work, `run-${run}`);
  mkdirSync(dir, { recursive: true });
  const subnetFile = join(dir, "subnet.env");
  const flags = [
    "-etcd-endpoints=http://10.251.0.1:2379",
    `-etcd-prefix=${PREFIX}`,
    "-iface=eth0",
    "-ip-masq",
    `-subnet-file=${subnetFile}`,
  ];
  const argv =
    impl === "real"
      ? [real[v2 ? "v0.11.0" : "v0.20.2"], ...flags]
      : [TS_BIN, ...flags, ...(v2 ? ["-etcd-api=v2"] : [])];
  const envReady = waitFile(subnetFile, 120_000);
  const t0 = now();
  const p = spawnIn(ns, argv, true);
  let stderr = "";
  p.stderr.on("data", (d) => {
    stderr += d;
    if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 19));
  });
  p.stdout.resume();
  let exit = null;
  const exited = new Promise((resolve) =>
    p.once("exit", (code, sig) => {
      exit = { code, sig };
      resolve(exit);
    }),
  );
  const r = { impl, api: cell.api, n: cell.n };
  try {
    r.startEnvMs = ms(
      t0,
      await Promise.race([
        envReady,
        exited.then(() => {
          throw new Error(`exited ${JSON.stringify(exit)}`);
        }),
      ]),
    );
    if (cell.n > 0) {
      r.startRoutesMs = ms(
        t0,
        await until("all routes", () => countRoutes(ns) >= cell.n, 180_000, 20 + cell.n / 100),
      );
    }
    const left = settleMs - ms(t0);
    if (left > 0) await wait(left);
    if (exit) throw new Error(`exited ${JSON.stringify(exit)}`);
    Object.assign(r, procTimes(p.pid));
    const own = /FLANNEL_SUBNET=(\S+)/.exec(readFileSync(subnetFile, "utf8"))?.[1] ?? "";
    const times = [];
    let missed = 0;
    if (reactions > 0) {
      const mon = spawn("ip", ["-n", ns, "monitor", "route"], {
        stdio: ["ignore", "pipe", "ignore"],
      });
      children.add(mon);
      const seen = new Map();
      createInterface({ input: mon.stdout }).on("line", (line) => {
        const dst = line.split(" ")[0];
        if (line.includes("dev flannel.1") && !line.startsWith("Deleted") && !seen.has(dst))
          seen.set(dst, now());
      });
      await wait(200);
      for (let k = 0, idx = 20000; k < reactions; idx++) {
        const l = fake(idx, v2);
        if (own.startsWith(l.subnet.slice(0, -1))) continue;
        k++;
        const sent = now();
        await etcd.call({ op: "put", ...l });
        const dst = `${l.subnet}/24`;
        try {
          await until(`route ${dst}`, () => seen.has(dst), 5_000, 2);
          times.push(ms(sent, seen.get(dst)));
        } catch {
          missed++;
        }
        await wait(500);
      }
      mon.kill();
      r.reactEachMs = times.map((t) => Math.round(t * 100) / 100); // in the order written
      times.sort((a, b) => a - b);
      r.reactMs = times.length ? times[times.length >> 1] : null;
      r.reactMissed = missed;
    }
  } finally {
    p.kill("SIGTERM");
    const killer = setTimeout(() => p.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(killer);
    r.exit = exit.sig ?? exit.code;
    r.panicked = /panic:/.test(stderr);
    if (values["log-dir"]) {
      mkdirSync(values["log-dir"], { recursive: true });
      writeFileSync(join(values["log-dir"], `${cell.api}-${cell.n}-${impl}-${run}.log`), stderr);
    }
    spawnSync("ip", ["netns", "del", ns]);
    namespaces.delete(ns);
  }
  return r;
}

const stats = (xs) => {
  const v = xs.filter((x) => typeof x === "number").sort((a, b) => a - b);
  if (!v.length) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { min: v[0], median, max: v[v.length - 1] };
};
const MEASURES = [
  ["startEnvMs", "start → subnet.env (ms)"],
  ["startRoutesMs", "start → all N routes (ms)"],
  ["reactMs", "one new lease → route (ms)"],
  ["rssMB", "RSS after settle (MB)"],
  ["rssPeakMB", "peak RSS (MB)"],
  ["rssAnonMB", "of it anonymous (MB)"],
  ["rssFileMB", "of it file pages (MB)"],
  ["cpuS", "CPU in settle window (s)"],
];

const results = [];
let runNo = 0;
for (const cell of cells) {
  log(`cell ${cell.api} N=${cell.n}: starting etcd`);
  const etcd = await startEtcdNs(cell.api);
  try {
    const rows = [];
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0 ? ["real", "ts"] : ["ts", "real"];
      for (const impl of order.filter((i) => impls.includes(i))) {
        const row = await runOnce(impl, cell, etcd, runNo++);
        log(`  run ${r + 1}/${runs} ${impl}: ${JSON.stringify(row)}`);
        rows.push(row);
      }
    }
    const summary = { api: cell.api, n: cell.n, runs: rows, measures: {} };
    for (const [key] of MEASURES) {
      const t = stats(rows.filter((x) => x.impl === "ts").map((x) => x[key]));
      const re = stats(rows.filter((x) => x.impl === "real").map((x) => x[key]));
      summary.measures[key] = { ts: t, real: re, ratio: t && re ? t.median / re.median : null };
    }
    summary.missed = {
      ts: rows.filter((x) => x.impl === "ts").reduce((a, x) => a + (x.reactMissed ?? 0), 0),
      real: rows.filter((x) => x.impl === "real").reduce((a, x) => a + (x.reactMissed ?? 0), 0),
    };
    summary.panicked = {
      ts: rows.filter((x) => x.impl === "ts" && x.panicked).length,
      real: rows.filter((x) => x.impl === "real" && x.panicked).length,
    };
    results.push(summary);
  } finally {
    await etcd.close();
  }
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} else {
  const f = (s) =>
    s
      ? `${s.median.toFixed(s.median < 10 ? 2 : 0)} (${s.min.toFixed(s.min < 10 ? 2 : 0)}–${s.max.toFixed(s.max < 10 ? 2 : 0)})`
      : "—";
  console.log(`\n| measure | ${results.map((r) => `${r.api}, N=${r.n}`).join(" | ")} |`);
  console.log(`| --- |${results.map(() => " --- |").join("")}`);
  for (const [key, label] of MEASURES) {
    const cellsText = results.map((r) => {
      const m = r.measures[key];
      if (!m.ts && !m.real) return "—";
      return `${m.ratio ? `**${m.ratio.toFixed(2)}×**` : "—"} (ts ${f(m.ts)} vs real ${f(m.real)})`;
    });
    console.log(`| ${label} | ${cellsText.join(" | ")} |`);
  }
  console.log(
    `| reactions missed (ts / real) | ${results.map((r) => `${r.missed.ts} / ${r.missed.real}`).join(" | ")} |`,
  );
  console.log(
    `| runs that panicked on SIGTERM (ts / real) | ${results.map((r) => `${r.panicked.ts} / ${r.panicked.real}`).join(" | ")} |`,
  );
}
