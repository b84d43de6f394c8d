/**
 * Keeping a lease alive the way flanneld does (v0.28 `LocalManager.CompleteLease`, v0.11
 * `main.go` `MonitorLease`, which exits on "Lease has been revoked"): renew at expiration minus the renew margin,
 * retry every minute on error, and say when the lease is gone. The state machine
 * (docs/etcd-watch.md):
 *
 *   WAIT(expiration − margin) ──renew ok──▶ renewed, WAIT(new expiration − margin)
 *        │ renew error ──▶ renewFailed, WAIT(retryInterval) ──▶ renew …
 *        │ expiration passes by the local clock (also while a renew hangs) ──▶ lost "expired"
 *        │ renew says LEASE_NOT_FOUND ──▶ lost "deleted" / "taken"
 *        │ own key deleted or rewritten by another node (watch) ──▶ lost "deleted" / "taken"
 *        └ close() / signal ──▶ ended
 *
 * A reservation (no expiration) is never renewed; only the watch can report it lost.
 */
import { type Clock, systemClock, type TimerHandle } from "../clock.js";
import { FlannelError, isFlannelError } from "../errors.js";
import type { Lease } from "./types.js";

/** What a {@link LeaseKeeper} reports. */
export type LeaseKeeperEvent =
  | { readonly type: "renewed"; readonly lease: Lease }
  | {
      readonly type: "renewFailed";
      readonly lease: Lease;
      readonly error: FlannelError;
      /** When the next attempt runs. */
      readonly retryInMs: number;
    }
  | {
      readonly type: "lost";
      readonly lease: Lease;
      /**
       * `expired`: not renewed before its expiration (by the local clock, so also when the store
       * went silent); `deleted`: the key is gone (revoked, expired in the store, deleted);
       * `taken`: the key now belongs to another node (a renewal's `LEASE_NOT_FOUND` carries
       * `details.holder`, or the watch saw another node's value).
       */
      readonly reason: "expired" | "deleted" | "taken";
      readonly error?: FlannelError;
    };

/** What the own-lease watch of a store reports to a {@link LeaseKeeper}. */
export type OwnLeaseState =
  | { readonly type: "present"; readonly lease: Lease }
  | { readonly type: "taken"; readonly lease: Lease }
  | { readonly type: "absent" };

/** Options of `keepLease`. */
export interface KeepLeaseOptions {
  /**
   * Renew this long before the lease expires, in milliseconds (flanneld
   * `--subnet-lease-renew-margin`, given there in minutes). Default 60 min.
   */
  readonly renewMargin?: number;
  /** Wait after a failed renewal, in milliseconds. Default 60 s (flannel's "1 min"). */
  readonly retryInterval?: number;
  /** Also called for every event, before it is queued for iteration. */
  readonly onEvent?: (event: LeaseKeeperEvent) => void;
  /** Stops keeping the lease (the lease itself is left alone). */
  readonly signal?: AbortSignal;
  /** Timers and time. Default the system clock (or the store's clock). */
  readonly clock?: Clock;
}

/** What a store gives a {@link LeaseKeeper}. */
export interface LeaseKeeperDriver {
  renew(lease: Lease, signal: AbortSignal): Promise<Lease>;
  /** Watches the lease's own key until `signal` aborts; optional. */
  watchOwn?(lease: Lease, signal: AbortSignal): AsyncIterable<OwnLeaseState>;
}

const HOUR = 3_600_000;

/**
 * Keeps one lease: renews it on time and reports `renewed`, `renewFailed` and `lost`. Iterate it
 * (`for await`) or pass `onEvent`; iteration ends after `lost` or {@link close}. Get one from
 * any store's `LeaseStore.keepLease`.
 *
 * @example
 * ```ts
 * await using keeper = store.keepLease(lease, { renewMargin: 60 * 60_000 });
 * for await (const event of keeper) {
 *   if (event.type === "lost") process.exit(0); // flanneld: "Lease has been revoked"
 * }
 * ```
 */
export class LeaseKeeper implements AsyncIterable<LeaseKeeperEvent>, AsyncDisposable {
  readonly #driver: LeaseKeeperDriver;
  readonly #clock: Clock;
  readonly #margin: number;
  readonly #retry: number;
  readonly #onEvent: ((event: LeaseKeeperEvent) => void) | undefined;
  readonly #stop = new AbortController();
  readonly #queue: LeaseKeeperEvent[] = [];
  readonly #waiting: ((r: IteratorResult<LeaseKeeperEvent>) => void)[] = [];
  #lease: Lease;
  #renewTimer: TimerHandle | undefined;
  #expiryTimer: TimerHandle | undefined;
  #renewing: AbortController | null = null;
  #ended = false;
  #lost: LeaseKeeperEvent | null = null;
  #resolveDone!: (event: LeaseKeeperEvent | null) => void;
  /** Resolves when keeping ends: with the `lost` event, or `null` after close. */
  readonly done: Promise<LeaseKeeperEvent | null>;

