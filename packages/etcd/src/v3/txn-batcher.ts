/**
 * Group commit for the conditional writes of acquisitions: the txns submitted in one event-loop
 * turn go to etcd as one txn (all compares, all operations). Its failure branch reads every
 * compared key, so when not all compares hold, the batch learns which txns failed, answers them
 * (not committed, as alone) and sends the rest again; compares it cannot judge from a read make
 * it halve the batch instead. Every submitter gets the answer its own txn would have had. One
 * raft entry then carries a burst of creates instead of one each (docs/decisions.md,
 * "Acquisitions in one store cooperate").
 */

import { Buffer } from "node:buffer";
import { FlannelError } from "@flannel-sdk/core";
import { etcdReason } from "../errors.js";
import type { EtcdV3Connection } from "./connection.js";
import {
  type Bytes,
  type KeyValue,
  op,
  type TxnCompare,
  type TxnRequestOp,
  type TxnResult,
} from "./wire.js";

/**
 * etcd's default `--max-txn-ops` (compares, and operations per branch, each at most this many).
 * A server with a lower limit answers "too many operations": the batch is then split.
 */
const MAX_TXN_OPS = 128;

interface Pending {
  readonly compares: readonly TxnCompare[];
  readonly ops: readonly TxnRequestOp[];
  readonly signal: AbortSignal | undefined;
  readonly resolve: (result: TxnResult) => void;
  readonly reject: (error: unknown) => void;
}

const keyText = (key: Bytes): string =>
  typeof key === "string" ? key : Buffer.from(key).toString();

/** Keys a txn writes or compares: two in one etcd txn must not put the same key. */
function keysOf(compares: readonly TxnCompare[], ops: readonly TxnRequestOp[]): string[] {
  const keys = compares.map((c) => keyText(c.key));
  for (const o of ops) {
    if ("request_put" in o) keys.push(keyText(o.request_put.key));
    else if ("request_delete_range" in o) keys.push(keyText(o.request_delete_range.key));
  }
  return keys;
}

/**
 * Whether a compare holds, judged from the key as read (absent: `undefined`); `null` for a
 * compare a read cannot judge (a key's version other than 0 is not in a range's answer here).
 */
function holds(c: TxnCompare, kv: KeyValue | undefined): boolean | null {
  if ((c.result ?? "equal") !== "equal") return null;
  if (c.target === "version" && c.value === 0n) return kv === undefined;
  if (c.target === "mod") return (kv?.modRevision ?? 0n) === c.value;
  return null;
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
    const compares = batch.flatMap((p) => p.compares);
    const compared = [...new Set(compares.map((c) => keyText(c.key)))];
    let result: TxnResult;
    try {
      result = await this.#connection.txn(
        compares,
        batch.flatMap((p) => p.ops),
        compared.map((key) => op.get(key)),
      );
    } catch (e) {
      if (etcdReason(e) === "too-many-ops") {
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
    const read = new Map<string, KeyValue>();
    for (const r of result.responses) {
      const kv = r.response_range?.kvs[0];
      if (kv) read.set(kv.key, kv);
    }
    const verdicts = batch.map((p) => p.compares.map((c) => holds(c, read.get(keyText(c.key)))));
    if (verdicts.some((v) => v.includes(null))) {
      await this.#split(batch);
      return;
    }
    const again: Pending[] = [];
    batch.forEach((p, i) => {
      if (verdicts[i]!.every(Boolean)) again.push(p);
      else p.resolve({ succeeded: false, revision: result.revision, responses: [] });
    });
    // Everyone's compares held by the read, yet the txn failed: not judged right, so halve.
    if (again.length === batch.length) await this.#split(batch);
    else await this.#send(again.filter((p) => !p.signal?.aborted));
  }

  #split(batch: readonly Pending[]): Promise<unknown> {
    // Whoever gave up meanwhile has had its answer (ABORTED): not resent.
    const live = batch.filter((p) => !p.signal?.aborted);
    const mid = live.length >> 1;
    return Promise.all([this.#send(live.slice(0, mid)), this.#send(live.slice(mid))]);
  }
}
