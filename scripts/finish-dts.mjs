#!/usr/bin/env node
// tsup drops `outExtension` in its d.ts worker, so the ESM declarations come out as `.d.ts`.
// Rename them to `.d.mts` (and point their relative imports at `.mjs`) so each condition of the
// exports map has a declaration file of its own module kind. Run from a package directory.
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

for await (const path of walk("dist")) {
  if (!path.endsWith(".d.ts")) continue;
  const text = await readFile(path, "utf8");
  const fixed = text.replace(/(from\s+['"]\.{1,2}\/[^'"]+?)\.js(['"])/g, "$1.mjs$2");
  await writeFile(path.replace(/\.d\.ts$/, ".d.mts"), fixed);
  await rm(path);
}
