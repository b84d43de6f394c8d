/**
 * The data plane of a running node, kept: applies run one at a time, a full apply (which reads
 * the kernel) serves every caller that asked before it started, and a lease event is a step
 * that sends only what it touches. What `flanneld-ts` runs; any agent on another store or
 * backend can run the same.
 */
import type { Lease, PlanResult, SkippedLease } from "@flannel-sdk/core";
import type { ApplyReport, Change } from "./apply.js";
import type { NetlinkHandle } from "./handle.js";

/** Options of {@link keepDataPlane}. */
export interface KeepDataPlaneOptions {
  /**
   * The plans of the node (one per address family, in the same order every call) for these
   * remote leases. Called with no argument for a full apply (then it plans every remote lease
   * known now), and with the leases a watch batch touched for a step.
   */
  readonly plan: (leases?: readonly Lease[]) => readonly PlanResult[];
  /** Every change a full apply or a step made, as the command that makes it. */
  readonly onChange?: (change: Change) => void;
  /** A remote lease a full apply leaves out, once when it becomes unusable (flannel logs it). */
  readonly onSkipped?: (skipped: SkippedLease) => void;
  /** Aborts every apply in flight or queued (they reject with `ABORTED`). */
  readonly signal?: AbortSignal;
}

/** What {@link keepDataPlane} returns. */
export interface DataPlaneKeeper {
  /**
   * Applies the whole plan against the kernel (`applyPlan`, family by family). A call while
   * another waits to start shares that one. Rejects with its error (`NETLINK_ERROR`, `ABORTED`).
   */
  apply(): Promise<void>;
  /**
   * The step for one watch batch: plans `touched.before` and `touched.after` (a
   * `LeaseWatcher` batch's `touched`) and sends what differs (`applyPlanChange`), without
   * reading the kernel. When the step fails it applies the whole plan instead; rejects only when
   * that fails too.
   */
  step(touched: {
    readonly before: readonly Lease[];
    readonly after: readonly Lease[];
  }): Promise<void>;
}

/**
 * Keeps a node's data plane on one handle: full applies and incremental steps, queued one at a
 * time in the order asked, so a step never overtakes the apply before it.
 *
 * @throws nothing itself; `apply()` and `step()` reject with FlannelError `NETLINK_ERROR`, `ABORTED`
 * @example
 * ```ts
 * const dp = keepDataPlane(h, {
 *   plan: (leases = watcher.leases) => [planVxlan({ config, ownLease, leases, externalInterface })],
 *   onChange: (c) => console.log(c.command),
 * });
 * await dp.apply();
 * for await (const result of store.watchLeases({ signal })) {
 *   const batch = watcher.apply(result);
 *   await (result.type === "snapshot" ? dp.apply() : dp.step(batch.touched));
 * }
 * ```
 */
export function keepDataPlane(h: NetlinkHandle, options: KeepDataPlaneOptions): DataPlaneKeeper {
  const { plan, signal } = options;
  const call = signal ? { signal } : {};
  const report = (r: ApplyReport) => {
    for (const c of r.changes) options.onChange?.(c);
  };
  let tail: Promise<unknown> = Promise.resolve();
  let waiting: Promise<void> | null = null;
  let skipped = new Set<string>();
  const enqueue = (job: () => Promise<void>) => {
    const run = tail.then(job);
    tail = run.catch(() => {});
    return run;
  };
  const apply = (): Promise<void> => {
    if (waiting) return waiting;
    const run = enqueue(async () => {
      waiting = null;
      const plans = plan();
      const now = new Set<string>();
      for (const p of plans) {
        for (const s of p.skipped) {
          now.add(s.message);
          if (!skipped.has(s.message)) options.onSkipped?.(s);
        }
      }
      skipped = now;
      for (const p of plans) report(await h.applyPlan(p, call));
    });
    waiting = run;
    return run;
  };
  const step: DataPlaneKeeper["step"] = (touched) =>
    enqueue(async () => {
      const before = plan(touched.before);
      const after = plan(touched.after);
      for (let i = 0; i < after.length; i++) {
        report(await h.applyPlanChange(before[i]!, after[i]!, call));
      }
    }).catch(() => apply());
  return { apply, step };
}
