import { type SpawnOptions, spawn } from "node:child_process";

/** What a finished child process printed, and how it ended. */
export interface CollectedOutput {
  /** The exit code, `null` when a signal ended it. */
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command argv` to its end without blocking the event loop (a test that relays sockets in
 * this process cannot use `spawnSync`) and collects its output as text.
 */
export async function runCollect(
  command: string,
  argv: readonly string[],
  options: Omit<SpawnOptions, "stdio"> = {},
): Promise<CollectedOutput> {
  const child = spawn(command, argv, { ...options, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  const status = await new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", resolve);
  });
  return { status, stdout, stderr };
}
