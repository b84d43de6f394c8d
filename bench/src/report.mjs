// Turns mitata's results into the Markdown table recorded in docs/benchmarks.md.
import os from "node:os";

const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(1)} ns`);
const ratio = (x) => `${x >= 10 ? x.toFixed(0) : x.toFixed(1)}×`;

/** One row per operation: ns/op per library (a Map by "op | lib"), our speed-up over ip-address and over the fastest peer. */
export function table(ops, ns) {
  const libs = ["@flannel-sdk/core", "ip-address", "ipaddr.js", "cidr-tools", "netmask"];
  const lines = [
    `Node ${process.version}, ${os.cpus()[0]?.model ?? "?"} × ${os.cpus().length}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
    "",
    `| operation | ${libs.join(" | ")} | vs ip-address | vs fastest peer |`,
    `| --- | ${libs.map(() => "---:").join(" | ")} | ---: | ---: |`,
  ];
  for (const { op } of ops) {
    const ours = ns.get(`${op} | @flannel-sdk/core`);
    const cells = libs.map((lib) => {
      const v = ns.get(`${op} | ${lib}`);
      return v === undefined ? "—" : fmt(v);
    });
    const peers = libs
      .slice(1)
      .map((lib) => [lib, ns.get(`${op} | ${lib}`)])
      .filter(([, v]) => v !== undefined);
    const ipAddress = ns.get(`${op} | ip-address`);
    const [fastLib, fastNs] = peers.reduce((best, p) => (p[1] < best[1] ? p : best));
    lines.push(
      `| ${op} | ${cells.join(" | ")} | ${ipAddress ? ratio(ipAddress / ours) : "—"} | ${ratio(fastNs / ours)} (${fastLib}) |`,
    );
  }
  return lines.join("\n");
}
