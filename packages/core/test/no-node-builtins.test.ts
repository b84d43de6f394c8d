/**
 * core must run in a browser or an edge runtime: no module under src/ may import a Node
 * built-in. tsconfig.json already leaves Node's types out of src/; this catches what types do
 * not (a dynamic import, a require, an `any`-typed import).
 */
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..", "src");

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(c|m)?tsx?$/.test(entry.name)) out.push(path);
  }
  return out;
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, m.split("/")[0]!]));

/** True for `node:x`, `fs`, `fs/promises`, `child_process`… */
function isBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || BUILTINS.has(specifier);
}

// Static imports and re-exports (`from "x"`, also across lines), side-effect imports
// (`import "x"`), dynamic imports and requires.
const SPECIFIERS = [
  /\bfrom\s*["']([^"']+)["']/g,
  /\bimport\s*["']([^"']+)["']/g,
  /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
];

/** The module specifiers a file names, with comments blanked so TSDoc examples do not count. */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, " ").replace(/(^|[^:"'`\\])\/\/.*$/gm, "$1");
  return SPECIFIERS.flatMap((re) => [...code.matchAll(re)].map((m) => m[1]!));
}

describe("@flannel-sdk/core imports no Node built-in", () => {
  const files = sourceFiles(SRC);

  it("finds the sources", () => {
    expect(files.length).toBeGreaterThan(20);
    expect(files.some((f) => f.endsWith(join("src", "index.ts")))).toBe(true);
  });

  it("recognises the forms it must catch", () => {
    const sample = [
      'import { readFileSync } from "node:fs";',
      "import {\n  spawn,\n} from 'child_process';",
      'import "fs";',
      'const m = await import("node:os");',
      'const p = require("path");',
      'export { x } from "worker_threads";',
    ].join("\n");
    expect(specifiers(sample).filter(isBuiltin)).toEqual([
      "node:fs",
      "child_process",
      "worker_threads",
      "fs",
      "node:os",
      "path",
    ]);
    expect(specifiers('// import "node:fs"\n/** import("fs") */').filter(isBuiltin)).toEqual([]);
  });

  it("has none in src/", () => {
    const offenders = files.flatMap((file) =>
      specifiers(readFileSync(file, "utf8"))
        .filter(isBuiltin)
        .map((s) => `${relative(SRC, file)}: ${s}`),
    );
    expect(offenders).toEqual([]);
  });
});

/** Every module `entry` reaches through relative imports (type-only imports included). */
function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const specs = specifiers(readFileSync(file, "utf8"));
    seen.set(file, specs);
    for (const s of specs) {
      if (s.startsWith(".")) visit(resolve(dirname(file), s).replace(/\.js$/, ".ts"));
    }
  };
  visit(entry);
  return seen;
}

describe("the root entry stays light", () => {
  it("does not load zod (it lives in @flannel-sdk/core/schema)", () => {
    const offenders = [...reachable(join(SRC, "index.ts"))].flatMap(([file, specs]) =>
      specs.filter((s) => s === "zod" || s.startsWith("zod/")).map(() => relative(SRC, file)),
    );
    expect(offenders).toEqual([]);
    const schema = [...reachable(join(SRC, "schema", "index.ts")).values()].flat();
    expect(schema).toContain("zod");
  });
});
