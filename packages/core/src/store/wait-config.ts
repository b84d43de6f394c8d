/**
 * flanneld's start-up wait for its network config (flannel `main.go`, `getConfig`): a
 * missing or invalid config is not fatal; it is fetched again every second until it is usable.
 */

import { sleep } from "../clock.js";
import type { NetworkConfig } from "../config/types.js";
import { FlannelError, isFlannelError, throwIfAborted } from "../errors.js";
import type { LeaseStore } from "./types.js";

/** Options of {@link waitForNetworkConfig}. */
export interface WaitForNetworkConfigOptions {
  /** Stops waiting; the call then rejects with `ABORTED`. */
  readonly signal?: AbortSignal;
  /** Delay between attempts in ms. Default 1000 (flanneld's). */
  readonly intervalMs?: number;
  /**
   * Called after each failed attempt, before the wait; flanneld logs
   * `Couldn't fetch network config: <message>`.
   */
  readonly onError?: (error: FlannelError, attempt: number) => void;
  /** Waits `ms` (injectable for tests). Default a timer that the signal cancels. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

// An abort ends the pause early; the loop then throws ABORTED.
const pause = (ms: number, signal?: AbortSignal): Promise<void> =>
  sleep(ms, signal ? { signal } : {}).catch(() => undefined);

/**
 * Reads the network config from a store, retrying every `intervalMs` while it is missing
 * (`CONFIG_NOT_FOUND`), invalid (`CONFIG_INVALID`) or the store is unreachable, as flanneld
 * does forever. Only an abort or a closed store ends the wait.
 *
 * @throws FlannelError `ABORTED`, `STORE_CLOSED`
 * @example
 * ```ts
 * const config = await waitForNetworkConfig(store, {
 *   signal,
 *   onError: (e) => console.error(`Couldn't fetch network config: ${e.message}`),
 * });
 * ```
 */
export async function waitForNetworkConfig(
  store: Pick<LeaseStore, "getNetworkConfig">,
  options: WaitForNetworkConfigOptions = {},
): Promise<NetworkConfig> {
  const { signal } = options;
  const wait = options.sleep ?? pause;
  for (let attempt = 1; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await store.getNetworkConfig(signal ? { signal } : {});
    } catch (e) {
      throwIfAborted(signal);
      if (isFlannelError(e, "STORE_CLOSED") || isFlannelError(e, "ABORTED")) throw e;
      const error = isFlannelError(e)
        ? e
        : new FlannelError("CONFIG_NOT_FOUND", e instanceof Error ? e.message : String(e), {
            cause: e,
            retryable: true,
          });
      options.onError?.(error, attempt);
      await wait(options.intervalMs ?? 1000, signal);
    }
  }
}
