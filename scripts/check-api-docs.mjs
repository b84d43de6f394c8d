#!/usr/bin/env node
// Regenerates the API reference (typedoc, typedoc.json) into a temporary directory and fails
// when docs/api differs from it: the committed reference must match the sources. Then checks the
// READMEs' option lists and docs/findings.md the same way.
//   node scripts/check-api-docs.mjs   (fix a failure with: npm run docs:api)
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const committed = join(root, "docs/api");
const fresh = mkdtempSync(join(tmpdir(), "flannel-sdk-api-"));

function files(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  try {
    walk(dir);
  } catch (e) {
    if (e.code !== "ENOENT") throw e;
  }
  return out.sort();
}

let failed = false;
try {
  execFileSync(join(root, "node_modules/.bin/typedoc"), ["--out", fresh, "--logLevel", "Warn"], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
  });
  const want = files(fresh);
  const have = files(committed);
  for (const f of want.filter((f) => !have.includes(f))) {
    console.error(`docs/api is stale: ${f} is missing`);
    failed = true;
  }
  for (const f of have.filter((f) => !want.includes(f))) {
    console.error(`docs/api is stale: ${f} should not be there`);
    failed = true;
  }
  for (const f of want.filter((f) => have.includes(f))) {
    if (readFileSync(join(fresh, f), "utf8") !== readFileSync(join(committed, f), "utf8")) {
      console.error(`docs/api is stale: ${f} differs`);
      failed = true;
    }
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
if (failed) {
  console.error("Regenerate it with: npm run docs:api");
  process.exit(1);
}
console.log("docs/api matches the sources");
// Every option listed in its package's README (scripts/readme-options.mjs).
execFileSync(process.execPath, [join(root, "scripts/readme-options.mjs")], { stdio: "inherit" });
console.log("every option is in its package's README");
// docs/findings.md generated from the findings catalogue (scripts/findings-doc.mjs).
execFileSync(process.execPath, [join(root, "scripts/findings-doc.mjs")], { stdio: "inherit" });
