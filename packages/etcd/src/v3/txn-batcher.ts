/**
 * Group commit for the conditional writes of acquisitions: the txns submitted in one event-loop
 * turn go to etcd as one txn (all compares, all operations). When that txn's compares do not all
 * hold, the batch is split in halves and each half tried again, down to single txns, so every
 * submitter gets exactly the answer its own txn would have had. One raft entry then carries a
 * burst of creates instead of one each (docs/decisions.md, "Acquisitions in one store cooperate").
 */
import { FlannelError, isFlannelError } from "@flannel-sdk/core";
import type { EtcdV3Connection } from "./connection.js";
import type { TxnCompare, TxnRequestOp, TxnResult } from "./wire.js";

/**
 * etcd's default `--max-txn-ops` (compares, and operations per branch, each at most this many).
 * A server with a lower limit answers "too many operations": the batch is then split.
 */
const MAX_TXN_OPS = 128;

const TOO_MANY_OPS = /too many operations in txn request/i;

interface Pending {
  readonly compares: readonly TxnCompare[];
  readonly ops: readonly TxnRequestOp[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: TxnResult) => void;
  readonly reject: (error: unknown) => void;
}

/** Keys a txn writes or compares: two in one etcd txn must not put the same key. */
function keysOf(compares: readonly TxnCompare[], ops: readonly TxnRequestOp[]): string[] {
  const keys = compares.map((c) => String(c.key));
  for (const o of ops) {
    if ("request_put" in o) keys.push(String(o.request_put.key));
    else if ("request_delete_range" in o) keys.push(String(o.request_delete_range.key));
  }
  return keys;
}

/**
 * Sends conditional, success-only txns, several at once where they arrive in the same turn.
 *
 * @example
 * ```ts
 * const batcher = new TxnBatcher(connection);
 * const result = await batcher.txn([compare.version(key, 0n)], [op.put(key, value, leaseId)]);
 * result.succeeded; // exactly as if sent alone
 * ```
 */
export class TxnBatcher {
  readonly #connection: EtcdV3Connection;
  #open: Pending[] = [];
  #openKeys = new Set<string>();
  #compares = 0;
  #ops = 0;

  constructor(connection: EtcdV3Connection) {
    this.#connection = connection;
  }

  /**
   * Commits `ops` if every compare holds. The result's `responses` are empty (acquisitions only
   * need `succeeded` and the revision). @throws FlannelError `ETCD_*`, `ABORTED`, `STORE_CLOSED`
   */
  txn(
    compares: readonly TxnCompare[],
    ops: readonly TxnRequestOp[],
    signal?: AbortSignal,
  ): Promise<TxnResult> {
    return new Promise<TxnResult>((resolve, reject) => {
      // An abort answers the caller at once. Before the batch leaves, its txn is dropped; after,
      // it may land (as a single txn aborted mid-flight may), and a split does not resend it.
      const onAbort = () =>
        reject(new FlannelError("ABORTED", "the operation was aborted", { cause: signal?.reason }));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle =
        <T>(f: (v: T) => void) =>
        (v: T) => {
          signal?.removeEventListener("abort", onAbort);
          f(v);
        };
      const keys = keysOf(compares, ops);
      const fits =
        this.#compares + compares.length <= MAX_TXN_OPS &&
        this.#ops + ops.length <= MAX_TXN_OPS &&
        !keys.some((k) => this.#openKeys.has(k));
      if (!fits) this.#flush();
      if (this.#open.length === 0) setImmediate(() => this.#flush());
      this.#open.push({
        compares,
        ops,
        signal,
        resolve: settle(resolve),
        reject: settle(reject),
      });
      for (const k of keys) this.#openKeys.add(k);
      this.#compares += compares.length;
      this.#ops += ops.length;
    });
  }

  #flush(): void {
    // Whoever gave up before its txn left has had its answer (ABORTED) and is not sent.
    const batch = this.#open.filter((p) => !p.signal?.aborted);
    this.#open = [];
    this.#openKeys = new Set();
    this.#compares = 0;
    this.#ops = 0;
    void this.#send(batch);
  }

  async #send(batch: readonly Pending[]): Promise<void> {
    if (batch.length === 0) return;
    if (batch.length === 1) {
      const one = batch[0]!;
      try {
        one.resolve(await this.#connection.txn(one.compares, one.ops, [], one.signal));
      } catch (e) {
        one.reject(e);
      }
      return;
    }
    let result: TxnResult;
    try {
      result = await this.#connection.txn(
        batch.flatMap((p) => p.compares),
        batch.flatMap((p) => p.ops),
      );
    } catch (e) {
      if (isFlannelError(e) && TOO_MANY_OPS.test(e.message)) {
        await this.#split(batch);
        return;
      }
      for (const p of batch) p.reject(e);
      return;
    }
    if (result.succeeded) {
      for (const p of batch) p.resolve({ ...result, responses: [] });
      return;
    }
    await this.#split(batch);
  }

  #split(batch: readonly Pending[]): Promise<unknown> {
    // Whoever gave up meanwhile has had its answer (ABORTED): not resent.
    const live = batch.filter((p) => !p.signal?.aborted);
    const mid = live.length >> 1;
    return Promise.all([this.#send(live.slice(0, mid)), this.#send(live.slice(mid))]);
  }
}
