/**
 * The netns agent is a typed function whose compiled text runs as `node -e`, so it must stay
 * self-contained. From the sources, in this process's own namespace (an rtnetlink socket needs
 * no root): it opens its socket, says so, and exits when its input ends. From the built package
 * (kernel tier): `openHandle({ netns })` reads a namespace this test made through it.
 */
import { execFileSync, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { nativeModulePath } from "../src/transport/native.js";
import { FRAME, NETNS_AGENT_SOURCE, netnsAgentArgv } from "../src/transport/netns-agent.js";
import { kernelTier, Netns } from "./helpers/kernel.js";

// The built package, as a consumer imports it (the test task runs after the build).
const distIndex = fileURLToPath(new URL("../dist/index.mjs", import.meta.url));

describe.runIf(process.platform === "linux")("the netns agent from the sources", () => {
  it("opens its socket, sends READY, exits 0 when its input ends", async () => {
    const argv = netnsAgentArgv({
      nativeModule: nativeModulePath(),
      socketBufferBytes: 1 << 20,
      recvBufferBytes: 65536,
    });
    const child = spawn(process.execPath, ["-e", NETNS_AGENT_SOURCE, ...argv], { stdio: "pipe" });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    const first = await new Promise<Buffer | null>((resolve) => {
      child.stdout.once("data", (d: Buffer) => resolve(d));
      child.once("close", () => resolve(null));
    });
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(stderr).toBe("");
    expect(first?.readUInt32LE(0)).toBe(5);
    expect(first?.[4]).toBe(FRAME.ready);
  });
});

describe.runIf(kernelTier())("the netns agent from the built package", () => {
  const nss = new Netns();
  afterAll(() => nss.cleanup());

  it("openHandle({ netns }) lists the namespace's links", () => {
    const ns = nss.create();
    const names = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `const { openHandle } = await import(${JSON.stringify(distIndex)});
         const h = await openHandle({ netns: ${JSON.stringify(ns)} });
         try { console.log(JSON.stringify((await h.linkList()).map((l) => l.name))); }
         finally { h.close(); }`,
      ],
      { encoding: "utf8" },
    );
    expect(JSON.parse(names)).toEqual(["lo"]);
  });
});
