import { FlannelError } from "@flannel-sdk/core";

/**
 * Codes thrown by `@flannel-sdk/render` (besides core's `INVALID_ARGUMENT` / `ABORTED` for API
 * misuse and aborted calls).
 *
 * - `RENDER_INVALID_VALUE`: a value cannot be written safely into the target format (a newline or
 *   control character, a quote where the format has no escape, an invalid variable name…).
 * - `ENV_SYNTAX`: an env file uses shell syntax outside the supported subset (commands,
 *   command substitution, `${x:-y}`…) or is malformed (an unterminated quote).
 * - `ENV_TOO_LARGE`: an env file's `$NAME` expansions together exceed `MAX_SHELL_ENV_EXPANSION`
 *   (`A=$A$A` repeated), with `details.line` and `details.limit`.
 * - `SUBNET_ENV_INVALID`: a `subnet.env` value has the wrong shape (`FLANNEL_MTU=abc`).
 * - `IPMASQ_INVALID`: `FLANNEL_IPMASQ` is neither `true` nor `false` (mk-docker-opts).
 * - `WRITE_FAILED`: a file-system error while writing, with `errno` and `syscall`.
 * - `IPTABLES_FAILED`: `iptables-save` / `iptables-restore` could not run or exited non-zero
 *   (the tool's stderr in the message, `details.status`, `details.input`).
 * - `NOTIFY_FAILED`: `systemd-notify` could not run or refused the message.
 */
export type RenderErrorCode =
  | "RENDER_INVALID_VALUE"
  | "ENV_SYNTAX"
  | "ENV_TOO_LARGE"
  | "SUBNET_ENV_INVALID"
  | "IPMASQ_INVALID"
  | "WRITE_FAILED"
  | "IPTABLES_FAILED"
  | "NOTIFY_FAILED";

/** @internal */
export function invalidValue(
  message: string,
  field: string | undefined,
  value: unknown,
): FlannelError<"RENDER_INVALID_VALUE"> {
  return new FlannelError("RENDER_INVALID_VALUE", message, {
    ...(field === undefined ? {} : { field }),
    details: { value },
  });
}

/** @internal */
export function invalidArgument(message: string, field?: string): FlannelError<"INVALID_ARGUMENT"> {
  return new FlannelError("INVALID_ARGUMENT", message, field === undefined ? {} : { field });
}

/** @internal Wraps a Node.js system error (`ENOENT`, `EACCES`…) into a FlannelError. */
export function ioError<C extends "WRITE_FAILED">(
  code: C,
  what: string,
  path: string,
  cause: unknown,
): FlannelError<C> {
  const sys = cause as { code?: unknown; syscall?: unknown; message?: unknown };
  const errno = typeof sys?.code === "string" ? sys.code : undefined;
  const syscall = typeof sys?.syscall === "string" ? sys.syscall : undefined;
  const reason = typeof sys?.message === "string" ? sys.message : String(cause);
  return new FlannelError(code, `${what} ${path}: ${reason}`, {
    cause,
    details: { path },
    ...(errno === undefined ? {} : { errno }),
    ...(syscall === undefined ? {} : { syscall }),
  });
}
