#!/usr/bin/env node
// Packs every publishable package and checks the tarball the way a consumer would meet it:
// publint (package.json / exports correctness) and are-the-types-wrong (types per condition).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "flannel-sdk-pack-"));
const bin = (name) => join(root, "node_modules", ".bin", name);
let failed = false;
try {
  for (const dir of readdirSync(join(root, "packages"))) {
    const pkgDir = join(root, "packages", dir);
    const pkg = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    if (pkg.private) continue;
    const [{ filename }] = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--pack-destination", out], {
        cwd: pkgDir,
        encoding: "utf8",
      }),
    );
    const tarball = join(out, filename);
    for (const [tool, args] of [
      ["publint", [tarball, "--strict"]],
      // engines.node >= 20.19: node10 resolution (no subpath exports) is not a target.
      ["attw", [tarball, "--format", "ascii", "--profile", "node16"]],
    ]) {
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
