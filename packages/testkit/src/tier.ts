/**
 * Test tiers: pure tests run everywhere; the etcd and kernel tiers need real parts. A tier whose
 * part is missing fails under CI (`CI=true`), with the way to get it; elsewhere it is skipped,
 * loudly.
 */

function isCI(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  const ci = env?.CI;
  return ci !== undefined && ci !== "" && ci !== "0" && ci.toLowerCase() !== "false";
}

/**
 * Decides whether a test tier runs. `missing` is `null` when everything the tier needs is here,
 * else a sentence naming what is missing and how to get it.
 *
 * @returns true when the tier should run.
 * @throws Error under CI when `missing` is not null: a skipped tier is a failure there.
 * @example
 * ```ts
 * const run = tierGate("etcd", existsSync("/usr/bin/etcd") ? null : "etcd not found: apt-get install -y etcd-server");
 * describe.runIf(run)("EtcdLeaseStore", () => { ... });
 * ```
 */
export function tierGate(tier: string, missing: string | null): boolean {
  if (missing === null) return true;
  const message = `[${tier} tier] ${missing}`;
  if (isCI()) throw new Error(`${message} — required under CI=true, refusing to skip`);
  console.warn(`\n*** SKIPPING ${message}\n`);
  return false;
}
