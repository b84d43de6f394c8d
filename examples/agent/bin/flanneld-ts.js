#!/usr/bin/env -S node --max-semi-space-size=1
// Committed shim: npm links `bin` entries at install time, before dist/ exists on a fresh clone.
// A 1 MiB young generation: a daemon's bursts (a 5,000-lease snapshot) otherwise grow V8's
// semi-spaces to 16 MiB each and the process keeps them (RSS at 5,000 leases: 125 → 81 MB).
import { main } from "../dist/cli.mjs";

process.exitCode = await main(process.argv.slice(2), process.env);
