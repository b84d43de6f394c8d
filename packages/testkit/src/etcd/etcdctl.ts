import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { delimiter, join } from "node:path";

/** Options of {@link etcdctl}. */
export interface EtcdctlOptions {
  /** `ETCDCTL_API`: 2 for the v2 keys API commands (`mk`, `mkdir`, `ls`), 3 otherwise. */
  readonly api: 2 | 3;
  readonly endpoints: readonly string[];
  /** CA / client certificate files. */
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  /** `name:password`. */
  readonly user?: string;
  /** Default 15 s. */
  readonly timeoutMs?: number;
}

/**
 * Returns `null` when etcdctl is on the PATH, else how to get it (for `tierGate`).
 *
 * @example
 * ```ts
 * describe.runIf(tierGate("etcd", etcdctlMissingReason()))("etcdctl interop", () => {});
 * ```
 */
export function etcdctlMissingReason(): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, "etcdctl"))) return null;
  }
  return "etcdctl not found on PATH: apt-get install -y etcd-client";
}

/**
 * Runs the real `etcdctl` with the flag spelling of the chosen API version and returns its
 * stdout. Rejects with stderr in the message when it exits non-zero.
 *
 * @example
 * ```ts
 * await etcdctl(["mk", "/coreos.com/network/config", '{"Network":"10.1.0.0/16"}'], { api: 2, endpoints: [etcd.clientUrl] });
 * ```
 */
export function etcdctl(args: readonly string[], options: EtcdctlOptions): Promise<string> {
  const flags: string[] = [];
  if (options.api === 2) {
    flags.push(`--endpoints=${options.endpoints.join(",")}`);
    if (options.caFile) flags.push(`--ca-file=${options.caFile}`);
    if (options.certFile) flags.push(`--cert-file=${options.certFile}`);
    if (options.keyFile) flags.push(`--key-file=${options.keyFile}`);
    if (options.user) flags.push(`--username=${options.user}`);
  } else {
    flags.push(`--endpoints=${options.endpoints.join(",")}`);
    if (options.caFile) flags.push(`--cacert=${options.caFile}`);
    if (options.certFile) flags.push(`--cert=${options.certFile}`);
    if (options.keyFile) flags.push(`--key=${options.keyFile}`);
    if (options.user) flags.push(`--user=${options.user}`);
  }
  return new Promise((resolve, reject) => {
    execFile(
      "etcdctl",
      [...flags, ...args],
      {
        env: { ...process.env, ETCDCTL_API: String(options.api) },
        timeout: options.timeoutMs ?? 15_000,
        encoding: "utf8",
      },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`etcdctl ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}
