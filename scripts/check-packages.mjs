#!/usr/bin/env node
// Packs every publishable package and checks the tarball the way a consumer would meet it:
// publint (package.json / exports correctness), are-the-types-wrong (types per condition), and
// what the npm page needs: LICENSE, `repository`, README links that resolve there (absolute, or
// to a file in the tarball), no source maps (docs/decisions.md, "Tarballs").
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { packAll, root } from "./pack-all.mjs";

const out = mkdtempSync(join(tmpdir(), "flannel-sdk-pack-"));
const bin = (name) => join(root, "node_modules", ".bin", name);
let failed = false;
try {
  for (const { dir: pkgDir, pkg, tarball, files } of packAll(out)) {
    const shipped = new Set(files.map((f) => f.path));
    const problems = [];
    if (!shipped.has("LICENSE")) problems.push("no LICENSE");
    if (!pkg.repository?.url || !pkg.repository?.directory) problems.push("no repository");
    for (const f of shipped) if (f.endsWith(".map")) problems.push(`ships a source map: ${f}`);
    const readme = readFileSync(join(pkgDir, "README.md"), "utf8");
    for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^([a-z]+:|#)/.test(target)) continue;
      const path = normalize(target.split("#")[0]);
      if (!shipped.has(path) && ![...shipped].some((f) => f.startsWith(`${path}/`))) {
        problems.push(`README links to ${target}, which the tarball does not have`);
      }
    }
    for (const p of problems) console.error(`FAILED ${pkg.name}: ${p}`);
    if (problems.length > 0) failed = true;
    else console.log(`ok ${pkg.name}: LICENSE, repository, README links, no source maps`);
    const checks = [["publint", [tarball, "--strict"]]];
    // engines.node >= 20.19: node10 resolution (no subpath exports) is not a target. A package
    // that is only a bin (@flannel-sdk/agent) has no types to check.
    if (pkg.exports) checks.push(["attw", [tarball, "--format", "ascii", "--profile", "node16"]]);
    for (const [tool, args] of checks) {
      try {
        execFileSync(bin(tool), args, { stdio: "inherit" });
        console.log(`ok ${pkg.name}: ${tool}`);
      } catch {
        console.error(`FAILED ${pkg.name}: ${tool}`);
        failed = true;
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
