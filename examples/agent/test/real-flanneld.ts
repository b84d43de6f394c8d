/**
 * Real flanneld for the interop tier: `flanneld-v0.20.2.xz` from flannel's own tagged source, in
 * `../shared/flannel` beside the checkout (CI), a parent's `shared/flannel`, or `$FLANNEL_SHARED`.
 * Unpacked once per process into a temp dir this module removes on exit.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { ROOT } from "./cluster.js";

/** The directory holding flannel's binaries and scripts, or `null`. */
export function sharedFlannelDir(): string | null {
  const candidates = [process.env.FLANNEL_SHARED ?? ""];
  for (let d = ROOT; dirname(d) !== d; d = dirname(d))
    candidates.push(join(dirname(d), "shared/flannel"));
  return candidates.find((d) => d !== "" && existsSync(join(d, "flanneld-v0.20.2.xz"))) ?? null;
}

/** Why real flanneld v0.20.2 cannot run here, or `null`. */
export function realFlanneldMissing(): string | null {
  if (sharedFlannelDir() === null) {
    return "flanneld-v0.20.2.xz not found in ../shared/flannel (or $FLANNEL_SHARED): put flannel's binaries beside the checkout";
  }
  if (spawnSync("sh", ["-c", "command -v xz"]).status !== 0)
    return "xz not found: apt-get install -y xz-utils";
  return null;
}

let unpacked: string | null = null;

/** The path of an unpacked, executable flanneld v0.20.2. */
export function realFlanneld(): string {
  if (unpacked !== null) return unpacked;
  const dir = mkdtempSync(join(tmpdir(), "flannel-real-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "flanneld");
  const xz = spawnSync("xz", ["-dc", join(sharedFlannelDir()!, "flanneld-v0.20.2.xz")], {
    maxBuffer: 1 << 30,
  });
  if (xz.status !== 0) throw new Error(`xz -dc failed: ${xz.stderr}`);
  writeFileSync(bin, xz.stdout);
  chmodSync(bin, 0o755);
  unpacked = bin;
  return bin;
}
