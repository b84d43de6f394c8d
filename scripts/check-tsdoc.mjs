#!/usr/bin/env node
// Every public export has TSDoc: a description (exports, and the public members of exported
// classes), and an @example on every exported function and class. Walks each package's entry points with the TypeScript compiler API.
// Known gaps are listed in scripts/tsdoc-gaps.txt (a ratchet: a gap not listed there fails, a
// listed gap that was fixed must be removed from the list).
//   node scripts/check-tsdoc.mjs            check
//   node scripts/check-tsdoc.mjs --list     print every gap (to refresh the list by hand)
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";

const root = new URL("..", import.meta.url).pathname;
// Every public entry point: the `source` file of each `exports` entry of each published package.
const ENTRIES = {};
for (const dir of readdirSync(join(root, "packages")).sort()) {
  const pkg = JSON.parse(readFileSync(join(root, "packages", dir, "package.json"), "utf8"));
  if (pkg.private) continue;
  for (const [sub, target] of Object.entries(pkg.exports ?? {})) {
    if (typeof target !== "object" || typeof target.source !== "string") continue;
    const name = sub === "." ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
    ENTRIES[name] = [join("packages", dir, target.source)];
  }
}

const base = ts.parseJsonConfigFileContent(
  ts.readConfigFile(join(root, "tsconfig.base.json"), ts.sys.readFile).config,
  ts.sys,
  root,
);
const files = Object.values(ENTRIES)
  .flat()
  .map((f) => join(root, f));
const program = ts.createProgram(files, { ...base.options, types: ["node"], noEmit: true });
const checker = program.getTypeChecker();

function docOf(decl) {
  const tags = ts.getJSDocTags(decl);
  const comments = ts.getJSDocCommentsAndTags(decl).filter(ts.isJSDoc);
  const text = comments
    .map((c) => ts.getTextOfJSDocComment(c.comment) ?? "")
    .join("")
    .trim();
  return { text, tags: tags.map((t) => t.tagName.text) };
}

const gaps = [];
function need(name, decl, wantExample) {
  const { text, tags } = docOf(decl);
  if (tags.includes("internal")) return;
  const inherit = tags.includes("inheritdoc");
  if (text === "" && !inherit) gaps.push(`${name}: no description`);
  if (wantExample && !inherit && !tags.includes("example")) gaps.push(`${name}: no @example`);
}

for (const [pkg, entries] of Object.entries(ENTRIES)) {
  for (const entry of entries) {
    const sf = program.getSourceFile(join(root, entry));
    const mod = checker.getSymbolAtLocation(sf);
    const sub = pkg;
    for (const exp of checker.getExportsOfModule(mod)) {
      const sym = exp.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exp) : exp;
      const decl = sym.declarations?.[0];
      if (!decl) continue;
      const name = `${sub} ${exp.name}`;
      const isFn = ts.isFunctionDeclaration(decl);
      const isClass = ts.isClassDeclaration(decl);
      const isConstFn =
        ts.isVariableDeclaration(decl) &&
        decl.initializer &&
        (ts.isArrowFunction(decl.initializer) || ts.isFunctionExpression(decl.initializer));
      const isConst = ts.isVariableDeclaration(decl);
      // a variable's JSDoc sits on its statement
      const docDecl = isConst ? decl.parent.parent : decl;
      need(name, docDecl, isFn || isClass || isConstFn);
      if (isClass) {
        for (const m of decl.members) {
          const mods = ts.getCombinedModifierFlags(m);
          if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
          if (m.name && ts.isPrivateIdentifier(m.name)) continue;
          if (
            !m.name ||
            !(ts.isMethodDeclaration(m) || ts.isGetAccessor(m) || ts.isPropertyDeclaration(m))
          )
            continue;
          const mname = m.name.getText(m.getSourceFile());
          if (mname.startsWith("[")) continue; // Symbol.asyncDispose and friends
          need(`${name}.${mname}`, m, false);
        }
      }
    }
  }
}

gaps.sort();
if (process.argv.includes("--list")) {
  console.log(gaps.join("\n"));
  process.exit(0);
}
const known = new Set(
  readFileSync(join(root, "scripts/tsdoc-gaps.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#")),
);
const fresh = gaps.filter((g) => !known.has(g));
const fixed = [...known].filter((g) => !gaps.includes(g));
for (const g of fresh) console.error(`missing TSDoc: ${g}`);
for (const g of fixed) console.error(`fixed, remove from scripts/tsdoc-gaps.txt: ${g}`);
if (fresh.length > 0 || fixed.length > 0) process.exit(1);
console.log(
  `tsdoc: every public export documented (${known.size} known gaps listed in scripts/tsdoc-gaps.txt)`,
);
