import { readFileSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const pkgDir = new URL("../", import.meta.url);
const pkg = JSON.parse(readFileSync(new URL("package.json", pkgDir), "utf8"));

describe("the mk-docker-opts bin", () => {
  it("points at a committed, executable shim (npm links bins before dist/ exists)", () => {
    expect(pkg.bin).toEqual({ "mk-docker-opts": "./bin/mk-docker-opts.js" });
    expect(pkg.files).toContain("bin");
    const shim = fileURLToPath(new URL(pkg.bin["mk-docker-opts"], pkgDir));
    expect(statSync(shim).mode & 0o755).toBe(0o755);
    const text = readFileSync(shim, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(text).toContain('from "../dist/cli.mjs"');
  });

  it("is recorded in the lock file, which is what `npm ci` links from", () => {
    const lock = JSON.parse(readFileSync(new URL("../../package-lock.json", pkgDir), "utf8"));
    expect(lock.packages["packages/render"].bin).toEqual({
      "mk-docker-opts": "bin/mk-docker-opts.js",
    });
  });
});
