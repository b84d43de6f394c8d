/**
 * A stream of link notifications (`RTNLGRP_LINK`) as an async iterable.
 */
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
 * `linkSubscribe`) ends the iteration and releases the socket.
 *
 * @example
 * ```ts
 * await using sub = await handle.linkSubscribe();
 * for await (const ev of sub) if (ev.type === "del") console.log(ev.link.name, "deleted");
 * ```
 */
export class LinkSubscription implements AsyncIterable<LinkEvent>, AsyncDisposable {
  private readonly queue: LinkEvent[] = [];
  private waiter: ((r: IteratorResult<LinkEvent>) => void) | null = null;
  private done = false;
  private channel: Channel | null = null;

  /** @internal */
  push(ev: LinkEvent): void {
    if (this.done) return;
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w({ value: ev, done: false });
      return;
    }
    if (this.queue.length >= MAX_QUEUED) {
      this.queue.length = 0;
      this.queue.push({ type: "overrun" });
    }
    this.queue.push(ev);
  }

  /** @internal */
  end(): void {
    if (this.done) return;
    this.done = true;
    const w = this.waiter;
    this.waiter = null;
    w?.({ value: undefined, done: true });
  }

  /** @internal */
  attach(channel: Channel, signal?: AbortSignal): void {
    this.channel = channel;
    channel.setActive(true);
    if (signal) {
      if (signal.aborted) this.close();
      else signal.addEventListener("abort", () => this.close(), { once: true });
    }
  }

  /** The next event; resolves `done` once closed. */
  next(): Promise<IteratorResult<LinkEvent>> {
    const ev = this.queue.shift();
    if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
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

  /** Stops the subscription and closes its socket. */
  close(): void {
    const ch = this.channel;
    this.channel = null;
    ch?.close();
    this.end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
