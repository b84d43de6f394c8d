/**
 * A channel carries whole netlink datagrams between this process and one rtnetlink socket. The
 * socket lives either in this process (the current network namespace) or in a small agent
 * process started inside another namespace (see `netns-channel.ts`); everything above the
 * channel — framing, sequence numbers, windows, errors — is the same for both.
 * @internal
 */
import { NETLINK_ROUTE } from "../nl/constants.js";
import { loadNative } from "./native.js";

/** What the channel reports. Every callback is invoked from a socket callback: none may throw. */
export interface ChannelEvents {
  /** A datagram from the kernel (one or more netlink messages). */
  datagram(d: Buffer): void;
  /** The socket reported an error (ENOBUFS: replies were dropped); the channel stays open. */
  socketError(errno: string, message: string): void;
  /** The datagram with this id could not be sent. */
  sendError(id: number, errno: string, message: string): void;
  /** The channel died (agent exited, socket closed); nothing more will arrive. */
  closed(errno: string, message: string): void;
}

export interface Channel {
  /** Queues one datagram for the kernel; `id` is echoed by `sendError`. */
  send(id: number, datagram: Buffer): void;
  /**
   * Queues datagrams that must reach the kernel one at a time: each is sent once the kernel has
   * ended the previous one (NLMSG_DONE / NLMSG_ERROR for its last sequence number). Lets several
   * dumps cross to a namespace agent in one write. Optional.
   */
  sendSequence?(items: readonly { id: number; datagram: Buffer }[]): void;
  /**
   * Joins an rtnetlink multicast group (`RTNLGRP_*`); resolves once the socket is in it, so no
   * event after that moment is missed (a namespace agent joins in its own process).
   */
  addMembership(group: number): Promise<void>;
  /** Keep the event loop alive (true while requests are pending or a subscription is read). */
  setActive(active: boolean): void;
  close(): void;
}

/**
 * Requested socket buffers. The kernel caps them at `net.core.rmem_max` / `wmem_max` and doubles
 * them; the connection's window is sized so that even the kernel's default (212992) is enough.
 */
export const SOCKET_BUFFER_BYTES = 1 << 20;

/**
 * Receive buffer per datagram. Reading into a large buffer (instead of peeking at each
 * datagram's size) also tells the kernel it may build dump datagrams of up to 32 KiB rather
 * than one page: a 1,000-route dump then crosses in a few datagrams instead of dozens. The
 * kernel never builds a larger one (it caps what it learns from the reader at 32 KiB), and the
 * binding allocates this much for every datagram, acks included: 64 KiB doubled the malloc
 * churn of a 15,000-operation apply for nothing.
 */
export const RECV_BUFFER_BYTES = 32 * 1024;

function errnoOf(e: unknown): { errno: string; message: string } {
  const err = e as { code?: unknown; message?: unknown };
  return {
    errno: typeof err?.code === "string" ? err.code : "EIO",
    message: typeof err?.message === "string" ? err.message : String(e),
  };
}

/**
 * Opens a rtnetlink socket in this process's (this thread's) network namespace.
 * @throws FlannelError `NETLINK_UNSUPPORTED` (no native addon here); the socket's ErrnoException (mapped by the caller)
 */
export function openLocalChannel(events: ChannelEvents): Channel {
  const { RawNetlinkSocket } = loadNative();
  const sock = new RawNetlinkSocket(NETLINK_ROUTE, {
    messagePeeking: false,
    msgBufferSize: RECV_BUFFER_BYTES,
    recvBufferSize: SOCKET_BUFFER_BYTES,
    sendBufferSize: SOCKET_BUFFER_BYTES,
  });
  let open = true;
  // The native binding terminates the process when a JS callback it invokes throws (an uncaught
  // C++ exception); every handler here therefore swallows what escapes the events.
  const guard =
    <A extends unknown[]>(fn: (...args: A) => void) =>
    (...args: A): void => {
      try {
        fn(...args);
      } catch {
        // nothing may escape into the native callback
      }
    };
  sock.on(
    "message",
    guard((msg: Buffer) => events.datagram(msg)),
  );
  sock.on(
    "truncatedMessage",
    guard(() => events.socketError("EMSGSIZE", "a netlink datagram was truncated")),
  );
  sock.on(
    "error",
    guard((e: unknown) => {
      const { errno, message } = errnoOf(e);
      events.socketError(errno, message);
    }),
  );
  sock.unref();
  return {
    send(id, datagram) {
      if (!open) return;
      try {
        sock.send(
          datagram,
          {},
          guard((error?: unknown) => {
            if (error === undefined || error === null) return;
            const { errno, message } = errnoOf(error);
            events.sendError(id, errno, message);
          }),
        );
      } catch (e) {
        const { errno, message } = errnoOf(e);
        events.sendError(id, errno, message);
      }
    },
    async addMembership(group) {
      sock.addMembership(group);
    },
    setActive(active) {
      if (!open) return;
      if (active) sock.ref();
      else sock.unref();
    },
    close() {
      if (!open) return;
      open = false;
      try {
        sock.close();
      } catch {
        // already closed
      }
      events.closed("ECONNRESET", "netlink socket closed");
    },
  };
}
