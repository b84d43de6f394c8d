import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const here = join(import.meta.dirname, "..");
const lines = (path: string) => readFileSync(path, "utf8").split("\n").length - 1;

describe("the agent stays small (issue: under 400 lines of its own code)", () => {
  const files = readdirSync(join(here, "src"))
    .filter((f) => f.endsWith(".ts"))
    .map((f) => ({ name: `src/${f}`, lines: lines(join(here, "src", f)) }))
    .sort((a, b) => b.lines - a.lines);
  const total = files.reduce((n, f) => n + f.lines, 0);

  it("is under 400 lines", () => {
    expect(total).toBeLessThan(400);
  });

  it("states its line count, file by file, in its README", () => {
    const readme = readFileSync(join(here, "README.md"), "utf8").replace(/\s+/g, " ");
    const perFile = files.map((f) => `\`${f.name}\` ${f.lines}`).join(", ");
    expect(readme).toContain(`the agent's own code is **${total} lines** (${perFile};`);
    expect(readme).toContain(`the ${lines(join(here, "bin/flanneld-ts.js"))}-line`);
  });

  it("imports the SDK only through the packages' public entry points", () => {
    for (const f of files) {
      const text = readFileSync(join(here, f.name), "utf8");
      for (const [, spec] of text.matchAll(/from "([^"]+)"/g)) {
        expect(spec, `${f.name} imports ${spec}`).toMatch(
          /^(node:[a-z_/]+|\.\/[a-z-]+\.js|@flannel-sdk\/(core|etcd|netlink|render|diagnose))$/,
        );
      }
    }
  });
});
