import {
  type EtcdServer,
  etcdctl,
  etcdMissingReason,
  startEtcd,
  tierGate,
} from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdV3Connection } from "../src/v3/connection.js";
import { TxnBatcher } from "../src/v3/txn-batcher.js";
import { compare, op } from "../src/v3/wire.js";
import { codeOf, TRANSPORTS, uniquePrefix } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

/** A create-if-absent txn of `key`, as an acquisition commits it. */
const create = (b: TxnBatcher, key: string, value = "v", signal?: AbortSignal) =>
  b.txn([compare.version(key, 0n)], [op.put(key, value)], signal);

describe.runIf(run).each(TRANSPORTS)("TxnBatcher over %s: group commit", (transport) => {
  let etcd: EtcdServer;
  let small: EtcdServer;
  const connections: EtcdV3Connection[] = [];
  const batcher = (server = etcd) => {
    const c = new EtcdV3Connection({ endpoints: [server.clientUrl], transport });
    connections.push(c);
    return new TxnBatcher(c);
  };
  const ctl = async (args: string[]) =>
    (await etcdctl(args, { api: 3, endpoints: [etcd.clientUrl] })).trim();
  beforeAll(async () => {
    etcd = await startEtcd();
    small = await startEtcd({ extraArgs: ["--max-txn-ops=4"] });
  });
  afterAll(async () => {
    for (const c of connections) c.close();
    await etcd?.close();
    await small?.close();
  });

  it("txns of one turn go out as one etcd txn, at most 128 operations each", async () => {
    const prefix = uniquePrefix("batch");
    const b = batcher();
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => create(b, `${prefix}/k${i}`)),
    );
    expect(results.every((r) => r.succeeded)).toBe(true);
    // 300 creates in batches of 128 + 128 + 44: three revisions
    expect(new Set(results.map((r) => r.revision)).size).toBe(3);
    const keys = await ctl(["get", "--prefix", `${prefix}/`, "--keys-only"]);
    expect(keys.split("\n").filter(Boolean)).toHaveLength(300);
  });

  it("a compare that fails fails only its own txn; the others land, the existing value stays", async () => {
    const prefix = uniquePrefix("split");
    await ctl(["put", `${prefix}/k3`, "theirs"]);
    await ctl(["put", `${prefix}/k7`, "theirs"]);
    const b = batcher();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => create(b, `${prefix}/k${i}`, "ours")),
    );
    expect(results.map((r) => r.succeeded)).toEqual([
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      false,
      true,
      true,
    ]);
    expect(await ctl(["get", `${prefix}/k3`, "--print-value-only"])).toBe("theirs");
    expect(await ctl(["get", `${prefix}/k4`, "--print-value-only"])).toBe("ours");
    // the failed batch read the compared keys: the eight that could land went out again
    // together, in one more txn (not halved down to single txns)
    expect(new Set(results.filter((r) => r.succeeded).map((r) => r.revision)).size).toBe(1);
  });

  it("compares a read cannot judge: the batch is halved, each still gets its own answer", async () => {
    const prefix = uniquePrefix("judge");
    const b = batcher();
    // mod_revision(k) > 0 holds only for a key that exists
    await ctl(["put", `${prefix}/a`, "x"]);
    const exists = (key: string) =>
      b.txn([{ key, target: "mod", result: "greater", value: 0n }], [op.put(`${key}-seen`, "y")]);
    const [a, missing] = await Promise.all([exists(`${prefix}/a`), exists(`${prefix}/b`)]);
    expect([a.succeeded, missing.succeeded]).toEqual([true, false]);
    expect(await ctl(["get", `${prefix}/a-seen`, "--print-value-only"])).toBe("y");
    expect(await ctl(["get", `${prefix}/b-seen`])).toBe("");
  });

  it("the same key twice in one turn goes out in two txns (etcd refuses a duplicate key): one lands", async () => {
    const prefix = uniquePrefix("dup");
    const b = batcher();
    const [a, c] = await Promise.all([
      create(b, `${prefix}/k`, "first"),
      create(b, `${prefix}/k`, "second"),
    ]);
    // two txns racing: exactly one lands, as if each were sent alone
    expect([a.succeeded, c.succeeded].filter(Boolean)).toHaveLength(1);
    expect(await ctl(["get", `${prefix}/k`, "--print-value-only"])).toBe(
      a.succeeded ? "first" : "second",
    );
  });

  it("a txn aborted before its batch leaves is answered ABORTED and not written", async () => {
    const prefix = uniquePrefix("abort");
    const b = batcher();
    const ac = new AbortController();
    const aborted = create(b, `${prefix}/gone`, "v", ac.signal);
    const kept = create(b, `${prefix}/kept`);
    ac.abort();
    expect(await codeOf(aborted)).toBe("ABORTED");
    expect((await kept).succeeded).toBe(true);
    expect(await ctl(["get", `${prefix}/gone`])).toBe("");
  });

  it("a server with a lower --max-txn-ops: the batch is split until it fits", async () => {
    const prefix = uniquePrefix("ops");
    const b = batcher(small);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => create(b, `${prefix}/k${i}`)),
    );
    expect(results.every((r) => r.succeeded)).toBe(true);
  });
});
