/**
 * Errors name what failed: the endpoint and the operation, on both v3 transports and on v2, and a
 * timeout says how long it waited. Real sockets on loopback: a port nobody listens on, and a
 * server that accepts connections and never answers (what a hung etcd looks like).
 */
import { createServer, type Server, type Socket } from "node:net";
import { FlannelError } from "@flannel-sdk/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "../src/index.js";
import { TRANSPORTS } from "./helpers.js";

const TIMEOUT_MS = 400;

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as { port: number }).port;
}

async function failure(call: () => Promise<unknown>): Promise<FlannelError> {
  const e = await call().then(
    () => {
      throw new Error("the call succeeded");
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(FlannelError);
  return e as FlannelError;
}

describe("etcd errors name the endpoint and the operation", () => {
  let refused: string;
  let silent: string;
  const sockets = new Set<Socket>();
  const silentServer = createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  beforeAll(async () => {
    const probe = createServer();
    const port = await listen(probe);
    await new Promise((r) => probe.close(r));
    refused = `http://127.0.0.1:${port}`;
    silent = `http://127.0.0.1:${await listen(silentServer)}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silentServer.close(r));
  });

  for (const transport of TRANSPORTS) {
    it(`v3 over ${transport}: a refused endpoint`, async () => {
      await using store = new EtcdLeaseStore({
        endpoints: [refused],
        transport,
        requestTimeoutMs: TIMEOUT_MS,
      });
      const e = await failure(() => store.getNetworkConfig());
      expect(e.code).toBe("ETCD_UNAVAILABLE");
      expect(e.message).toContain(refused.slice("http://".length));
      expect(e.message).toMatch(/range|get/i);
      expect(e.message).not.toMatch(/Resolution note: $/);
    });

    it(`v3 over ${transport}: a server that never answers says how long it waited`, async () => {
      await using store = new EtcdLeaseStore({
        endpoints: [silent],
        transport,
        requestTimeoutMs: TIMEOUT_MS,
      });
      const e = await failure(() => store.getNetworkConfig());
      expect(e.code).toBe("ETCD_UNAVAILABLE");
      expect(e.message).toContain(silent.slice("http://".length));
      expect(e.message).toMatch(/no answer after \d+ ms/);
    });
  }

  it("v2: a refused endpoint and a server that never answers", async () => {
    {
      await using store = new EtcdV2LeaseStore({
        endpoints: [refused],
        requestTimeoutMs: TIMEOUT_MS,
      });
      const e = await failure(() => store.getNetworkConfig());
      expect(e.code).toBe("ETCD_UNAVAILABLE");
      expect(e.message).toContain(refused);
      expect(e.details.endpoint).toBe(refused);
    }
    {
      await using store = new EtcdV2LeaseStore({
        endpoints: [silent],
        requestTimeoutMs: TIMEOUT_MS,
      });
      const e = await failure(() => store.getNetworkConfig());
      expect(e.message).toContain(silent);
      expect(e.message).toContain(`no answer after ${TIMEOUT_MS} ms`);
      expect(e.details).toMatchObject({ timedOut: true, timeoutMs: TIMEOUT_MS });
    }
  });
});
