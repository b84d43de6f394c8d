import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A fresh temp directory, removed by the returned cleanup function. */
export function tempDir(prefix = "render-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * Sources `text` with a real `dash` (`. file`) in an environment of exactly `env` (+ PATH) and
 * returns each requested variable's value (undefined when unset), the exit status and stderr.
 */
export function sourceWithDash(
  text: string,
  names: readonly string[],
  env: Record<string, string> = {},
): { values: Map<string, string | undefined>; status: number | null; stderr: string } {
  const dir = tempDir("render-dash-");
  try {
    const file = join(dir.path, "file.env");
    writeFileSync(file, text);
    const dump = names
      .map((n) => `if [ "\${${n}+x}" = x ]; then printf 'S%s\\0' "$${n}"; else printf 'U\\0'; fi`)
      .join("\n");
    const r = spawnSync("dash", ["-c", `. "$1" >/dev/null || exit 99\n${dump}`, "dash", file], {
      env: { PATH: "/usr/bin:/bin", ...env },
      encoding: "utf8",
      cwd: dir.path,
    });
    const parts = r.stdout.split("\0");
    const values = new Map<string, string | undefined>();
    names.forEach((n, i) => {
      const v = parts[i];
      values.set(n, v?.startsWith("S") ? v.slice(1) : undefined);
    });
    return { values, status: r.status, stderr: r.stderr };
  } finally {
    dir.cleanup();
  }
}
