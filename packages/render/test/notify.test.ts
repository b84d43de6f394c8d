import { join } from "node:path";
import { isFlannelError } from "@flannel-sdk/core";
import { missingCommand, NotifySocket, tierGate } from "@flannel-sdk/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { notifySystemd } from "../src/index.js";
import { tempDir } from "./helpers/tools.js";

describe("notifySystemd without NOTIFY_SOCKET", () => {
  it("does nothing and says so", async () => {
    expect(await notifySystemd("READY=1", { env: {} })).toBe(false);
    expect(await notifySystemd("READY=1", { env: { NOTIFY_SOCKET: "" } })).toBe(false);
  });

  it("refuses a state that is not NAME=value lines", async () => {
    const err = await notifySystemd("ready", { env: { NOTIFY_SOCKET: "/x" } }).catch((e) => e);
    expect(isFlannelError(err, "INVALID_ARGUMENT")).toBe(true);
  });

  it("a missing helper is NOTIFY_FAILED with errno", async () => {
    const err = await notifySystemd("READY=1", {
      env: { NOTIFY_SOCKET: "/nonexistent/notify" },
      command: "/nonexistent/systemd-notify",
    }).catch((e) => e);
    expect(isFlannelError(err, "NOTIFY_FAILED")).toBe(true);
    expect(err.errno).toBe("ENOENT");
  });
});

function notifyMissing(): string | null {
  if (process.getuid?.() !== 0)
    return "not root: systemd-notify needs root to send for another pid";
  return missingCommand("systemd-notify", "systemd") ?? missingCommand("python3", "python3");
}

describe.runIf(tierGate("kernel", notifyMissing()))("notifySystemd on a real notify socket", () => {
  let dir: { path: string; cleanup: () => void };
  let listener: NotifySocket;
  beforeEach(async () => {
    dir = tempDir("render-notify-");
    listener = await NotifySocket.open(join(dir.path, "notify.sock"));
  });
  afterEach(() => {
    listener.close();
    dir.cleanup();
  });

  const received = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (listener.messages.length < n && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    return listener.messages;
  };

  it("READY=1 arrives credited to this process's pid", async () => {
    const env = { NOTIFY_SOCKET: join(dir.path, "notify.sock") };
    expect(await notifySystemd("READY=1", { env })).toBe(true);
    const [msg] = await received(1);
    expect(msg).toMatch(new RegExp(`^pid=${process.pid} `));
    expect(msg).toContain("READY=1");
  });

  it("several assignments in one message; another pid on request", async () => {
    const env = { NOTIFY_SOCKET: join(dir.path, "notify.sock") };
    await notifySystemd({ READY: "1", STATUS: "Lease acquired" }, { env, pid: listener.pid });
    const [msg] = await received(1);
    expect(msg).toMatch(new RegExp(`^pid=${listener.pid} `));
    expect(msg).toContain("READY=1");
    expect(msg).toContain("STATUS=Lease acquired");
  });
});
