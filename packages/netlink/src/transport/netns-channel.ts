/**
 * A channel whose rtnetlink socket lives in another network namespace.
 *
 * A netlink socket belongs to the namespace of the thread that created it, and Node has no
 * `setns(2)` without a compiled addon. So a tiny agent process is started *inside* the namespace
 * (`nsenter --net=PATH node -e AGENT`): it opens the socket there and forwards datagrams both
 * ways over its stdin/stdout as length-prefixed frames. All protocol logic stays in this process;
 * the agent only moves bytes, so it is the same code path the local socket uses. The agent exits
 * when its stdin closes, so it never outlives the handle or this process.
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

// Frames, both ways: u32le length of what follows, u8 type, u32le id, payload.
const T_SEND = 1; // → agent: datagram for the kernel
const T_JOIN = 2; // → agent: join multicast group `id`
const T_SEQUENCE = 3; // → agent: datagrams to send one after another ([u32 id][u32 len][bytes])*
const T_DATAGRAM = 1; // ← agent: datagram from the kernel
const T_SOCKET_ERROR = 2; // ← agent: socket error (JSON {code,message})
const T_READY = 3; // ← agent: socket open
const T_SEND_ERROR = 4; // ← agent: datagram `id` not sent (JSON)
const T_JOINED = 6; // ← agent: in multicast group `id` (empty), or why not (JSON)
const T_FATAL = 5; // ← agent: could not open the socket (JSON)

/**
 * The agent. CommonJS, run with `node -e`; argv[1] is the absolute path of npm `netlink`'s
 * raw-socket module, argv[2] the socket buffer size, argv[3] the per-datagram receive buffer. Every socket callback is guarded: an exception escaping into the native binding
 * would abort the agent.
 */
