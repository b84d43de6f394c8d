import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { etcdMissingReason, startEtcd, tierGate } from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";
import { TRANSPORTS, uniquePrefix } from "./helpers.js";

const built = existsSync(new URL("../dist/index.mjs", import.meta.url));
const run = tierGate(
  "etcd",
  etcdMissingReason() ??
    (built ? null : "packages/etcd/dist is missing: run `npx turbo run build` (npm test does)"),
);

describe.runIf(run).each(TRANSPORTS)("close() lets the process exit (v3 over %s)", (transport) => {
  it("a child process with watches, keepers and both stores exits by itself after close()", async () => {
    await using etcd = await startEtcd({ enableV2: true });
    const child = spawn(
      process.execPath,
      [
        new URL("./fixtures/child-exit.mjs", import.meta.url).pathname,
        etcd.clientUrl,
        uniquePrefix("exit"),
        transport,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const code = await new Promise<number | string>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve("did not exit within 10 s");
      }, 10_000);
      child.on("exit", (c) => {
        clearTimeout(timer);
        resolve(c ?? "signal");
      });
    });
    expect({ code, out }).toEqual({ code: 0, out: "closed\n" });
  });
});
