// `npm run bench` in this workspace: runs every `bench:<name>` script of this package.json in
// turn, each in a fresh process (so one benchmark's JIT and heap state cannot colour the next).
// `npm run bench -- cidr allocator` runs only the named ones.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const { scripts } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const wanted = process.argv.slice(2);
const names = Object.keys(scripts)
  .filter((s) => s.startsWith("bench:"))
  .filter((s) => wanted.length === 0 || wanted.includes(s.slice("bench:".length)));
let failed = 0;
for (const name of names) {
  console.log(`\n## npm run ${name}\n`);
  const result = spawnSync("npm", ["run", "--silent", name], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
