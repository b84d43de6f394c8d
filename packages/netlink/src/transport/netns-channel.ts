/**
 * A channel whose rtnetlink socket lives in another network namespace.
 *
 * A netlink socket belongs to the namespace of the thread that created it, and Node has no
 * `setns(2)` without a compiled addon. So a tiny agent process (`netns-agent.ts`) is started
 * *inside* the namespace (`nsenter --net=PATH node -e AGENT`): it opens the socket there and
 * forwards datagrams both ways over its stdin/stdout as length-prefixed frames. All protocol
 * logic stays in this process; the agent only moves bytes, so it is the same code path the local
 * socket uses. The agent exits when its stdin closes, so it never outlives the handle or this
 * process.
 * @internal
 */
import { spawn } from "node:child_process";
import { FlannelError } from "@flannel-sdk/core";
import { netlinkError } from "../errors.js";
import {
  type Channel,
  type ChannelEvents,
  RECV_BUFFER_BYTES,
  SOCKET_BUFFER_BYTES,
} from "./channel.js";
import { nativeModulePath } from "./native.js";
import {
  decodeFrames,
  encodeFrame,
  FRAME,
  NETNS_AGENT_SOURCE,
  netnsAgentArgv,
} from "./netns-agent.js";

/** Where a named namespace lives (`ip netns add NAME` → `/run/netns/NAME`); a path is used as is. */
export function netnsPath(netns: string): string {
  if (netns.includes("/")) return netns;
  if (netns === "" || netns === "." || netns === "..") {
    throw new FlannelError("INVALID_ARGUMENT", `invalid network namespace name: "${netns}"`, {
      field: "netns",
    });
  }
  return `/run/netns/${netns}`;
}

/**
 * Starts an agent inside the namespace at `path` and resolves once its socket is open.
 * @throws FlannelError `NETLINK_ERROR` (EPERM without CAP_SYS_ADMIN/root, ENOENT for a missing namespace)
 */
