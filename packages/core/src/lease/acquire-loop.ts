/**
 * The acquisition loop every `LeaseStore` runs (memory, etcd v3, etcd v2): read, decide with
 * {@link planLeaseAcquisition}, write conditionally; a write that loses a race is retried after a
 * jittered, growing pause, a bounded number of times. (flannel v0.28's `tryAcquireLease` loop in
 * `pkg/subnet/etcd/local_manager.go` means to retry but compares the wrong error, so a lost race
 * makes flanneld exit; we retry.)
 */
import type { AllocationStrategy } from "../allocator/subnet-allocator.js";
import { Backoff, type BackoffOptions, type Clock, sleep } from "../clock.js";
import type { NetworkConfig } from "../config/types.js";
import { FlannelError, isFlannelError, throwIfAborted } from "../errors.js";
import type { AcquireLeaseOptions } from "../store/types.js";
import {
  LEASE_RACE_RETRIES,
  type LeaseAcquisitionPlan,
  normalizeLeaseAttrs,
  planLeaseAcquisition,
} from "./acquire.js";
import type { Lease, LeaseAttrs } from "./types.js";

/** What one attempt of {@link runLeaseAcquisition} reads. */
export interface LeaseAcquisitionSnapshot {
  /** The validated network config. */
  readonly config: NetworkConfig;
  /** Every live lease, in key order (read when the plan is made). */
  readonly leases: readonly Lease[];
}

/** The store side of {@link runLeaseAcquisition}. */
export interface LeaseAcquisitionBackend {
  /**
   * Reads config and leases (`CONFIG_NOT_FOUND`, `CONFIG_INVALID`, the store's errors; an error
   * with `retryable` costs one attempt).
   */
  snapshot(signal: AbortSignal | undefined): Promise<LeaseAcquisitionSnapshot>;
  /**
   * Carries out the plan — its deletions, then its write — atomically or conditionally; resolves
   * `null` when a condition failed (a lost race: the key appeared since the read, or the reused
   * lease changed hands), and the loop starts over.
   */
  commit(plan: LeaseAcquisitionPlan, signal: AbortSignal | undefined): Promise<Lease | null>;
}

/** Options of {@link runLeaseAcquisition}. */
export interface RunLeaseAcquisitionOptions extends AcquireLeaseOptions {
  /** Attempts before `MAX_RETRIES`. Default {@link LEASE_RACE_RETRIES}. */
  readonly attempts?: number;
  /** Allocation strategy for a new subnet. Default `"random"` (flannel's). */
  readonly strategy?: AllocationStrategy;
  /** RNG in [0, 1) for the allocation and the retry jitter. Default `Math.random`. */
  readonly random?: () => number;
  /** Timers of the pauses between attempts. Default the system clock. */
  readonly clock?: Clock;
  /**
   * The pauses between attempts. Default 10–20 ms doubling up to 0.5–1 s, with jitter (racing
   * nodes spread out); `false` retries at once (a store whose racers all live in one process,
   * such as `MemoryLeaseStore`, where the next read already sees the winner).
   */
  readonly backoff?: Pick<BackoffOptions, "initialMs" | "maxMs"> | false;
}

/**
 * Runs attempts until one commits. A lost race or a retryable failure (`retryable`, such as
 * `ETCD_UNAVAILABLE`) costs one attempt; between attempts it waits 10–20 ms, doubling up to
 * 0.5–1 s, with jitter, so racing nodes spread out (see `backoff`). When the last attempt failed on a retryable
 * error, that error is thrown; when it lost a race, `MAX_RETRIES`. `onNote` receives flanneld's
 * log lines for each decision (`Found lease … reusing`, `Allocated lease …`).
 *
 * @throws FlannelError `MAX_RETRIES` (`max retries reached trying to acquire a subnet`),
 *   `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`, `LEASE_INVALID`, `ABORTED`, and the
 *   store's errors
 * @example
 * ```ts
 * const lease = await runLeaseAcquisition(
 *   { snapshot: async () => ({ config, leases: [] }), commit: async (plan) => write(plan) },
 *   attrs,
 *   { previousSubnet: "10.5.52.0/24", strategy: "hashed" },
 * );
 * ```
 */
export async function runLeaseAcquisition(
  backend: LeaseAcquisitionBackend,
  attrs: LeaseAttrs,
  options: RunLeaseAcquisitionOptions = {},
): Promise<Lease> {
  const { signal } = options;
  const attempts = options.attempts ?? LEASE_RACE_RETRIES;
  const normalized = normalizeLeaseAttrs(attrs);
  const backoff =
    options.backoff === false
      ? null
      : new Backoff({
          initialMs: 20,
          maxMs: 1000,
          ...options.backoff,
          ...(options.random ? { random: options.random } : {}),
        });
  let lastError: FlannelError | null = null;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0 && backoff !== null) {
      await sleep(backoff.next(), {
        ...(signal ? { signal } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      });
    }
    throwIfAborted(signal);
    let plan: LeaseAcquisitionPlan;
    let lease: Lease | null;
    try {
      const snapshot = await backend.snapshot(signal);
      throwIfAborted(signal);
      plan = planLeaseAcquisition({
        config: snapshot.config,
        leases: snapshot.leases,
        attrs: normalized,
        previousSubnet: options.previousSubnet ?? null,
        previousIPv6Subnet: options.previousIPv6Subnet ?? null,
        ...(options.strategy ? { strategy: options.strategy } : {}),
        ...(options.random ? { random: options.random } : {}),
      });
      for (const note of plan.notes) options.onNote?.(note);
      lease = await backend.commit(plan, signal);
    } catch (e) {
      // A blip (leader change, reset connection) costs an attempt, not the acquisition; if a
      // write did land before the error, the next attempt finds it by PublicIP and reuses it.
      if (!isFlannelError(e) || !e.retryable || e.code === "MAX_RETRIES") throw e;
      lastError = e;
      options.onNote?.(`acquiring a lease failed (${e.message}), trying again`);
      continue;
    }
    if (lease !== null) {
      options.onNote?.(
        `${plan.write.mode === "update" ? "Renewed" : "Allocated"} lease (ip: ${lease.subnet} ipv6: ${lease.ipv6Subnet ?? "<nil>"}) to current node (${normalized.publicIP})`,
      );
      return lease;
    }
    lastError = null;
    options.onNote?.(
      plan.write.mode === "update"
        ? `lease ${plan.write.subnet} changed hands meanwhile, trying again`
        : `subnet ${plan.write.subnet} was taken meanwhile, trying again`,
    );
  }
  if (lastError !== null) throw lastError;
  throw new FlannelError("MAX_RETRIES", "max retries reached trying to acquire a subnet", {
    retryable: true,
    details: { attempts },
  });
}
