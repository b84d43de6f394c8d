/**
 * Where a handle's channels come from: the local rtnetlink socket for the current namespace, a
 * namespace agent (`nsenter`) for another one. The handle opens one for its requests and one per
 * link subscription.
 */
import { FlannelError } from "@flannel-sdk/core";
import { netlinkError } from "./errors.js";
import type { Channel, ChannelEvents } from "./transport/channel.js";
import { openLocalChannel } from "./transport/channel.js";
import { netnsPath, openNetnsChannel } from "./transport/netns-channel.js";

/** Opens one more channel into the handle's namespace. @internal */
export type OpenChannel = (events: ChannelEvents, signal?: AbortSignal) => Promise<Channel>;

/**
 * The channel opener of namespace `netns` (a name under `/run/netns` or a path; `null`: the
 * current one). A local socket that cannot be made fails as a `NETLINK_ERROR` naming
 * `socket(AF_NETLINK)`.
 * @throws FlannelError `INVALID_ARGUMENT` (a malformed namespace name, from `netnsPath`)
 * @internal
 */
export function channelOpener(netns: string | null): OpenChannel {
  const path = netns === null ? null : netnsPath(netns);
  return async (events, signal) => {
    if (path === null) {
      try {
        return openLocalChannel(events);
      } catch (e) {
        if (e instanceof FlannelError) throw e;
        const err = e as { code?: string; message?: string };
        throw netlinkError(
          err.code ?? "EIO",
          "socket(AF_NETLINK)",
          err.message ?? String(e),
          {},
          e,
        );
      }
    }
    return openNetnsChannel(path, events, signal);
  };
}
