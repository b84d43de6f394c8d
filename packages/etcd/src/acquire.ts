/**
 * The acquisition loop both etcd stores run: read, decide with core's `planLeaseAcquisition`,
 * write conditionally; a write that loses a race is retried after a jittered, growing pause, a
 * bounded number of times. (flannel v0.28 means to retry but compares the wrong error, so a lost
 * race makes flanneld exit — reference §2.4.)
 */
import {
  type AcquireLeaseOptions,
  type AllocationStrategy,
  FlannelError,
  isFlannelError,
  type Lease,
  type LeaseAcquisitionPlan,
  type LeaseAttrs,
  type NetworkConfig,
  planLeaseAcquisition,
  throwIfAborted,
} from "@flannel-sdk/core";
import { Backoff, type Clock, sleep } from "./clock.js";

/** Options of `acquireLease` on the etcd stores. */
export interface EtcdAcquireLeaseOptions extends AcquireLeaseOptions {
  /** Receives flanneld's log lines for each decision (`Found lease … reusing`, …). */
  readonly onNote?: (note: string) => void;
}

/** What one attempt reads. */
export interface AcquisitionSnapshot {
  readonly config: NetworkConfig;
  /** Live leases, in key order. */
  readonly leases: readonly Lease[];
}

/** The store side of {@link acquireWithRetries}. */
export interface AcquisitionBackend {
  snapshot(signal: AbortSignal | undefined): Promise<AcquisitionSnapshot>;
  /** Carries out the plan atomically; `null` when a condition failed (a lost race). */
  commit(plan: LeaseAcquisitionPlan, signal: AbortSignal | undefined): Promise<Lease | null>;
}

/** Settings of {@link acquireWithRetries}. */
export interface AcquisitionSettings {
  readonly attempts: number;
  readonly strategy: AllocationStrategy;
  readonly random?: () => number;
  readonly clock?: Clock;
}

/**
 * Runs attempts until one commits. A lost race or a retryable failure (`ETCD_UNAVAILABLE`)
 * costs one attempt; between attempts it waits 10–20 ms, doubling up to 0.5–1 s, with jitter, so
 * racing nodes spread out. When the last attempt failed on a retryable error, that error is
 * thrown; when it lost a race, `MAX_RETRIES`.
 *
 * @throws FlannelError `MAX_RETRIES`, `OUT_OF_SUBNETS`, `CONFIG_NOT_FOUND`, `CONFIG_INVALID`,
 *   `LEASE_INVALID`, `ABORTED`, and the store's errors
 */
export async function acquireWithRetries(
  backend: AcquisitionBackend,
  attrs: LeaseAttrs,
  options: EtcdAcquireLeaseOptions,
  settings: AcquisitionSettings,
): Promise<Lease> {
  const { signal } = options;
  const backoff = new Backoff({
    initialMs: 20,
    maxMs: 1000,
    ...(settings.random ? { random: settings.random } : {}),
  });
  let lastError: FlannelError | null = null;
  for (let attempt = 0; attempt < settings.attempts; attempt++) {
    if (attempt > 0) {
      await sleep(backoff.next(), {
        ...(signal ? { signal } : {}),
        ...(settings.clock ? { clock: settings.clock } : {}),
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
        attrs,
        previousSubnet: options.previousSubnet ?? null,
        previousIPv6Subnet: options.previousIPv6Subnet ?? null,
        strategy: settings.strategy,
        ...(settings.random ? { random: settings.random } : {}),
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
        `${plan.write.mode === "update" ? "Renewed" : "Allocated"} lease (ip: ${lease.subnet} ipv6: ${lease.ipv6Subnet ?? "<nil>"}) to current node (${attrs.publicIP})`,
      );
      return lease;
    }
    lastError = null;
    options.onNote?.(`subnet ${plan.write.subnet} was taken meanwhile, trying again`);
  }
  if (lastError !== null) throw lastError;
  throw new FlannelError("MAX_RETRIES", "max retries reached trying to acquire a subnet", {
    retryable: true,
    details: { attempts: settings.attempts },
  });
}
