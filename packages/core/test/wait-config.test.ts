import { describe, expect, it } from "vitest";
import {
  type FlannelError,
  INSTALL_GUIDE,
  isFlannelError,
  MemoryLeaseStore,
  type NetworkConfig,
  waitForNetworkConfig,
} from "../src/index.js";

const GUIDE = INSTALL_GUIDE.networkConfig;

describe("waitForNetworkConfig (flanneld's getConfig loop)", () => {
  it("retries every interval while the config is missing or invalid, then returns it", async () => {
    const store = new MemoryLeaseStore();
    const errors: [string, number][] = [];
    const waits: number[] = [];
    let calls = 0;
    const flaky = {
      getNetworkConfig: async (): Promise<NetworkConfig> => {
        calls++;
        if (calls === 2) throw new Error("connection refused"); // not a FlannelError
        if (calls === 3) {
          // an invalid config is retried too
          return Promise.reject(
            await store.putNetworkConfig('{"Network":"10.0.0.0/30"}').catch((e) => e),
          );
        }
        return store.getNetworkConfig();
      },
    };
    const config = await waitForNetworkConfig(flaky, {
      intervalMs: 1000,
      onError: (e, n) => errors.push([e.code, n]),
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 3) await store.putNetworkConfig(GUIDE);
      },
    });
    expect(config.network).toBe("172.30.0.0/16");
    expect(errors).toEqual([
      ["CONFIG_NOT_FOUND", 1],
      ["CONFIG_NOT_FOUND", 2],
      ["CONFIG_INVALID", 3],
    ]);
    expect(waits).toEqual([1000, 1000, 1000]);
    await store.close();
  });

  it("ends with ABORTED when its signal fires, and with STORE_CLOSED at once", async () => {
    const store = new MemoryLeaseStore();
    const ac = new AbortController();
    const waiting = waitForNetworkConfig(store, { signal: ac.signal, intervalMs: 60_000 });
    setTimeout(() => ac.abort(), 20);
    const err = (await waiting.catch((e) => e)) as FlannelError;
    expect(isFlannelError(err, "ABORTED")).toBe(true);
    await store.close();
    let errorsSeen = 0;
    const closed = await waitForNetworkConfig(store, { onError: () => errorsSeen++ }).catch(
      (e) => e,
    );
    expect(isFlannelError(closed, "STORE_CLOSED")).toBe(true);
    expect(errorsSeen).toBe(0);
  });
});
