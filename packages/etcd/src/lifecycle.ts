/**
 * What the v2 and the v3 store share of a store's life: open until `close()`, the keepers and
 * watches it must end then, and the one retry policy of `renewLease` and `releaseLease`.
 */
import {
  type Clock,
  FlannelError,
  type KeepLeaseOptions,
  type Lease,
  type LeaseAttrs,
  LeaseKeeper,
  type LeaseKeeperDriver,
  type OwnLeaseState,
  throwIfAborted,
} from "@flannel-sdk/core";
import { decodeLease, sameNode } from "./lease-codec.js";
import type { KeyLayout } from "./prefix.js";

/**
 * How many times `renewLease` and `releaseLease` re-read and rewrite a lease whose conditional
 * write lost to another write of the same key (docs/decisions.md, "One retry policy for renew
 * and release").
 */
export const LEASE_WRITE_ATTEMPTS = 5;

/** What an attempt of {@link retryLeaseWrite} returns when its conditional write lost. */
export const CONFLICT: unique symbol = Symbol("conflict");

/**
 * The retry policy of `renewLease` and `releaseLease`, the same for both stores. flanneld makes
 * one unconditional write and leaves retrying to its renewal loop (a failed renewal is tried
 * again a minute later); our writes are conditional on the revision read, so they can also lose
 * to another write of the key, which flanneld's cannot. So: a lost condition (`CONFLICT`) is
 * retried at once, re-reading the key — the read then decides (gone: `LEASE_NOT_FOUND`, or
 * nothing to release; held by another node: the same) — up to {@link LEASE_WRITE_ATTEMPTS}
 * attempts, then `MAX_RETRIES`; any error (etcd unreachable, …) is thrown at once, as flanneld
 * returns it, for the caller (the keeper: after `retryInterval`) to try again.
 *
 * @throws FlannelError `MAX_RETRIES` (retryable) after {@link LEASE_WRITE_ATTEMPTS} conflicts,
 *   and whatever an attempt throws
 * @internal
 */
export async function retryLeaseWrite<T>(
  what: string,
  key: string,
  attempt: () => Promise<T | typeof CONFLICT>,
): Promise<T> {
  for (let i = 0; i < LEASE_WRITE_ATTEMPTS; i++) {
    const result = await attempt();
    if (result !== CONFLICT) return result;
  }
  throw new FlannelError("MAX_RETRIES", `lease ${key} kept changing while ${what} it`, {
    retryable: true,
    details: { key, attempts: LEASE_WRITE_ATTEMPTS },
  });
}

/**
 * `LEASE_NOT_FOUND` for a lease key that is gone.
 * @internal
 */
export function leaseNotFound(key: string, cause?: unknown): FlannelError {
  return new FlannelError("LEASE_NOT_FOUND", `lease ${key} not found`, {
    ...(cause === undefined ? {} : { cause }),
    details: { key },
  });
}

/**
 * Checks that the value stored at `key` is the lease of the node with `attrs`, before a renewal
 * or a release touches it.
 * @throws FlannelError `LEASE_NOT_FOUND`: the value is unreadable, or belongs to another node
 *   (then with `details.holder`, which the keeper reports as `taken`)
 * @internal
 */
export function checkOwner(keys: KeyLayout, key: string, value: string, attrs: LeaseAttrs): void {
  let stored: LeaseAttrs;
  try {
    stored = decodeLease(keys, key, value, null, 0n).attrs;
  } catch (e) {
    throw new FlannelError("LEASE_NOT_FOUND", `lease ${key} holds an unreadable value`, {
      cause: e,
      details: { key },
    });
  }
  if (!sameNode(attrs, stored)) {
    throw new FlannelError("LEASE_NOT_FOUND", `lease ${key} is now held by ${stored.publicIP}`, {
      details: { key, holder: stored.publicIP },
    });
  }
}

/**
 * What a store's own-lease watch reports for the value now at a lease's key: `present` when it
 * is still that lease's node's (carrying the caller's `Lease.key`), `taken` when another node's,
 * `absent` when it cannot be read (`read` throws).
 * @internal
 */
export function ownLeaseState(lease: Lease, read: () => Lease): OwnLeaseState {
  try {
    const seen = { ...read(), ...(lease.key === undefined ? {} : { key: lease.key }) };
    return sameNode(lease.attrs, seen.attrs)
      ? { type: "present", lease: seen }
      : { type: "taken", lease: seen };
  } catch {
    return { type: "absent" };
  }
}

/**
 * Open/closed, keepers and watches of one store.
 * @internal
 */
export class StoreLifecycle {
  readonly #keepers = new Set<LeaseKeeper>();
  readonly #watches = new Set<AbortController>();
  #closed = false;

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Checks a call may start.
   * @throws FlannelError `ABORTED`, `STORE_CLOSED`
   */
  begin(signal: AbortSignal | undefined): void {
    throwIfAborted(signal);
    if (this.#closed) throw new FlannelError("STORE_CLOSED", "the etcd store is closed");
  }

  /**
   * A keeper of `lease` that `close()` ends.
   * @throws FlannelError `ABORTED`, `STORE_CLOSED`, `INVALID_ARGUMENT`
   */
  keep(
    lease: Lease,
    driver: LeaseKeeperDriver,
    options: KeepLeaseOptions,
    clock: Clock,
  ): LeaseKeeper {
    this.begin(options.signal);
    const keeper = new LeaseKeeper(lease, driver, { clock, ...options });
    this.#keepers.add(keeper);
    void keeper.done.then(() => this.#keepers.delete(keeper));
    return keeper;
  }

  /**
   * A stop signal for one watch: fires when `signal` does or the store closes. Call the
   * returned `end` when the watch ends.
   */
  watch(signal: AbortSignal | undefined): { readonly stop: AbortSignal; end(): void } {
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    if (signal?.aborted) stop.abort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    this.#watches.add(stop);
    return {
      stop: stop.signal,
      end: () => {
        signal?.removeEventListener("abort", onAbort);
        this.#watches.delete(stop);
        stop.abort();
      },
    };
  }

  /** Marks the store closed and ends every keeper and watch; `false` when already closed. */
  async close(): Promise<boolean> {
    if (this.#closed) return false;
    this.#closed = true;
    for (const keeper of [...this.#keepers]) await keeper.close();
    for (const stop of this.#watches) stop.abort();
    this.#watches.clear();
    return true;
  }
}
