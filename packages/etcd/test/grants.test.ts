import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { etcdMissingReason, startEtcd, tierGate } from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";
import { EtcdLeaseStore } from "../src/index.js";
import { codeOf, expectNoLeakedGrants, node, TRANSPORTS, uniquePrefix } from "./helpers.js";

const built = existsSync(new URL("../dist/index.mjs", import.meta.url));
const run = tierGate(
  "etcd",
  etcdMissingReason() ??
    (built ? null : "packages/etcd/dist is missing: run `npx turbo run build` (npm test does)"),
);

/** 10.20.0.0/22 by /24: 10.20.1.0 … 10.20.3.0, three subnets. */
const THREE_SUBNETS = { Network: "10.20.0.0/22", SubnetLen: 24, Backend: { Type: "vxlan" } };
/** 10.30.0.0/21 by /24: 10.30.1.0 … 10.30.7.0, seven subnets. */
const SEVEN_SUBNETS = { Network: "10.30.0.0/21", SubnetLen: 24, Backend: { Type: "vxlan" } };

describe.runIf(run).each(TRANSPORTS)("etcd lease grants (v3 over %s)", (transport) => {
  it("a failed acquisition revokes its grant, even when the store is closed at once", async () => {
    await using etcd = await startEtcd();
    const prefix = uniquePrefix("grant-fail");
    const open = () => new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
    const winner = open();
    await winner.putNetworkConfig(THREE_SUBNETS);
    for (let i = 1; i <= 3; i++) await winner.acquireLease(node(i));
    for (let i = 4; i < 8; i++) {
      const loser = open();
      expect(await codeOf(loser.acquireLease(node(i)))).toBe("OUT_OF_SUBNETS");
      await loser.close();
    }
    await winner.close();
    await expectNoLeakedGrants(etcd.clientUrl);
  });

  it("an aborted acquisition, or one cut short by close(), leaves no grant", async () => {
    await using etcd = await startEtcd();
    const prefix = uniquePrefix("grant-abort");
    const open = () => new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
    const setup = open();
    await setup.putNetworkConfig(SEVEN_SUBNETS);
    await setup.close();
    for (let i = 0; i < 5; i++) {
      // Aborted while its read and its grant are on their way.
      const store = open();
      const ac = new AbortController();
      const acquiring = store.acquireLease(node(10 + i), { signal: ac.signal });
      await new Promise((r) => setTimeout(r, i));
      ac.abort();
      expect(["ABORTED", "resolved"]).toContain(await codeOf(acquiring));
      await store.close();
      // Closed while acquiring.
      const closing = open();
      const pending = closing.acquireLease(node(20 + i));
      await new Promise((r) => setTimeout(r, i));
      await closing.close();
      expect(["STORE_CLOSED", "ABORTED", "resolved"]).toContain(await codeOf(pending));
    }
    await expectNoLeakedGrants(etcd.clientUrl);
  });

  it("16 processes race for 7 subnets: 7 win, 9 get OUT_OF_SUBNETS, no subnet twice, no grant leaked", async () => {
    await using etcd = await startEtcd();
    const prefix = uniquePrefix("grant-procs");
    const setup = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
    await setup.putNetworkConfig(SEVEN_SUBNETS);
    await setup.close();
    const fixture = new URL("./fixtures/child-acquire.mjs", import.meta.url).pathname;
    // Node starts in ~100 ms per process on a loaded machine: all start acquiring 3 s from now.
    const startAt = Date.now() + 3000;
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const child = spawn(
          process.execPath,
          [fixture, etcd.clientUrl, prefix, transport, String(i), String(startAt)],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => {
          out += d;
        });
        child.stderr.on("data", (d) => {
          err += d;
        });
        return new Promise<{ subnet?: string; code?: string }>((resolve, reject) => {
          child.on("error", reject);
          child.on("exit", (status) => {
            if (status !== 0) reject(new Error(`child ${i} exited ${status}: ${err}`));
            else resolve(JSON.parse(out));
          });
        });
      }),
    );
    const subnets = outcomes.flatMap((o) => (o.subnet ? [o.subnet] : []));
    expect(subnets).toHaveLength(7);
    expect(new Set(subnets).size).toBe(7);
    expect(outcomes.filter((o) => o.code === "OUT_OF_SUBNETS")).toHaveLength(9);
    await expectNoLeakedGrants(etcd.clientUrl);
  }, 60_000);
});
