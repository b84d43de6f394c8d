/**
 * Keeping a device in place: flanneld's vxlan backend watches link notifications and recreates
 * its `flannel.N` when someone deletes it, retrying with a 1 s → 30 s backoff (flannel HEAD's
 * `pkg/backend/vxlan/vxlan_network.go`).
 */
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import type { NetlinkHandle } from "./handle.js";
import type { LinkSubscription } from "./subscription.js";
import type { CallOptions } from "./types.js";

/** What a {@link LinkSupervisor} reports. */
export type LinkSupervisorEvent =
  | { readonly type: "deleted"; readonly name: string }
  | { readonly type: "recreated"; readonly name: string; readonly attempts: number }
  | {
      /**
       * An attempt failed: `recreate` threw, or the notification socket died (`retryInMs` 0:
       * subscribing again now) or could not be opened again.
       */
      readonly type: "failed";
      readonly name: string;
      readonly error: FlannelError;
      /** When the next attempt runs. */
      readonly retryInMs: number;
    };

/** Options of {@link superviseLink}. */
export interface SuperviseLinkOptions extends CallOptions {
  /** The device to keep (`flannel.1`). */
  readonly name: string;
  /**
   * Brings the device (and what hangs off it: address, neighbours, routes) back, e.g.
   * `() => handle.applyPlan(plan)`. Called after the device is deleted; a throw is retried.
   */
  readonly recreate: (signal: AbortSignal) => Promise<unknown>;
  /** First delay after a failed attempt, ms. Default 1000. */
  readonly minBackoffMs?: number;
  /** Longest delay between attempts, ms. Default 30000. */
  readonly maxBackoffMs?: number;
  /** Called for every event. */
  readonly onEvent?: (event: LinkSupervisorEvent) => void;
}

function asFlannelError(e: unknown): FlannelError {
  return e instanceof FlannelError
    ? e
    : new FlannelError("NETLINK_ERROR", e instanceof Error ? e.message : String(e), { cause: e });
}

/**
 * Watches one device and recreates it when it goes away. Get one from {@link superviseLink};
 * `close()` (or the `signal`) stops it and releases its notification socket. When that socket
 * (or the namespace agent holding it) dies, the supervisor reports it as a `failed` event,
 * subscribes again (with the same backoff) and looks whether the device went meanwhile.
 *
 * @example
 * ```ts
 * const sup = await superviseLink(handle, { name: "flannel.1", recreate: () => handle.applyPlan(plan) });
 * await sup.close();
 * ```
 */
export class LinkSupervisor implements AsyncDisposable {
  readonly #handle: NetlinkHandle;
  readonly #options: SuperviseLinkOptions;
  readonly #stop = new AbortController();
  readonly #onAbort = () => void this.close();
  #sub: LinkSubscription;
  /** Resolves when the supervisor has stopped. */
  readonly done: Promise<void>;

  /** @internal use {@link superviseLink}. */
  constructor(handle: NetlinkHandle, sub: LinkSubscription, options: SuperviseLinkOptions) {
    this.#handle = handle;
    this.#sub = sub;
    this.#options = options;
    options.signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.done = this.#loop();
  }

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #loop(): Promise<void> {
    const { name } = this.#options;
    while (!this.#stopped) {
      try {
        for await (const ev of this.#sub) {
          if (this.#stopped) break;
          const gone =
            ev.type === "overrun"
              ? await this.#isGone() // notifications were dropped: look instead
              : ev.type === "del" && ev.link.name === name;
          if (!gone) continue;
          this.#options.onEvent?.({ type: "deleted", name });
          await this.#recreate();
        }
        return; // ended by close() or the signal
      } catch (e) {
        if (this.#stopped) return;
        // the notification socket died: say so, subscribe again, and look
        this.#options.onEvent?.({ type: "failed", name, error: asFlannelError(e), retryInMs: 0 });
      }
      const sub = await this.#retry(() =>
        this.#handle.linkSubscribe({ signal: this.#stop.signal }),
      );
      if (sub === null) return;
      if (this.#stopped) {
        sub.value.close();
        return;
      }
      this.#sub = sub.value;
      if (await this.#isGone()) {
        this.#options.onEvent?.({ type: "deleted", name });
        await this.#recreate();
      }
    }
  }

  #isGone(): Promise<boolean> {
    return this.#handle.linkByName(this.#options.name, { signal: this.#stop.signal }).then(
      (l) => l === null,
      () => false,
    );
  }

  async #recreate(): Promise<void> {
    const done = await this.#retry(() => this.#options.recreate(this.#stop.signal));
    if (done !== null) {
      this.#options.onEvent?.({
        type: "recreated",
        name: this.#options.name,
        attempts: done.attempts,
      });
    }
  }

  /**
   * Runs `attempt` until it succeeds (→ its value and the attempts it took) or the supervisor
   * stops (→ `null`), reporting each failure and waiting `minBackoffMs` doubling to
   * `maxBackoffMs` between them.
   */
  async #retry<T>(attempt: () => Promise<T>): Promise<{ value: T; attempts: number } | null> {
    const min = this.#options.minBackoffMs ?? 1000;
    const max = this.#options.maxBackoffMs ?? 30_000;
    let delay = min;
    for (let attempts = 1; !this.#stopped; attempts++) {
      try {
        return { value: await attempt(), attempts };
      } catch (e) {
        if (this.#stopped) return null;
        this.#options.onEvent?.({
          type: "failed",
          name: this.#options.name,
          error: asFlannelError(e),
          retryInMs: delay,
        });
      }
      await this.#sleep(delay);
      delay = Math.min(delay * 2, max);
    }
    return null;
  }

  /** Waits `ms`, or less when the supervisor stops; leaves no listener behind either way. */
  #sleep(ms: number): Promise<void> {
    const stop = this.#stop.signal;
    return new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(t);
        stop.removeEventListener("abort", wake);
        resolve();
      };
      const t = setTimeout(wake, ms);
      stop.addEventListener("abort", wake, { once: true });
    });
  }

  /** Stops watching (the device stays). Idempotent. */
  async close(): Promise<void> {
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    this.#stop.abort();
    this.#sub.close();
    await this.done.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Recreates a device whenever it is deleted, as flanneld does for `flannel.N`: subscribes to
 * link notifications (its own socket), and on the device's deletion (or after dropped
 * notifications, when the device is missing) calls `recreate` until it succeeds, waiting
 * `minBackoffMs` doubling to `maxBackoffMs` between failures.
 *
 * @throws FlannelError `NETLINK_ERROR` (the subscription could not open), `ABORTED`
 * @example
 * ```ts
 * await using sup = await superviseLink(handle, {
 *   name: "flannel.1",
 *   recreate: (signal) => handle.applyPlan(plan, { signal }),
 *   onEvent: (e) => console.log(e.type, e.name),
 * });
 * ```
 */
export async function superviseLink(
  handle: NetlinkHandle,
  options: SuperviseLinkOptions,
): Promise<LinkSupervisor> {
  throwIfAborted(options.signal);
  const sub = await handle.linkSubscribe(options.signal ? { signal: options.signal } : {});
  return new LinkSupervisor(handle, sub, options);
}
