#!/usr/bin/env node
// npm `prepack` of every published package: the tarball carries the repository's LICENSE (npm
// takes LICENSE from the package directory only; the copy is git-ignored, the root one is the
// source).
import { copyFileSync } from "node:fs";
import { join } from "node:path";

copyFileSync(new URL("../LICENSE", import.meta.url), join(process.cwd(), "LICENSE"));
