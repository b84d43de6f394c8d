#!/usr/bin/env node
// Committed shim: npm links `bin` entries at install time, before dist/ exists on a fresh clone.
import { main } from "../dist/cli.mjs";

await main();
