/**
 * Real flanneld for the interop tiers: the binaries of `../shared/flannel` (beside the
 * repository, as CI lays it out), unpacked with `xz -dc` into a temp dir of the run and checked
 * against their sha256.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { missingCommand } from "./commands.js";

/** The repository's root directory. */
export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** `../shared/flannel` relative to the repository root. */
export const FLANNEL_DIR = join(REPO_ROOT, "../shared/flannel");

/** The flannel releases the interop tiers run, the etcd API each speaks, the sha256 of flanneld. */
export const FLANNEL_VERSIONS = {
  "v0.11.0": {
    api: 2,
    sha256: "de9237befcbc30af033a98fe15d3f16e1799d182bb99a3ba571a3cb0075df6b5",
  },
  "v0.20.2": {
    api: 3,
    sha256: "e0b260d3be40900e32f58622904328231086d17ae1d9a48ab7da1b14cb1de342",
  },
} as const;
export type FlannelVersion = keyof typeof FLANNEL_VERSIONS;

/** Why the real flannel binaries cannot be used, or `null`. */
export function realFlannelMissing(): string | null {
  const xz = missingCommand("xz", "xz-utils");
  if (xz !== null) return xz;
  for (const v of Object.keys(FLANNEL_VERSIONS)) {
    for (const f of [`flanneld-${v}.xz`, `mk-docker-opts-${v}.sh`]) {
      if (!existsSync(join(FLANNEL_DIR, f))) {
        return `${join(FLANNEL_DIR, f)} missing: the real flannel binaries belong in ../shared/flannel beside the repository (flanneld-v0.11.0.xz, flanneld-v0.20.2.xz, mk-docker-opts-v*.sh)`;
      }
    }
  }
  return null;
}

/** The unpacked binaries of one run; `close()` removes them. */
export class RealFlannel {
  readonly dir = mkdtempSync(join(tmpdir(), "flannel-interop-bin-"));

  /** Path of flanneld `version`, unpacked (and its sha256 and `--version` checked) on first use. */
  flanneld(version: FlannelVersion): string {
    const out = join(this.dir, `flanneld-${version}`);
    if (!existsSync(out)) {
      const fd = openSync(`${out}.part`, "w", 0o755);
      try {
        execFileSync("xz", ["-dc", join(FLANNEL_DIR, `flanneld-${version}.xz`)], {
          stdio: ["ignore", fd, "pipe"],
        });
      } finally {
        closeSync(fd);
      }
      const sum = createHash("sha256")
        .update(readFileSync(`${out}.part`))
        .digest("hex");
      if (sum !== FLANNEL_VERSIONS[version].sha256) {
        throw new Error(
          `flanneld-${version}.xz unpacks to sha256 ${sum}, not ${FLANNEL_VERSIONS[version].sha256} (../shared/flannel/README)`,
        );
      }
      chmodSync(`${out}.part`, 0o755);
      renameSync(`${out}.part`, out);
      const r = spawnSync(out, ["--version"], { encoding: "utf8" });
      const printed = `${r.stdout}${r.stderr}`;
      if (!printed.includes(version)) throw new Error(`${out} --version printed ${printed}`);
    }
    return out;
  }

  /** That tag's `dist/mk-docker-opts.sh` (run with `sh`, read-only in place). */
  mkDockerOptsScript(version: FlannelVersion): string {
    return join(FLANNEL_DIR, `mk-docker-opts-${version}.sh`);
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
