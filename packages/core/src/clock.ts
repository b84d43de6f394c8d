/**
 * Time as the stores see it — the clock, a cancellable sleep, a jittered backoff — injectable so
 * renewal, expiry and retries can be tested without waiting. No Node built-ins: the global
 * `setTimeout` of every engine.
 */
import { FlannelError } from "./errors.js";

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** Wall-clock time and timers. The default is the system clock ({@link systemClock}). */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The system clock (`Date.now`, `setTimeout`); timers longer than `setTimeout` allows are
 * clamped.
 *
 * @example
 * ```ts
 * const keeper = store.keepLease(lease, { clock: systemClock }); // the default
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, Math.max(0, Math.min(ms, 2 ** 31 - 1))),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/**
 * Resolves after `ms` on `clock`; rejects with `ABORTED` when `signal` fires first.
 *
 * @throws FlannelError `ABORTED`
 * @example
 * ```ts
 * await sleep(100, { signal });
 * ```
 */
export function sleep(
  ms: number,
  options: { signal?: AbortSignal; clock?: Clock } = {},
): Promise<void> {
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clock.clearTimeout(handle);
      reject(new FlannelError("ABORTED", "the operation was aborted", { cause: signal?.reason }));
    };
    const handle = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Options of {@link Backoff}. */
export interface BackoffOptions {
  /** First delay. Default 100 ms. */
  readonly initialMs?: number;
  /** Cap. Default 5 s. */
  readonly maxMs?: number;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
}

/**
 * Exponential backoff with jitter: the n-th delay is drawn from [d/2, d] where d doubles from
 * `initialMs` up to `maxMs`. The jitter keeps many clients that failed together from retrying
 * together.
 *
 * @example
 * ```ts
 * const backoff = new Backoff({ initialMs: 100, maxMs: 5000 });
 * await sleep(backoff.next());
 * backoff.reset(); // after a success
 * ```
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #random: () => number;
  #ceiling: number;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 100;
    this.#max = options.maxMs ?? 5000;
    this.#random = options.random ?? Math.random;
    this.#ceiling = this.#initial;
  }

  /** The next delay in ms. */
  next(): number {
    const ceiling = this.#ceiling;
    this.#ceiling = Math.min(this.#max, ceiling * 2);
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  /** Starts again from `initialMs`. */
  reset(): void {
    this.#ceiling = this.#initial;
  }
}
