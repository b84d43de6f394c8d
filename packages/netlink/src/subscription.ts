/**
 * A stream of link notifications (`RTNLGRP_LINK`) as an async iterable.
 */
import type { FlannelError } from "@flannel-sdk/core";
import type { OpenChannel } from "./channel-opener.js";
import { netlinkError } from "./errors.js";
import { RTM_DELLINK, RTM_NEWLINK, RTNLGRP_LINK } from "./nl/constants.js";
import { decodeLink } from "./nl/messages.js";
import { parseMessages } from "./nl/wire.js";
import type { Channel } from "./transport/channel.js";
import type { Link } from "./types.js";

/**
 * A link notification: a device appeared or changed (`new`), or went away (`del`); `overrun`
 * means the kernel dropped notifications (the socket buffer was full) — list the links again.
 */
export type LinkEvent =
  | { readonly type: "new"; readonly link: Link }
  | { readonly type: "del"; readonly link: Link }
  | { readonly type: "overrun" };

/** Events kept for a slow reader before the oldest give way to one `overrun`. */
const MAX_QUEUED = 4096;

/**
 * Link notifications. Iterate with `for await`; `close()` (or the `signal` given to
 * `linkSubscribe`) ends the iteration and releases the socket. When the socket (or the
 * namespace agent holding it) dies instead, the iteration throws that `NETLINK_ERROR` once the
 * queued events are read: a silent end would look like a requested one.
 *
 * @example
 * ```ts
 * await using sub = await handle.linkSubscribe();
 * for await (const ev of sub) if (ev.type === "del") console.log(ev.link.name, "deleted");
 * ```
 */
export class LinkSubscription implements AsyncIterable<LinkEvent>, AsyncDisposable {
  private readonly queue: LinkEvent[] = [];
  private waiter: {
    resolve(r: IteratorResult<LinkEvent>): void;
    reject(e: unknown): void;
  } | null = null;
  private done = false;
  private error: FlannelError | null = null;
  private channel: Channel | null = null;
  private signal: AbortSignal | null = null;
  private readonly onAbort = () => this.close();

  /** @internal */
  push(ev: LinkEvent): void {
    if (this.done) return;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: ev, done: false });
      return;
    }
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.length = 0;
      this.queue.push({ type: "overrun" });
    }
    this.queue.push(ev);
  }

  /** Ends the stream; with `error`, the socket died and the reader gets it. @internal */
  end(error?: FlannelError): void {
    if (this.done) return;
    this.done = true;
    this.error = error ?? null;
    this.signal?.removeEventListener("abort", this.onAbort);
    this.signal = null;
    const w = this.waiter;
    this.waiter = null;
    if (w === null) return;
    if (this.error === null) w.resolve({ value: undefined, done: true });
    else w.reject(this.error);
  }

  /** @internal */
  attach(channel: Channel, signal?: AbortSignal): void {
    this.channel = channel;
    channel.setActive(true);
    if (signal) {
      if (signal.aborted) this.close();
      else {
        this.signal = signal;
        signal.addEventListener("abort", this.onAbort, { once: true });
      }
    }
  }

  /**
   * The next event; resolves `done` once closed.
   * @throws FlannelError `NETLINK_ERROR` when the socket or its namespace agent died
   */
  next(): Promise<IteratorResult<LinkEvent>> {
    const ev = this.queue.shift();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.done) {
      return this.error === null
        ? Promise.resolve({ value: undefined, done: true })
        : Promise.reject(this.error);
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  [Symbol.asyncIterator](): AsyncIterator<LinkEvent> {
    return {
      next: () => this.next(),
      return: async () => {
        this.close();
        return { value: undefined, done: true };
      },
    };
  }

  /** Stops the subscription and closes its socket. Idempotent. */
  close(): void {
    // ended first: the channel's closing report is then not taken for a death
    this.end();
    this.error = null;
    const ch = this.channel;
    this.channel = null;
    ch?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/**
 * `NetlinkHandle.linkSubscribe`'s body: a channel of its own from `openChannel`, joined to
 * `RTNLGRP_LINK`, its datagrams decoded into a {@link LinkSubscription}. @internal
 */
export async function subscribeLinks(
  openChannel: OpenChannel,
  signal?: AbortSignal,
): Promise<LinkSubscription> {
  const sub = new LinkSubscription();
  const channel = await openChannel(
    {
      datagram: (d) => {
        for (const m of parseMessages(d)) {
          if (m.type === RTM_NEWLINK) sub.push({ type: "new", link: decodeLink(m.body) });
          else if (m.type === RTM_DELLINK) sub.push({ type: "del", link: decodeLink(m.body) });
        }
      },
      socketError: (errno) => {
        if (errno === "ENOBUFS") sub.push({ type: "overrun" });
      },
      sendError: () => {},
      // after sub.close() this is a no-op; otherwise the socket or its agent died
      closed: (errno, message) =>
        sub.end(
          netlinkError(errno, "ip monitor link", message, { closed: true }, undefined, {
            retryable: false,
          }),
        ),
    },
    signal,
  );
  try {
    await channel.addMembership(RTNLGRP_LINK);
  } catch (e) {
    channel.close();
    throw e;
  }
  sub.attach(channel, signal);
  return sub;
}
