import { spawnSync } from "node:child_process";

/** Absolute path of `command` on the PATH, or `null`. */
export function which(command: string): string | null {
  const r = spawnSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" });
  const path = r.stdout.trim();
  return r.status === 0 && path.startsWith("/") ? path : null;
}

/** A tier's reason when `command` is missing (`… not found: apt-get install -y PKG`), or `null`. */
export function missingCommand(command: string, debianPackage: string): string | null {
  return which(command) === null
    ? `${command} not found: apt-get install -y ${debianPackage}`
    : null;
}

/** {@link missingCommand} of the first missing `[command, debianPackage]`, or `null`. */
export function missingCommands(
  commands: readonly (readonly [command: string, debianPackage: string])[],
): string | null {
  for (const [command, pkg] of commands) {
    const missing = missingCommand(command, pkg);
    if (missing !== null) return missing;
  }
  return null;
}
