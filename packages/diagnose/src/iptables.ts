/**
 * `iptables-save` in the namespace of a netlink handle: flannel's rules live in the node's
 * network namespace, next to its routes.
 */
import { execFile } from "node:child_process";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import type { DiagnoseErrorCode } from "./errors.js";

/** The namespace path of a handle's `netns` (a name under /run/netns, or a path). */
export function netnsPath(netns: string): string {
  return netns.includes("/") ? netns : `/run/netns/${netns}`;
}

/**
 * Runs `iptables-save` (`ip6tables-save` with `family: 6`; in `netns` through
 * `nsenter --net=…` when given) and returns its output.
 *
 * @throws FlannelError `IPTABLES_FAILED` (with `errno` `ENOENT` when iptables-save is not
 * installed), `ABORTED`
 * @example
 * ```ts
 * const saved = await iptablesSave("fsdk-demo-1a2b3c-node1");
 * const saved6 = await iptablesSave("fsdk-demo-1a2b3c-node1", { family: 6 });
 * ```
 */
export async function iptablesSave(
  netns: string | null,
  options: { signal?: AbortSignal; family?: 4 | 6 } = {},
): Promise<string> {
  throwIfAborted(options.signal);
  const save = options.family === 6 ? "ip6tables-save" : "iptables-save";
  const [cmd, args] =
    netns === null
      ? [save, [] as string[]]
      : ["nsenter", [`--net=${netnsPath(netns)}`, "--", save]];
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (err === null) {
          resolve(stdout);
          return;
        }
        if (options.signal?.aborted) {
          reject(new FlannelError("ABORTED", "aborted", { cause: err }));
          return;
        }
        const code = (err as { code?: unknown }).code;
        const missing = code === "ENOENT" || /iptables-save: (No such file|not found)/.test(stderr);
        reject(
          new FlannelError<DiagnoseErrorCode>(
            "IPTABLES_FAILED",
            missing
              ? `${save} not found: apt-get install -y iptables`
              : `${save} failed: ${stderr.trim() || err.message}`,
            {
              cause: err,
              syscall: [cmd, ...args].join(" "),
              ...(missing ? { errno: "ENOENT" } : {}),
            },
          ),
        );
      },
    );
  });
}
