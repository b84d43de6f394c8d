#!/usr/bin/env node
// Every option of every package, in that package's README: the "Options" section between
// `<!-- options:start -->` and `<!-- options:end -->` lists each property of each exported
// `…Options` type with its type and its TSDoc, read from the built
// declarations (dist/index.d.mts). `--write` regenerates the sections (npm run docs:api does);
// without it, exits 1 when a section is stale (npm run check:api does).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const root = new URL("..", import.meta.url).pathname;
const PACKAGES = ["core", "etcd", "render", "netlink", "diagnose"];
const START = "<!-- options:start -->";
const END = "<!-- options:end -->";
const write = process.argv.includes("--write");

const cell = (text) => text.replace(/\s+/g, " ").replace(/\|/g, "\\|").trim();

function section(pkg) {
  const dts = join(root, "packages", pkg, "dist/index.d.mts");
  const program = ts.createProgram([dts], { skipLibCheck: true, noEmit: true });
  const checker = program.getTypeChecker();
  const mod = checker.getSymbolAtLocation(program.getSourceFile(dts));
  const lines = [
    "Every option of this package's `…Options` types, from its declarations (`npm run docs:api`",
    "regenerates this list). A property that is absent takes the default its description names.",
    "",
  ];
  const exports = checker
    .getExportsOfModule(mod)
    .filter((e) => /Options$/.test(e.name))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const exp of exports) {
    const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
    const type = checker.getDeclaredTypeOfSymbol(sym);
    const props = checker.getPropertiesOfType(type);
    if (props.length === 0) continue;
    lines.push(`**\`${exp.name}\`**`, "", "| option | type | |", "| --- | --- | --- |");
    for (const p of props) {
      const decl = p.valueDeclaration ?? p.declarations?.[0];
      const optional = (p.flags & ts.SymbolFlags.Optional) !== 0 ? "?" : "";
      const typeText = checker.typeToString(
        checker.getTypeOfSymbolAtLocation(p, decl),
        undefined,
        ts.TypeFormatFlags.NoTruncation,
      );
      const doc =
        ts.displayPartsToString(p.getDocumentationComment(checker)) ||
        (p.name === "signal" ? "Aborts the call: it rejects with `ABORTED`." : "");
      lines.push(`| \`${p.name}${optional}\` | \`${cell(typeText)}\` | ${cell(doc)} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}

let stale = false;
for (const pkg of PACKAGES) {
  const path = join(root, "packages", pkg, "README.md");
  const readme = readFileSync(path, "utf8");
  const body = `${START}\n${section(pkg)}\n${END}`;
  const start = readme.indexOf(START);
  const end = readme.indexOf(END);
  const next =
    start === -1
      ? `${readme.trimEnd()}\n\n## Options\n\n${body}\n`
      : `${readme.slice(0, start)}${body}${readme.slice(end + END.length)}`;
  if (next === readme) continue;
  if (write) {
    writeFileSync(path, next);
    console.log(`updated the options of packages/${pkg}/README.md`);
  } else {
    console.error(`packages/${pkg}/README.md: the Options section is stale`);
    stale = true;
  }
}
if (stale) {
  console.error("Regenerate it with: npm run docs:api");
  process.exit(1);
}