export const AGENT_SOURCE = `"use strict";
(() => {
const { RawNetlinkSocket } = require(process.argv[1]);
const bufSize = Number(process.argv[2]);
const out = process.stdout;
function frame(type, id, payload) {
  const h = Buffer.allocUnsafe(9);
  h.writeUInt32LE(5 + payload.length, 0); h[4] = type; h.writeUInt32LE(id >>> 0, 5);
  out.write(payload.length > 0 ? Buffer.concat([h, payload]) : h);
}
function json(e) { return Buffer.from(JSON.stringify({ code: String((e && e.code) || "EIO"), message: String((e && e.message) || e) })); }
let sock;
try {
  sock = new RawNetlinkSocket(0, { messagePeeking: false, msgBufferSize: Number(process.argv[3]), recvBufferSize: bufSize, sendBufferSize: bufSize });
} catch (e) { frame(${T_FATAL}, 0, json(e)); process.exitCode = 1; process.stdin.destroy(); return; }
// A sequence (dumps, which the kernel runs one at a time per socket) is sent datagram by
// datagram, each once the kernel has ended the previous one (NLMSG_DONE or NLMSG_ERROR).
const queue = [];
let waiting = -1;
function lastSeq(d) {
  let off = 0, seq = -1;
  while (off + 16 <= d.length) { const len = d.readUInt32LE(off); if (len < 16) break; seq = d.readUInt32LE(off + 8); off += (len + 3) & ~3; }
  return seq;
}
function sendOne(id, d) {
  try {
    sock.send(d, {}, (err) => { try { if (err) frame(${T_SEND_ERROR}, id, json(err)); } catch {} });
  } catch (e) { frame(${T_SEND_ERROR}, id, json(e)); }
}
function drain() {
  while (waiting === -1 && queue.length > 0) { const [id, d] = queue.shift(); waiting = lastSeq(d); sendOne(id, d); }
}
sock.on("message", (m) => {
  try {
    frame(${T_DATAGRAM}, 0, m);
    if (waiting !== -1) {
      let off = 0;
      while (off + 16 <= m.length) {
        const len = m.readUInt32LE(off); if (len < 16) break;
        const type = m.readUInt16LE(off + 4);
        if ((type === 2 || type === 3) && m.readUInt32LE(off + 8) === waiting) waiting = -1;
        off += (len + 3) & ~3;
      }
      drain();
    }
  } catch {}
});
sock.on("truncatedMessage", () => { try { frame(${T_SOCKET_ERROR}, 0, json({ code: "EMSGSIZE", message: "truncated datagram" })); } catch {} });
sock.on("error", (e) => { try { waiting = -1; frame(${T_SOCKET_ERROR}, 0, json(e)); drain(); } catch {} });
let pending = Buffer.alloc(0);
process.stdin.on("data", (chunk) => {
  try {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let off = 0;
    while (pending.length - off >= 4) {
      const len = pending.readUInt32LE(off);
      if (pending.length - off - 4 < len) break;
      const type = pending[off + 4];
      const id = pending.readUInt32LE(off + 5);
      const payload = pending.subarray(off + 9, off + 4 + len);
      off += 4 + len;
      if (type === ${T_SEND}) {
        sendOne(id, Buffer.from(payload));
      } else if (type === ${T_SEQUENCE}) {
        let p = 0;
        while (p + 8 <= payload.length) {
          const itemId = payload.readUInt32LE(p); const n = payload.readUInt32LE(p + 4);
          queue.push([itemId, Buffer.from(payload.subarray(p + 8, p + 8 + n))]);
          p += 8 + n;
        }
        drain();
      } else if (type === ${T_JOIN}) {
        try { sock.addMembership(id); frame(${T_JOINED}, id, Buffer.alloc(0)); } catch (e) { frame(${T_JOINED}, id, json(e)); }
      }
    }
    pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
  } catch (e) { try { frame(${T_SOCKET_ERROR}, 0, json(e)); } catch {} }
});
process.stdin.on("end", () => { try { sock.close(); } catch {} process.exit(0); });
process.stdin.on("error", () => process.exit(0));
out.on("error", () => process.exit(0));
frame(${T_READY}, 0, Buffer.alloc(0));
})();
`;

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
      AGENT_SOURCE,
      nativeModulePath(),
      String(SOCKET_BUFFER_BYTES),
      String(RECV_BUFFER_BYTES),
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
    // "close", not "exit": by then every frame the agent wrote has been read (a T_FATAL
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
        const h = Buffer.allocUnsafe(9);
        h.writeUInt32LE(5 + datagram.length, 0);
        h[4] = T_SEND;
        h.writeUInt32LE(id >>> 0, 5);
        child.stdin.write(Buffer.concat([h, datagram]));
      },
      sendSequence(items) {
        if (dead) return;
        let size = 9;
        for (const it of items) size += 8 + it.datagram.length;
        const b = Buffer.allocUnsafe(size);
        b.writeUInt32LE(size - 4, 0);
        b[4] = T_SEQUENCE;
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
        const h = Buffer.allocUnsafe(9);
        h.writeUInt32LE(5, 0);
        h[4] = T_JOIN;
        h.writeUInt32LE(group, 5);
        child.stdin.write(h);
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
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let off = 0;
      while (pending.length - off >= 4) {
        const len = pending.readUInt32LE(off);
        if (pending.length - off - 4 < len) break;
        const type = pending[off + 4];
        const id = pending.readUInt32LE(off + 5);
        const payload = pending.subarray(off + 9, off + 4 + len);
        off += 4 + len;
        try {
          if (type === T_DATAGRAM) events.datagram(payload);
          else if (type === T_JOINED) {
            const w = joins.get(id)?.shift();
            if (payload.length === 0) w?.resolve();
            else {
              const e = JSON.parse(payload.toString("utf8")) as { code: string; message: string };
              w?.reject(netlinkError(e.code, operation, e.message, { netns: path }));
            }
          } else if (type === T_READY) {
            ready = true;
            signal?.removeEventListener("abort", onAbort);
            channel.setActive(false);
            resolve(channel);
          } else {
            const e = JSON.parse(payload.toString("utf8")) as { code: string; message: string };
            if (type === T_SOCKET_ERROR) events.socketError(e.code, e.message);
            else if (type === T_SEND_ERROR) events.sendError(id, e.code, e.message);
            else if (type === T_FATAL) fail(e.code, e.message);
          }
        } catch {
          // a consumer callback threw; the frame is dropped, the stream stays in sync
        }
      }
      pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
    });
  });
}
