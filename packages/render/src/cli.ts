/**
 * Entry point of the `mk-docker-opts` bin (see bin/mk-docker-opts.js): runs
 * {@link runMkDockerOpts} as this process.
 */
import { errorLine } from "@flannel-sdk/core";
import { runMkDockerOpts } from "./mk-docker-opts/cli.js";

/**
 * Runs mk-docker-opts with this process's arguments, environment and working directory, and sets
 * `process.exitCode`. Never throws: any failure is one line on stderr and exit status 1.
 *
 * @example
 * ```ts
 * await main();
 * ```
 */
export async function main(): Promise<void> {
  const argv0 = process.argv[1] ?? "mk-docker-opts";
  try {
    process.exitCode = await runMkDockerOpts({
      argv: process.argv.slice(2),
      argv0,
      env: process.env,
      cwd: process.cwd(),
      stderr: (text) => void process.stderr.write(text),
      stdout: (text) => void process.stdout.write(text),
    });
  } catch (e) {
    // Whatever escapes (a bug, an exhausted heap) is still one line and an exit status.
    process.stderr.write(`${argv0}: ${errorLine(e, { code: false })}\n`);
    process.exitCode = 1;
  }
}
