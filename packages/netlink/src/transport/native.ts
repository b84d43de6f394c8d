/**
 * The native rtnetlink socket (npm `netlink`, prebuilt for Linux only), loaded on first use.
 * `netlink` is an optional dependency: on macOS or Windows its install may fail and npm leaves it
 * out, and importing this package must still work (nothing here loads before a socket is
 * opened). Only `dist/raw.js` is loaded, not the package root with its nl80211 / WireGuard
 * modules.
 * @internal
 */
import { createRequire } from "node:module";
import { FlannelError } from "@flannel-sdk/core";
import type { RawNetlinkSocket } from "netlink/dist/raw.js";

/** The one module of npm `netlink` this package uses. */
export interface NativeNetlink {
  RawNetlinkSocket: typeof RawNetlinkSocket;
}

const RAW = "netlink/dist/raw.js";
let native: NativeNetlink | null = null;

function unsupported(reason: string, cause?: unknown): FlannelError<"NETLINK_UNSUPPORTED"> {
  const platform = `${process.platform}-${process.arch}`;
  return new FlannelError(
    "NETLINK_UNSUPPORTED",
    `netlink is not available on ${platform}: ${reason}`,
    { details: { platform: process.platform, arch: process.arch }, cause },
  );
}

function checkPlatform(): void {
  if (process.platform !== "linux") {
    throw unsupported(
      "rtnetlink sockets exist only on Linux (the data plane runs on the node, not here)",
    );
  }
}

/**
 * The absolute path of npm `netlink`'s raw-socket module (the namespace agent `require`s it).
 * @throws FlannelError `NETLINK_UNSUPPORTED` (not Linux, or npm `netlink` is not installed)
 */
export function nativeModulePath(): string {
  checkPlatform();
  try {
    return createRequire(import.meta.url).resolve(RAW);
  } catch (e) {
    throw unsupported(
      'the optional dependency "netlink" is not installed (npm install netlink@0.3.0)',
      e,
    );
  }
}

/**
 * Loads the native addon, once.
 * @throws FlannelError `NETLINK_UNSUPPORTED` (not Linux, not installed, no prebuilt addon for this CPU)
 */
export function loadNative(): NativeNetlink {
  checkPlatform();
  if (native !== null) return native;
  const path = nativeModulePath();
  try {
    native = createRequire(import.meta.url)(path) as NativeNetlink;
  } catch (e) {
    throw unsupported(
      `npm "netlink" is installed but its native addon did not load: ${(e as Error)?.message ?? e}`,
      e,
    );
  }
  return native;
}
