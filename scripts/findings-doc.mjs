#!/usr/bin/env node
// docs/findings.md: every finding code of @flannel-sdk/diagnose, generated from its catalogue
// (`DIAGNOSE_FINDINGS`, read from the built package, dist/index.mjs). `--write` regenerates the
// page (npm run docs:api does); without it, exits 1 when the page is stale (npm run check:api does).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = new URL("..", import.meta.url).pathname;
const page = join(root, "docs/findings.md");
const write = process.argv.includes("--write");

const { DIAGNOSE_FINDINGS } = await import(
  pathToFileURL(join(root, "packages/diagnose/dist/index.mjs")).href
);
const cell = (text) => text.replace(/\s+/g, " ").replace(/\|/g, "\\|").trim();

const lines = [
  "# Findings",
  "",
  "<!-- Generated from @flannel-sdk/diagnose's DIAGNOSE_FINDINGS by scripts/findings-doc.mjs",
  "     (npm run docs:api); do not edit by hand. -->",
  "",
  "Every finding `diagnose` (and `flanneld-ts diagnose`) can report, by check, in the order the",
  "checks run. A code is a contract: tools may match on it. Each finding the node gets names its",
  "own subject, what was expected, what was found, and the exact fix (a command where one fixes",
  "it); the fix below is the usual one. `error`: breaks traffic or will soon; `warning`: may.",
  "",
];
const byCheck = new Map();
for (const [code, kind] of Object.entries(DIAGNOSE_FINDINGS)) {
  if (!byCheck.has(kind.check)) byCheck.set(kind.check, []);
  byCheck.get(kind.check).push([code, kind]);
}
for (const [check, kinds] of byCheck) {
  lines.push(
    `## \`${check}\``,
    "",
    "| code | severity | what it means | usual fix |",
    "| --- | --- | --- | --- |",
  );
  for (const [code, k] of kinds) {
    const severity = k.escalates === null ? k.severity : `${k.severity} (${k.escalates})`;
    lines.push(`| \`${code}\` | ${cell(severity)} | ${cell(k.meaning)} | ${cell(k.fix)} |`);
  }
  lines.push("");
}
const text = lines.join("\n");

let current = "";
try {
  current = readFileSync(page, "utf8");
} catch (e) {
  if (e.code !== "ENOENT") throw e;
}
if (current === text) {
  console.log("docs/findings.md matches DIAGNOSE_FINDINGS");
} else if (write) {
  writeFileSync(page, text);
  console.log("updated docs/findings.md");
} else {
  console.error("docs/findings.md is stale: regenerate it with npm run docs:api");
  process.exit(1);
}