  /** @internal use a store's `keepLease`. */
  constructor(lease: Lease, driver: LeaseKeeperDriver, options: KeepLeaseOptions = {}) {
    this.#lease = lease;
    this.#driver = driver;
    this.#clock = options.clock ?? systemClock;
    this.#margin = options.renewMargin ?? HOUR;
    this.#retry = options.retryInterval ?? 60_000;
    this.#onEvent = options.onEvent;
    if (!(this.#margin >= 0) || !(this.#retry > 0)) {
      throw new FlannelError("INVALID_ARGUMENT", "renewMargin must be ≥ 0 and retryInterval > 0", {
        field: this.#margin >= 0 ? "retryInterval" : "renewMargin",
      });
    }
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    if (options.signal?.aborted) {
      this.#end();
      return;
    }
    options.signal?.addEventListener("abort", () => this.#end(), { once: true });
    this.#schedule();
    if (driver.watchOwn) void this.#watch(driver.watchOwn.bind(driver));
  }

  /** The lease as last written (the renewed one after each renewal). */
  get lease(): Lease {
    return this.#lease;
  }

  /** True once the lease was reported lost. */
  get lost(): boolean {
    return this.#lost !== null;
  }

  /** Stops renewing and watching; the lease is left to expire. Idempotent. */
  async close(): Promise<void> {
    this.#end();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#end();
  }

  [Symbol.asyncIterator](): AsyncIterator<LeaseKeeperEvent> {
    return {
      next: () => {
        const value = this.#queue.shift();
        if (value !== undefined) return Promise.resolve({ done: false, value });
        if (this.#ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.#waiting.push(resolve));
      },
      return: () => {
        this.#end();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  #emit(event: LeaseKeeperEvent): void {
    if (this.#ended) return;
    try {
      this.#onEvent?.(event);
    } catch {
      // a throwing listener must not stop the renewals
    }
    const reader = this.#waiting.shift();
    if (reader) reader({ done: false, value: event });
    else this.#queue.push(event);
  }

  #clearTimers(): void {
    if (this.#renewTimer !== undefined) this.#clock.clearTimeout(this.#renewTimer);
    if (this.#expiryTimer !== undefined) this.#clock.clearTimeout(this.#expiryTimer);
    this.#renewTimer = undefined;
    this.#expiryTimer = undefined;
  }

  #schedule(delayOverride?: number): void {
    if (this.#ended) return;
    this.#clearTimers();
    const expiration = this.#lease.expiration;
    if (expiration === null) return;
    const left = expiration.getTime() - this.#clock.now();
    const delay = delayOverride ?? Math.max(0, left - this.#margin);
    this.#renewTimer = this.#clock.setTimeout(() => void this.#renew(), delay);
    this.#expiryTimer = this.#clock.setTimeout(() => this.#loseLease("expired"), Math.max(0, left));
  }

  async #renew(): Promise<void> {
    if (this.#ended || this.#renewing) return;
    const attempt = new AbortController();
    this.#renewing = attempt;
    const onStop = () => attempt.abort();
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      const renewed = await this.#driver.renew(this.#lease, attempt.signal);
      if (this.#ended) return;
      this.#lease = renewed;
      this.#emit({ type: "renewed", lease: renewed });
      this.#schedule();
    } catch (e) {
      if (this.#ended) return;
      const error = isFlannelError(e)
        ? e
        : new FlannelError("STORE_ERROR", `renewing the lease failed: ${String(e)}`, {
            cause: e,
          });
      if (isFlannelError(error, "LEASE_NOT_FOUND")) {
        this.#loseLease(error.details.holder === undefined ? "deleted" : "taken", error);
        return;
      }
      const expiration = this.#lease.expiration;
      const left =
        expiration === null ? Number.POSITIVE_INFINITY : expiration.getTime() - this.#clock.now();
      const retryInMs = Math.min(this.#retry, Math.max(0, left));
      this.#emit({ type: "renewFailed", lease: this.#lease, error, retryInMs });
      if (this.#renewTimer !== undefined) this.#clock.clearTimeout(this.#renewTimer);
      this.#renewTimer = this.#clock.setTimeout(() => void this.#renew(), this.#retry);
    } finally {
      this.#stop.signal.removeEventListener("abort", onStop);
      if (this.#renewing === attempt) this.#renewing = null;
    }
  }

  async #watch(watchOwn: NonNullable<LeaseKeeperDriver["watchOwn"]>): Promise<void> {
    try {
      for await (const state of watchOwn(this.#lease, this.#stop.signal)) {
        if (this.#ended) return;
        if (state.type === "absent") {
          this.#loseLease("deleted");
          return;
        }
        if (state.type === "taken") {
          this.#loseLease("taken");
          return;
        }
        // Our key, rewritten (by us or another instance of this node): a later expiration counts.
        const seen = state.lease.expiration;
        const mine = this.#lease.expiration;
        if (mine !== null && seen !== null && seen.getTime() > mine.getTime()) {
          this.#lease = { ...this.#lease, expiration: seen };
          if (!this.#renewing) this.#schedule();
        }
      }
    } catch {
      // The watch gave up (permission, closed store): renewals still report failures and expiry.
    }
  }

  #loseLease(reason: "expired" | "deleted" | "taken", error?: FlannelError): void {
    if (this.#ended) return;
    const event: LeaseKeeperEvent = {
      type: "lost",
      lease: this.#lease,
      reason,
      ...(error ? { error } : {}),
    };
    this.#emit(event);
    this.#lost = event;
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clearTimers();
    this.#stop.abort();
    this.#renewing?.abort();
    for (const r of this.#waiting.splice(0)) r({ done: true, value: undefined });
    this.#resolveDone(this.#lost);
  }
}
