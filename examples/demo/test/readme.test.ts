/**
 * README examples are code: every ```ts block of README.md, packages/*\/README.md and the
 * docs pages (docs/guide.md, docs/architecture.md) is
 * typechecked (strict, as an ES module with top-level await, against the packages' sources),
 * and the blocks marked to run are run. A block is marked by an HTML comment right before it:
 *
 *   <!-- readme-test: run -->          run it (pure: no root, no etcd)
 *   <!-- readme-test: run kernel -->   run it when the kernel tier can (root, Linux), else skip loudly
 *
 * (`fragment`, `daemon` and `exit N` marks are scripts/doc-blocks.mjs's: `npm run check:consumer`
 * runs every block on a throwaway node; here those blocks are typechecked only.)
 *
 * Names a block takes from the surrounding text are declared in readme/globals.d.ts.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { tierGate } from "@flannel-sdk/testkit";
import ts from "typescript";
import { afterAll, describe, expect, it } from "vitest";
import { netnsMissing } from "../src/index.js";

const root = resolve(import.meta.dirname, "../../..");
const here = resolve(import.meta.dirname, "..");
const work = join(here, ".readme-blocks");

interface Block {
  readonly readme: string;
  /** 1-based line of the first code line in the README. */
  readonly line: number;
  readonly code: string;
  readonly run: null | "pure" | "kernel";
  readonly file: string;
}

function readmes(): string[] {
  const out = ["README.md", "docs/guide.md", "docs/architecture.md"];
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    try {
      readFileSync(join(root, "packages", dir, "README.md"));
      out.push(`packages/${dir}/README.md`);
    } catch {}
  }
  return out;
}

function extract(): Block[] {
  const blocks: Block[] = [];
  for (const readme of readmes()) {
    const lines = readFileSync(join(root, readme), "utf8").split("\n");
    for (let i = 0; i < lines.length; i++) {
      if (lines[i]!.trim() !== "```ts") continue;
      let j = i + 1;
      while (j < lines.length && lines[j]!.trim() !== "```") j++;
      let k = i - 1;
      while (k >= 0 && lines[k]!.trim() === "") k--;
      const directive = /^<!--\s*readme-test:\s*(.*?)\s*-->$/.exec(lines[k]?.trim() ?? "")?.[1];
      const run = directive === "run" ? "pure" : directive === "run kernel" ? "kernel" : null;
      // scripts/doc-blocks.mjs's marks (`npm run check:consumer` runs those blocks on a node of its own)
      const checkMark = /^(fragment|daemon|exit \d+)\b/.test(directive ?? "");
      if (directive !== undefined && run === null && !checkMark)
        throw new Error(`${readme}:${k + 1}: unknown directive ${directive}`);
      const name = `${readme.replace(/[/.]/g, "_")}_L${i + 2}.ts`;
      blocks.push({
        readme,
        line: i + 2,
        code: lines.slice(i + 1, j).join("\n"),
        run,
        file: join(work, name),
      });
      i = j;
    }
  }
  return blocks;
}

const blocks = extract();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
for (const b of blocks) {
  // `export {}` keeps every block a module (top-level await, its own scope)
  writeFileSync(b.file, `${b.code}\nexport {};\n`);
}
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("README examples", () => {
  it("finds the blocks", () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    expect(blocks.some((b) => b.readme === "README.md" && b.run === "pure")).toBe(true);
    for (const doc of [
      "docs/guide.md",
      "packages/diagnose/README.md",
      "packages/netlink/README.md",
    ]) {
      expect(
        blocks.some((b) => b.readme === doc),
        doc,
      ).toBe(true);
    }
  });

  it("every ```ts block typechecks", () => {
    const base = ts.parseJsonConfigFileContent(
      ts.readConfigFile(join(root, "tsconfig.base.json"), ts.sys.readFile).config,
      ts.sys,
      root,
    );
    const program = ts.createProgram(
      [...blocks.map((b) => b.file), join(here, "readme/globals.d.ts")],
      {
        ...base.options,
        types: ["node"],
        noEmit: true,
        declaration: false,
        sourceMap: false,
      },
    );
    const problems: string[] = [];
    for (const b of blocks) {
      const sf = program.getSourceFile(b.file)!;
      for (const d of [
        ...program.getSyntacticDiagnostics(sf),
        ...program.getSemanticDiagnostics(sf),
      ]) {
        const { line } = sf.getLineAndCharacterOfPosition(d.start ?? 0);
        problems.push(
          `${b.readme}:${b.line + line}: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`,
        );
      }
    }
    expect(problems).toEqual([]);
  }, 180_000);

  const kernel = blocks.some((b) => b.run === "kernel")
    ? tierGate("kernel", netnsMissing())
    : false;
  for (const b of blocks.filter((x) => x.run !== null)) {
    it.runIf(b.run === "pure" || kernel)(`${b.readme}:${b.line} runs`, async () => {
      const logged: unknown[] = [];
      const log = console.log;
      console.log = (...args: unknown[]) => logged.push(args);
      try {
        await import(b.file);
      } finally {
        console.log = log;
      }
    });
  }
});
