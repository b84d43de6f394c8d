/**
 * Entry point of the `mk-docker-opts` bin (see bin/mk-docker-opts.js): runs
 * {@link runMkDockerOpts} as this process.
 */
import { runMkDockerOpts } from "./mk-docker-opts/cli.js";

/**
 * Runs mk-docker-opts with this process's arguments, environment and working directory, and sets
 * `process.exitCode`.
 *
 * @example
 * ```ts
 * await main();
 * ```
 */
export async function main(): Promise<void> {
  process.exitCode = await runMkDockerOpts({
    argv: process.argv.slice(2),
    argv0: process.argv[1] ?? "mk-docker-opts",
    env: process.env,
    cwd: process.cwd(),
    stderr: (text) => void process.stderr.write(text),
    stdout: (text) => void process.stdout.write(text),
  });
}
