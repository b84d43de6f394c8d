#!/usr/bin/env node
// `npm run demo [-- flags]`: builds what the chosen mode needs, then runs the demo's CLI.
// The default mode needs core and render only; --netns adds netlink and diagnose, --etcd the etcd
// store. Building just those (turbo, cached afterwards) roughly halves a fresh clone's first run.
// The demo's own bundle needs no package built (examples/demo/turbo.json).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const args = process.argv.slice(2);
const needs = ["demo", "core", "render"];
if (args.includes("--netns")) needs.push("netlink", "diagnose");
if (args.some((a) => a === "--etcd" || a.startsWith("--etcd="))) needs.push("etcd");

const turbo = fileURLToPath(new URL("../node_modules/.bin/turbo", import.meta.url));
const build = spawnSync(
  turbo,
  ["run", "build", "--output-logs=errors-only", ...needs.map((p) => `--filter=@flannel-sdk/${p}`)],
  { stdio: ["ignore", process.stderr, "inherit"] },
);
if (build.status !== 0) {
  console.error(build.error?.message ?? `the build failed (exit ${build.status})`);
  process.exit(build.status ?? 1);
}
await import("../examples/demo/dist/cli.mjs");
