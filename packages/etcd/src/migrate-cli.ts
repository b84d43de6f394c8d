/**
 * The `flannel-etcd-migrate` command line: {@link migrateV2ToV3} with flanneld's etcd flags.
 */
import { isFlannelError } from "@flannel-sdk/core";
import { parseFlanneldFlags } from "./flanneld/flags.js";
import { etcdOptionsFromFlanneld } from "./flanneld/options.js";
import { type MigrationEntry, type MigrationReport, migrateV2ToV3 } from "./migrate.js";

/** flanneld's flags this tool reads (the rest of flanneld's are refused as bad usage). */
const ETCD_FLAGS = [
  "etcd-endpoints",
  "etcd-prefix",
  "etcd-certfile",
  "etcd-keyfile",
  "etcd-cafile",
  "etcd-username",
  "etcd-password",
] as const;

/** Exit status: every key copied or already there. */
export const MIGRATE_EXIT_OK = 0;
/** Exit status: a conflict, no config to migrate, or etcd failed. */
export const MIGRATE_EXIT_FAILED = 1;
/** Exit status: bad usage. */
export const MIGRATE_EXIT_USAGE = 2;

const USAGE = `Usage: flannel-etcd-migrate [flags]

Copies a flannel network from the etcd v2 keys API (flannel <= v0.17) to etcd v3 (flannel >= v0.18)
on the same etcd: the config, then every lease with the time it has left, reservations without a
TTL, values byte for byte. A key v3 already holds is never overwritten (a different value is a
conflict); v2 is not modified; running it twice changes nothing.

Flags (flanneld's; -flag or --flag, -flag=value or -flag value):
  -etcd-endpoints string   comma-separated etcd endpoints (default "http://127.0.0.1:4001,http://127.0.0.1:2379")
  -etcd-prefix string      etcd prefix (default "/coreos.com/network")
  -etcd-certfile string    SSL certification file used to secure etcd communication
  -etcd-keyfile string     SSL key file used to secure etcd communication
  -etcd-cafile string      SSL Certificate Authority file used to secure etcd communication
  -etcd-username string    username for BasicAuth to etcd
  -etcd-password string    password for BasicAuth to etcd
  -dry-run                 print what would be done, write nothing
  -h, -help                print this help

FLANNELD_ETCD_* environment variables are read as flanneld reads them.

Exit status: 0 every key copied or already there; 1 a conflict, no config in v2, or etcd failed;
2 bad usage.
`;

/** Input of {@link runMigrateCli}. */
export interface RunMigrateCliInput {
  /** Arguments, without the program name. */
  readonly argv: readonly string[];
  /** Environment (`FLANNELD_ETCD_*`). Default none. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly signal?: AbortSignal;
}

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

/**
 * The per-key table of a migration report: KEY, ACTION, TTL (seconds left, `-` for none), REASON,
 * then one line of counts.
 *
 * @example
 * ```ts
 * console.log(formatMigrationReport(await migrateV2ToV3({ from: {}, to: {}, dryRun: true })));
 * ```
 */
export function formatMigrationReport(report: MigrationReport): string {
  const row = (e: MigrationEntry) => [
    e.key,
    e.action,
    e.ttlSeconds === null ? "-" : String(e.ttlSeconds),
    e.reason ?? "",
  ];
  const c = report.counts;
  return `${table([["KEY", "ACTION", "TTL", "REASON"], row(report.config), ...report.leases.map(row)])}
${report.dryRun ? "dry run, nothing written: would create" : "created"} ${c.created}, unchanged ${c.unchanged}, conflict ${c.conflict}, skipped ${c.skipped}
`;
}

/**
 * Runs `flannel-etcd-migrate ARGV`: parses flanneld's etcd flags by Go `flag` rules (plus
 * `-dry-run`, `-h`/`-help`), migrates, prints the per-key table on stdout, and answers the exit
 * status: {@link MIGRATE_EXIT_OK}, {@link MIGRATE_EXIT_FAILED} (a conflict, no usable config in
 * v2, an etcd error) or {@link MIGRATE_EXIT_USAGE}. Never throws.
 *
 * @example
 * ```ts
 * const status = await runMigrateCli({
 *   argv: ["-etcd-endpoints=http://127.0.0.1:2379", "-etcd-prefix=/kube-centos/network", "--dry-run"],
 *   stdout: (t) => process.stdout.write(t),
 *   stderr: (t) => process.stderr.write(t),
 * });
 * ```
 */
export async function runMigrateCli(input: RunMigrateCliInput): Promise<number> {
  const env = input.env ?? {};
  let parsed: ReturnType<typeof parseFlanneldFlags>;
  try {
    parsed = parseFlanneldFlags(input.argv, env, {
      extraFlags: { "dry-run": "bool", h: "bool", help: "bool" },
      strict: true,
    });
    const allowed = new Set<string>([...ETCD_FLAGS, "dry-run", "h", "help"]);
    const other = [...parsed.fromCommandLine].find((f) => !allowed.has(f));
    if (other !== undefined) {
      throw new Error(`flag -${other} is flanneld's, not a migration setting`);
    }
    if (parsed.rest.length > 0) throw new Error(`unexpected argument: ${parsed.rest[0]}`);
  } catch (e) {
    input.stderr(`flannel-etcd-migrate: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    return MIGRATE_EXIT_USAGE;
  }
  if (parsed.values.h === true || parsed.values.help === true) {
    input.stdout(USAGE);
    return MIGRATE_EXIT_OK;
  }
  try {
    const etcdArgs = ETCD_FLAGS.filter((f) => parsed.fromCommandLine.has(f)).map(
      (f) => `-${f}=${String(parsed.values[f])}`,
    );
    const { store, warnings } = etcdOptionsFromFlanneld({ argv: etcdArgs, env });
    for (const w of warnings) input.stderr(`flannel-etcd-migrate: warning: ${w}\n`);
    const report = await migrateV2ToV3({
      from: store,
      to: store,
      prefix: store.prefix,
      dryRun: parsed.values["dry-run"] === true,
      ...(input.signal ? { signal: input.signal } : {}),
    });
    input.stdout(formatMigrationReport(report));
    if (report.config.action === "skipped") {
      input.stderr(
        `flannel-etcd-migrate: ${report.config.reason} at ${report.config.key.replace(/\/config$/, "")} (check -etcd-prefix and -etcd-endpoints)\n`,
      );
      return MIGRATE_EXIT_FAILED;
    }
    if (report.counts.conflict > 0) {
      input.stderr(
        `flannel-etcd-migrate: ${report.counts.conflict} key(s) in conflict: v3 holds another value; left as they are\n`,
      );
      return MIGRATE_EXIT_FAILED;
    }
    return MIGRATE_EXIT_OK;
  } catch (e) {
    const code = isFlannelError(e) ? `${e.code}: ` : "";
    input.stderr(`flannel-etcd-migrate: ${code}${e instanceof Error ? e.message : String(e)}\n`);
    return isFlannelError(e) && e.code === "FLANNELD_OPTIONS_INVALID"
      ? MIGRATE_EXIT_USAGE
      : MIGRATE_EXIT_FAILED;
  }
}
