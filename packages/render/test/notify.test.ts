import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { isFlannelError } from "@flannel-sdk/core";
import { tierGate } from "@flannel-sdk/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { notifySystemd } from "../src/index.js";
import { missingCommand, tempDir } from "./helpers/tools.js";

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

// A real AF_UNIX datagram socket with SO_PASSCRED, as systemd listens: it prints each message
// with the sender's pid from SCM_CREDENTIALS, which is what systemd checks (NotifyAccess=main).
const LISTENER = String.raw`
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = -1
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
    print("pid=%d %s" % (pid, data.decode().replace("\n", "|")), flush=True)
`;

function notifyMissing(): string | null {
  if (process.getuid?.() !== 0)
    return "not root: systemd-notify needs root to send for another pid";
  return missingCommand("systemd-notify", "systemd") ?? missingCommand("python3", "python3");
}

describe.runIf(tierGate("kernel", notifyMissing()))("notifySystemd on a real notify socket", () => {
  let dir: { path: string; cleanup: () => void };
  let listener: ChildProcess;
  let lines: string[];
  beforeEach(async () => {
    dir = tempDir("render-notify-");
    lines = [];
    listener = spawn("python3", ["-c", LISTENER, join(dir.path, "notify.sock")], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    await new Promise<void>((resolve, reject) => {
      listener.once("error", reject);
      listener.stdout!.setEncoding("utf8").on("data", (d: string) => {
        lines.push(...d.split("\n").filter((l) => l !== ""));
        if (lines[0] === "listening") resolve();
      });
    });
  });
  afterEach(() => {
    listener.kill();
    dir.cleanup();
  });

  const received = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (lines.length < n + 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    return lines.slice(1);
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
    await notifySystemd({ READY: "1", STATUS: "Lease acquired" }, { env, pid: listener.pid! });
    const [msg] = await received(1);
    expect(msg).toMatch(new RegExp(`^pid=${listener.pid} `));
    expect(msg).toContain("READY=1");
    expect(msg).toContain("STATUS=Lease acquired");
  });
});
