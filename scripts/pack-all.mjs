// Packs every publishable package (packages/* and examples/* without `private`) into `out`, the
// way `npm publish` would; shared by check-packages.mjs and check-consumer.mjs.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const root = new URL("..", import.meta.url).pathname;

/**
 * @returns one entry per package: its directory, package.json, tarball path and packed files
 */
export function packAll(out) {
  const dirs = ["packages", "examples"].flatMap((parent) =>
    readdirSync(join(root, parent)).map((dir) => join(root, parent, dir)),
  );
  const packed = [];
  for (const dir of dirs) {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    if (pkg.private) continue;
    const [{ filename, files, size, unpackedSize }] = JSON.parse(
      execFileSync("npm", ["pack", "--json", "--silent", "--pack-destination", out], {
        cwd: dir,
        encoding: "utf8",
      }),
    );
    packed.push({ dir, pkg, tarball: join(out, filename), files, size, unpackedSize });
  }
  return packed;
}
