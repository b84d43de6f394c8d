/**
 * The error codes of `@flannel-sdk/netlink` and the kernel-errno mapping behind them.
 */
import { getSystemErrorMap } from "node:util";
import { FlannelError } from "@flannel-sdk/core";

/**
 * Codes thrown by `@flannel-sdk/netlink`:
 * - `NETLINK_ERROR`: the kernel (or the netlink socket / namespace) refused an operation;
 *   `errno` holds the symbolic errno (`EEXIST`, `ENOENT`, `EPERM`, …), `syscall` the operation.
 * - `INTERFACE_NOT_FOUND`: interface selection (flanneld's `--iface` rules) found nothing.
 * - `INVALID_ARGUMENT`: a malformed spec (MAC, regex, device name).
 * - `ABORTED`: the `signal` fired.
 * - `HANDLE_CLOSED`: the handle was closed.
 * - `BACKEND_UNSUPPORTED`: `registerBackend` was given a backend other than vxlan / host-gw, or
 *   an IPv6-enabled config.
 * - `NETLINK_UNSUPPORTED`: no rtnetlink here — not Linux (the message and `details.platform`
 *   name the platform), or the optional native npm `netlink` package is not installed or did not
 *   load. Everything that needs no socket (the `cmd*` printers, `vxlanIncompatibility`) still works.
 */
export type NetlinkErrorCode =
  | "NETLINK_ERROR"
  | "INTERFACE_NOT_FOUND"
  | "INVALID_ARGUMENT"
  | "ABORTED"
  | "HANDLE_CLOSED"
  | "BACKEND_UNSUPPORTED"
  | "NETLINK_UNSUPPORTED";

let errnoMap: Map<number, [string, string]> | null = null;

/** Symbolic name and text of a positive errno (`17` → `["EEXIST", "file already exists"]`). */
export function errnoName(errno: number): { name: string; text: string } {
  errnoMap ??= getSystemErrorMap();
  const entry = errnoMap.get(-Math.abs(errno));
  return entry ? { name: entry[0], text: entry[1] } : { name: `E${errno}`, text: `errno ${errno}` };
}

const RETRYABLE = new Set(["ENOBUFS", "EAGAIN", "EBUSY", "EINTR", "ECONNRESET"]);

/**
 * A `NETLINK_ERROR` for a failed operation. `operation` names it as iproute2 would print it
 * (`ip route replace 10.1.2.0/24 via 10.1.2.0 dev flannel.1 onlink`).
 * @internal
 */
export function netlinkError(
  errno: string,
  operation: string,
  detail: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
  /** Overrides the errno's verdict (a dead socket's ECONNRESET is not worth retrying). */
  options: { retryable?: boolean } = {},
): FlannelError<"NETLINK_ERROR"> {
  let message = `${operation}: ${detail} (${errno})`;
  if (errno === "EPERM" || errno === "EACCES") {
    message += ": this needs CAP_NET_ADMIN in the target network namespace — run as root";
  }
  return new FlannelError("NETLINK_ERROR", message, {
    errno,
    syscall: operation,
    retryable: options.retryable ?? RETRYABLE.has(errno),
    details: { operation, ...extra },
    cause,
  });
}

/** A `NETLINK_ERROR` from a kernel reply's negative errno. @internal */
export function kernelError(
  negErrno: number,
  operation: string,
  extra: Record<string, unknown> = {},
): FlannelError<"NETLINK_ERROR"> {
  const { name, text } = errnoName(negErrno);
  return netlinkError(name, operation, text, extra);
}
