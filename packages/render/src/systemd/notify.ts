/**
 * Telling systemd a `Type=notify` service is ready (`sd_notify(3)`), without a native addon.
 */
import { execFile } from "node:child_process";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";

/** Options of {@link notifySystemd}. */
export interface NotifySystemdOptions {
  /** Where `NOTIFY_SOCKET` is read from. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The pid the message is sent for: the service's main pid. Default `process.pid`. */
  readonly pid?: number;
  /** The helper to run. Default `systemd-notify` (on the PATH). */
  readonly command?: string;
  readonly signal?: AbortSignal;
}

/**
 * Sends a state to systemd's notification socket (`READY=1`, `STATUS=…`, `STOPPING=1`) for this
 * process, when `NOTIFY_SOCKET` is set; returns `false` (and does nothing) when it is not, as
 * `sd_notify` does outside a `Type=notify` unit.
 *
 * Node has no `AF_UNIX` datagram socket, so the message is sent by `systemd-notify --pid=<pid>`.
 * systemd accepts a `Type=notify` service's notification only from its main pid
 * (`NotifyAccess=main`); `systemd-notify` running as root stamps the message's `SCM_CREDENTIALS`
 * with `--pid` (faking a pid needs `CAP_SYS_ADMIN`), so it arrives as sent by this process. Not
 * root: the unit needs `NotifyAccess=all`. See docs/decisions.md.
 *
 * @throws FlannelError `NOTIFY_FAILED` (helper missing or refused; `errno` when it could not start), `INVALID_ARGUMENT` (a state with a newline), `ABORTED`
 * @example
 * ```ts
 * await notifySystemd("READY=1"); // true under systemd, false elsewhere
 * ```
 */
export async function notifySystemd(
  state: string | Readonly<Record<string, string>>,
  options: NotifySystemdOptions = {},
): Promise<boolean> {
  throwIfAborted(options.signal);
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  if (socket === undefined || socket === "") return false;
  const assignments =
    typeof state === "string"
      ? state.split("\n").filter((l) => l !== "")
      : Object.entries(state).map(([k, v]) => `${k}=${v}`);
  for (const a of assignments) {
    if (!/^[A-Z_][A-Z0-9_]*=[^\n]*$/.test(a)) {
      throw new FlannelError("INVALID_ARGUMENT", `not a notification assignment: ${a}`, {
        field: "state",
      });
    }
  }
  const command = options.command ?? "systemd-notify";
  const args = [`--pid=${options.pid ?? process.pid}`, ...assignments];
  await new Promise<void>((resolve, reject) => {
    execFile(
      command,
      args,
      {
        env: { ...process.env, NOTIFY_SOCKET: socket },
        timeout: 10_000,
        ...(options.signal ? { signal: options.signal } : {}),
      },
      (error, _stdout, stderr) => {
        if (error === null) {
          resolve();
          return;
        }
        if (options.signal?.aborted) {
          reject(new FlannelError("ABORTED", "aborted", { cause: options.signal.reason }));
          return;
        }
        const errno = typeof error.code === "string" ? error.code : undefined;
        reject(
          new FlannelError(
            "NOTIFY_FAILED",
            `${command} ${args.join(" ")}: ${String(stderr).trim() || error.message}`,
            { cause: error, syscall: command, ...(errno ? { errno } : {}), details: { socket } },
          ),
        );
      },
    );
  });
  return true;
}
