/**
 * Entry point of the `flannel-etcd-migrate` bin (see bin/flannel-etcd-migrate.js): runs
 * {@link runMigrateCli} as this process.
 */
import { runMigrateCli } from "./migrate-cli.js";

/**
 * Runs flannel-etcd-migrate with this process's arguments and environment, and sets
 * `process.exitCode`.
 *
 * @example
 * ```ts
 * await main();
 * ```
 */
export async function main(): Promise<void> {
  process.exitCode = await runMigrateCli({
    argv: process.argv.slice(2),
    env: process.env,
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
  });
}
