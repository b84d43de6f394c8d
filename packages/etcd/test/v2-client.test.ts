import { etcdctl, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EtcdV2Client,
  V2_EVENT_INDEX_CLEARED,
  V2_KEY_NOT_FOUND,
  V2_NODE_EXIST,
  v2ErrorCode,
} from "../src/index.js";

const run = tierGate("etcd", etcdMissingReason());

async function codeOf(p: Promise<unknown>): Promise<number | string | undefined> {
  try {
    await p;
  } catch (e) {
    return v2ErrorCode(e) ?? (e as { code?: string }).code;
  }
  return undefined;
}

describe.runIf(run)("EtcdV2Client against etcd 3.4 --enable-v2", () => {
  const etcd = etcdPerSuite({ enableV2: true });
  let client: EtcdV2Client;
  beforeAll(async () => {
    client = new EtcdV2Client({ endpoints: [etcd.clientUrl] });
  });
  afterAll(async () => {
    client?.close();
  });

  it("creates with prevExist=false once, then reports 105", async () => {
    const r = await client.set("/t/a", "1", { prevExist: false, ttl: 86400 });
    expect(r.action).toBe("create");
    expect(r.node.ttl).toBe(86400);
    expect(Date.parse(r.node.expiration!)).toBeGreaterThan(Date.now() + 86_000_000);
    expect(await codeOf(client.set("/t/a", "2", { prevExist: false }))).toBe(V2_NODE_EXIST);
    expect((await client.get("/t/a")).node.value).toBe("1");
  });

  it("reports 100 for a missing key and lists a directory recursively", async () => {
    expect(await codeOf(client.get("/t/missing"))).toBe(V2_KEY_NOT_FOUND);
    await client.set("/t/d/x", "x");
    await client.set("/t/d/y", "y");
    const r = await client.get("/t/d", { recursive: true, quorum: true });
    expect(r.node.nodes?.map((n) => n.key).sort()).toEqual(["/t/d/x", "/t/d/y"]);
    expect(r.etcdIndex).toBeGreaterThan(0n);
  });

  it("sees what etcdctl (API 2) wrote and vice versa", async () => {
    await etcdctl(["mk", "/t/ctl", "from-etcdctl"], { api: 2, endpoints: [etcd.clientUrl] });
    expect((await client.get("/t/ctl")).node.value).toBe("from-etcdctl");
    await client.set("/t/mine", "from-sdk");
    expect(await etcdctl(["get", "/t/mine"], { api: 2, endpoints: [etcd.clientUrl] })).toBe(
      "from-sdk\n",
    );
  });

  it("long-polls with waitIndex and aborts with the signal", async () => {
    const start = (await client.get("/t", { recursive: true })).etcdIndex;
    const watch = client.get("/t", { wait: true, recursive: true, waitIndex: start + 1n });
    await client.set("/t/w", "v");
    const ev = await watch;
    expect(ev.action).toBe("set");
    expect(ev.node.key).toBe("/t/w");
    const ac = new AbortController();
    const pending = client.get("/t", { wait: true, recursive: true, signal: ac.signal });
    ac.abort();
    expect(await codeOf(pending)).toBe("ABORTED");
  });

  it("reports 401 when waitIndex fell out of the 1000-event history", async () => {
    const start = (await client.get("/t", { recursive: true })).etcdIndex;
    for (let i = 0; i < 1010; i += 50) {
      await Promise.all(
        Array.from({ length: 50 }, (_, j) => client.set(`/t/h/${(i + j) % 7}`, String(i + j))),
      );
    }
    expect(
      await codeOf(client.get("/t", { wait: true, recursive: true, waitIndex: start + 1n })),
    ).toBe(V2_EVENT_INDEX_CLEARED);
  });

  it("fails over to the next endpoint and rejects with ETCD_UNAVAILABLE when none answers", async () => {
    const two = new EtcdV2Client({ endpoints: ["http://127.0.0.1:1", etcd.clientUrl] });
    try {
      expect((await two.get("/t/a")).node.value).toBe("1");
    } finally {
      two.close();
    }
    const none = new EtcdV2Client({ endpoints: ["http://127.0.0.1:1"] });
    try {
      expect(await codeOf(none.get("/t/a"))).toBe("ETCD_UNAVAILABLE");
    } finally {
      none.close();
    }
  });

  it("close() ends a pending watch with STORE_CLOSED", async () => {
    const c = new EtcdV2Client({ endpoints: [etcd.clientUrl] });
    const pending = c.get("/t", { wait: true, recursive: true });
    await new Promise((r) => setTimeout(r, 50));
    c.close();
    expect(await codeOf(pending)).toBe("STORE_CLOSED");
  });
});