export function openNetnsChannel(
  path: string,
  events: ChannelEvents,
  signal?: AbortSignal,
  /** Command words run between `nsenter` and `node` (tests drop privileges with `setpriv`). */
  launcher: readonly string[] = [],
): Promise<Channel> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(
    "nsenter",
    [
      `--net=${path}`,
      "--",
      ...launcher,
      process.execPath,
      "-e",
      NETNS_AGENT_SOURCE,
      ...netnsAgentArgv({
        nativeModule: nativeModulePath(),
        socketBufferBytes: SOCKET_BUFFER_BYTES,
        recvBufferBytes: RECV_BUFFER_BYTES,
      }),
    ],
    { stdio: ["pipe", "pipe", "pipe"], env },
  );
  const operation = `nsenter --net=${path}`;
  let stderr = "";
  let ready = false;
  let dead = false;
  let pending: Buffer = Buffer.alloc(0);
  const joins = new Map<number, { resolve(): void; reject(e: unknown): void }[]>();

  return new Promise<Channel>((resolve, reject) => {
    const fail = (errno: string, message: string) => {
      if (dead) return;
      dead = true;
      for (const waiters of joins.values()) {
        for (const w of waiters) w.reject(netlinkError(errno, operation, message, { netns: path }));
      }
      joins.clear();
      signal?.removeEventListener("abort", onAbort);
      if (!ready) {
        reject(netlinkError(errno, operation, message, { netns: path }));
      } else {
        events.closed(errno, message);
      }
    };
    const onAbort = () => {
      if (!ready) {
        child.kill();
        reject(new FlannelError("ABORTED", "the operation was aborted", { cause: signal?.reason }));
      }
    };
    signal?.addEventListener("abort", onAbort, { once: true });

    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (s: string) => {
      if (stderr.length < 4096) stderr += s;
    });
    child.on("error", (e: NodeJS.ErrnoException) => fail(e.code ?? "ENOENT", e.message));
    // "close", not "exit": by then every frame the agent wrote has been read (a FRAME.fatal
    // reason, the last replies), and stderr is complete.
    child.on("close", (code, sig) => {
      const text = stderr.trim();
      let errno = "ECONNRESET";
      if (/Operation not permitted|Permission denied/i.test(text)) errno = "EPERM";
      else if (/No such file or directory/i.test(text)) errno = "ENOENT";
      const how = sig === null ? `code ${code}` : `signal ${sig}`;
      fail(
        errno,
        ready
          ? `the netns agent (pid ${child.pid}) exited (${how})${text ? `: ${text}` : ""}; the handle is closed, open a new one`
          : text || `the netns agent exited (${how})`,
      );
    });
    child.stdin.on("error", () => {
      // the close handler reports the reason
    });
    // Only the agent's stdout (replies) and the process itself are ref'd, and only while
    // requests are pending (`setActive`): an idle handle never keeps this process alive.
    (child.stdin as unknown as { unref(): void }).unref();
    (child.stderr as unknown as { unref(): void }).unref();

    const channel: Channel = {
      send(id, datagram) {
        if (dead) return;
        child.stdin.write(encodeFrame(FRAME.send, id, datagram));
      },
      sendSequence(items) {
        if (dead) return;
        let size = 9;
        for (const it of items) size += 8 + it.datagram.length;
        const b = Buffer.allocUnsafe(size);
        b.writeUInt32LE(size - 4, 0);
        b[4] = FRAME.sequence;
        b.writeUInt32LE(0, 5);
        let off = 9;
        for (const it of items) {
          b.writeUInt32LE(it.id >>> 0, off);
          b.writeUInt32LE(it.datagram.length, off + 4);
          it.datagram.copy(b, off + 8);
          off += 8 + it.datagram.length;
        }
        child.stdin.write(b);
      },
      addMembership(group) {
        if (dead) {
          return Promise.reject(netlinkError("ECONNRESET", operation, "netlink handle closed"));
        }
        const joined = new Promise<void>((resolve, reject) => {
          const waiters = joins.get(group) ?? [];
          waiters.push({ resolve, reject });
          joins.set(group, waiters);
        });
        child.stdin.write(encodeFrame(FRAME.join, group, Buffer.alloc(0)));
        return joined;
      },
      setActive(active) {
        if (dead) return;
        const s = child.stdout as unknown as { ref(): void; unref(): void };
        if (active) {
          child.ref();
          s.ref();
        } else {
          child.unref();
          s.unref();
        }
      },
      close() {
        if (dead) return;
        dead = true;
        child.stdin.end();
        // the agent exits on end of input; make sure it does even if it is stuck
        const t = setTimeout(() => child.kill("SIGKILL"), 2000);
        t.unref();
        child.once("exit", () => clearTimeout(t));
        events.closed("ECONNRESET", "netlink handle closed");
      },
    };

    child.stdout.on("data", (chunk: Buffer) => {
      pending = decodeFrames(pending, chunk, (type, id, payload) => {
        try {
          if (type === FRAME.datagram) events.datagram(payload);
          else if (type === FRAME.joined) {
            const w = joins.get(id)?.shift();
            if (payload.length === 0) w?.resolve();
            else {
              const e = JSON.parse(payload.toString("utf8")) as { code: string; message: string };
              w?.reject(netlinkError(e.code, operation, e.message, { netns: path }));
            }
          } else if (type === FRAME.ready) {
            ready = true;
            signal?.removeEventListener("abort", onAbort);
            channel.setActive(false);
            resolve(channel);
          } else {
            const e = JSON.parse(payload.toString("utf8")) as { code: string; message: string };
            if (type === FRAME.socketError) events.socketError(e.code, e.message);
            else if (type === FRAME.sendError) events.sendError(id, e.code, e.message);
            else if (type === FRAME.fatal) fail(e.code, e.message);
          }
        } catch {
          // a consumer callback threw; the frame is dropped, the stream stays in sync
        }
      });
    });
  });
}
