import { etcdMissingReason, startTcpProxy, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdV3Connection } from "../src/v3/connection.js";
import { RawWatch, type RawWatchResult, type WatchStatus } from "../src/v3/watch.js";
import { TRANSPORTS } from "./helpers.js";

const run = tierGate("etcd", etcdMissingReason());

/** Applies raw results to a key→value map, as a consumer would. */
function apply(state: Map<string, string>, r: RawWatchResult): void {
  if (r.type === "snapshot") {
    state.clear();
    for (const kv of r.items) state.set(kv.key, kv.value.toString());
  } else {
    for (const ev of r.events) {
      if (ev.type === "put") state.set(ev.kv.key, ev.kv.value.toString());
      else state.delete(ev.kv.key);
    }
  }
}

const pendingNext = new WeakMap<object, Promise<IteratorResult<RawWatchResult>>>();

async function until(
  it: AsyncIterator<RawWatchResult>,
  state: Map<string, string>,
  pred: () => boolean,
  timeoutMs = 15000,
  seen: RawWatchResult[] = [],
) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timeout; state=${JSON.stringify([...state])}`);
    // Keep one next() outstanding across ticks: a dropped next() would swallow a result.
    let pending = pendingNext.get(it);
    if (!pending) {
      pending = it.next();
      pendingNext.set(it, pending);
    }
    const r = await Promise.race([
      pending,
      new Promise<"tick">((res) => setTimeout(() => res("tick"), 200)),
    ]);
    if (r === "tick") continue;
    pendingNext.delete(it);
    if (r.done) throw new Error("watch ended");
    seen.push(r.value);
    apply(state, r.value);
  }
}

describe.runIf(run).each(TRANSPORTS)(
  "RawWatch over %s (etcd v3 watch state machine)",
  (transport) => {
    const etcd = etcdPerSuite();
    let admin: EtcdV3Connection;
    beforeAll(async () => {
      admin = new EtcdV3Connection({ endpoints: [etcd.clientUrl], transport });
    });
    afterAll(async () => {
      admin?.close();
    });

    it("yields a snapshot, then events, with prev values on delete", async () => {
      await admin.put(`/${transport}/w1/a`, "1");
      const conn = new EtcdV3Connection({ endpoints: [etcd.clientUrl], transport });
      const watch = new RawWatch({ connection: conn, key: `/${transport}/w1/`, prefix: true });
      try {
        const first = await watch.next();
        expect(first.value).toMatchObject({ type: "snapshot", reason: "initial" });
        await admin.put(`/${transport}/w1/b`, "2");
        await admin.txn([], [{ request_delete_range: { key: Buffer.from(`/${transport}/w1/a`) } }]);
        const seen: RawWatchResult[] = [];
        const state = new Map<string, string>();
        apply(state, first.value as RawWatchResult);
        await until(
          watch,
          state,
          () => state.size === 1 && state.get(`/${transport}/w1/b`) === "2",
          5000,
          seen,
        );
        const del = seen
          .flatMap((r) => (r.type === "events" ? r.events : []))
          .find((e) => e.type === "delete");
        expect(del?.prevKv?.value.toString()).toBe("1");
      } finally {
        await watch.return();
        conn.close();
      }
    });

    it("resumes from the last revision + 1 after the connection is cut, missing nothing", async () => {
      const proxy = await startTcpProxy({ targetPort: etcd.ports.client });
      const conn = new EtcdV3Connection({ endpoints: [proxy.url()], transport });
      const statuses: WatchStatus[] = [];
      const watch = new RawWatch({
        connection: conn,
        key: `/${transport}/w2/`,
        prefix: true,
        onStatus: (s) => statuses.push(s),
      });
      const state = new Map<string, string>();
      const seen: RawWatchResult[] = [];
      try {
        await until(watch, state, () => seen.length > 0, 5000, seen);
        await admin.put(`/${transport}/w2/before`, "x");
        await until(watch, state, () => state.has(`/${transport}/w2/before`));
        proxy.refuse();
        for (let i = 0; i < 20; i++) await admin.put(`/${transport}/w2/k${i}`, String(i));
        await admin.txn(
          [],
          [{ request_delete_range: { key: Buffer.from(`/${transport}/w2/before`) } }],
        );
        await new Promise((r) => setTimeout(r, 300));
        proxy.resume();
        await until(watch, state, () => state.size === 20 && !state.has(`/${transport}/w2/before`));
        expect(seen.filter((r) => r.type === "snapshot")).toHaveLength(1);
        expect(statuses.some((s) => s.type === "disconnected")).toBe(true);
      } finally {
        await watch.return();
        conn.close();
        await proxy.close();
      }
    });

    it("re-lists once after compaction while cut off: exactly the live set", async () => {
      const proxy = await startTcpProxy({ targetPort: etcd.ports.client });
      const conn = new EtcdV3Connection({ endpoints: [proxy.url()], transport });
      const statuses: WatchStatus[] = [];
      const watch = new RawWatch({
        connection: conn,
        key: `/${transport}/w3/`,
        prefix: true,
        onStatus: (s) => statuses.push(s),
      });
      const state = new Map<string, string>();
      const seen: RawWatchResult[] = [];
      try {
        for (let i = 0; i < 5; i++) await admin.put(`/${transport}/w3/old${i}`, "o");
        await until(watch, state, () => state.size === 5, 5000, seen);
        proxy.refuse();
        for (let i = 0; i < 5; i++)
          await admin.txn(
            [],
            [{ request_delete_range: { key: Buffer.from(`/${transport}/w3/old${i}`) } }],
          );
        for (let i = 0; i < 7; i++) await admin.put(`/${transport}/w3/new${i}`, "n");
        const { revision } = await admin.range(`/${transport}/w3/`, { prefix: true });
        await admin.compact(revision);
        proxy.resume();
        await until(
          watch,
          state,
          () => state.size === 7 && [...state.keys()].every((k) => k.includes("new")),
          15000,
          seen,
        );
        expect(statuses.filter((s) => s.type === "compacted")).toHaveLength(1);
        expect(seen.filter((r) => r.type === "snapshot" && r.reason === "compacted")).toHaveLength(
          1,
        );
        expect([...state.keys()].sort()).toEqual(
          Array.from({ length: 7 }, (_, i) => `/${transport}/w3/new${i}`),
        );
      } finally {
        await watch.return();
        conn.close();
        await proxy.close();
      }
    });

    it("pages a big listing at one revision, in key order", async () => {
      for (let i = 0; i < 10; i++) await admin.put(`/${transport}/w5/k${i}`, String(i));
      await admin.put(`/${transport}/w50`, "beside the prefix");
      const { kvs, revision } = await admin.rangePrefixPaged(`/${transport}/w5/`, { pageSize: 3 });
      expect(kvs.map((kv) => kv.key)).toEqual(
        Array.from({ length: 10 }, (_, i) => `/${transport}/w5/k${i}`),
      );
      expect(kvs.every((kv) => kv.modRevision <= revision)).toBe(true);
    });

    it("notices a silent server (keepalive), reconnects once it answers, and misses nothing", async () => {
      const proxy = await startTcpProxy({ targetPort: etcd.ports.client });
      // etcd refuses gRPC pings more often than every 5 s; the HTTP probe has no such floor.
      const keepaliveMs = transport === "grpc" ? 5000 : 1000;
      const conn = new EtcdV3Connection({
        endpoints: [proxy.url()],
        transport,
        keepaliveMs,
        requestTimeoutMs: 2000,
      });
      const statuses: WatchStatus[] = [];
      const watch = new RawWatch({
        connection: conn,
        key: `/${transport}/w6/`,
        prefix: true,
        onStatus: (st) => statuses.push(st),
      });
      const state = new Map<string, string>();
      try {
        await until(watch, state, () => statuses.some((st) => st.type === "connected"), 5000);
        const pausedAt = Date.now();
        proxy.pause(); // connections stay open, nothing moves: etcd went silent
        for (let i = 0; i < 5; i++) await admin.put(`/${transport}/w6/k${i}`, String(i));
        while (!statuses.some((st) => st.type === "disconnected")) {
          if (Date.now() - pausedAt > keepaliveMs + 5000 + 5000) throw new Error("not noticed");
          await new Promise((r) => setTimeout(r, 100));
        }
        proxy.resume();
        await until(watch, state, () => state.size === 5, 20_000);
        expect([...state.keys()].sort()).toEqual(
          Array.from({ length: 5 }, (_, i) => `/${transport}/w6/k${i}`),
        );
      } finally {
        await watch.return();
        conn.close();
        await proxy.close();
      }
    }, 40_000);

    it("ends (done) when the connection closes, and with the signal", async () => {
      const conn = new EtcdV3Connection({ endpoints: [etcd.clientUrl], transport });
      const watch = new RawWatch({ connection: conn, key: `/${transport}/w4/`, prefix: true });
      await watch.next();
      const pending = watch.next();
      conn.close();
      // closing the connection cancels the stream; the loop notices and ends
      await expect(pending).resolves.toMatchObject({ done: true });
      const conn2 = new EtcdV3Connection({ endpoints: [etcd.clientUrl], transport });
      const ac = new AbortController();
      const w2 = new RawWatch({
        connection: conn2,
        key: `/${transport}/w4/`,
        prefix: true,
        signal: ac.signal,
      });
      await w2.next();
      const p2 = w2.next();
      ac.abort();
      await expect(p2).resolves.toMatchObject({ done: true });
      conn2.close();
    });
  },
);
