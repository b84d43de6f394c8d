/**
 * The netns agent: the program `openNetnsChannel` runs inside another network namespace
 * (`nsenter --net=PATH node -e SOURCE`). It opens an rtnetlink socket there and moves datagrams
 * both ways over its stdin/stdout as length-prefixed frames; all protocol logic stays in the
 * parent. It exits when its stdin closes, so it never outlives the handle or the parent.
 *
 * It runs in a process of its own, so {@link netnsAgent} is one self-contained function: it
 * uses only its arguments and Node's globals (`process`, `Buffer`), never an import or another
 * binding of this module (a type is fine: it is erased), nor `require` by name (a bundler
 * rewrites that; the agent's `require` is passed in). {@link NETNS_AGENT_SOURCE} is
 * its compiled text for `node -e`, so the agent ships inside the package's bundle and runs the
 * same from the sources (tests) and from the tarball.
 * @internal
 */
import type { NativeNetlink } from "./native.js";

/** Frame types. Frames, both ways: u32le length of what follows, u8 type, u32le id, payload. */
export const FRAME = {
  /** → agent: a datagram for the kernel. */
  send: 1,
  /** → agent: join multicast group `id`. */
  join: 2,
  /** → agent: datagrams to send one after another, `([u32 id][u32 len][bytes])*`. */
  sequence: 3,
  /** ← agent: a datagram from the kernel. */
  datagram: 1,
  /** ← agent: a socket error (JSON `{code, message}`). */
  socketError: 2,
  /** ← agent: the socket is open. */
  ready: 3,
  /** ← agent: datagram `id` was not sent (JSON). */
  sendError: 4,
  /** ← agent: could not open the socket (JSON). */
  fatal: 5,
  /** ← agent: in multicast group `id` (empty payload), or why not (JSON). */
  joined: 6,
} as const;

/** What the agent is started with (JSON in its `argv[1]`). */
export interface NetnsAgentArgs {
  /** Absolute path of npm `netlink`'s raw-socket module. */
  nativeModule: string;
  /** The socket's send and receive buffer size (bytes). */
  socketBufferBytes: number;
  /** The buffer one received datagram is read into (bytes). */
  recvBufferBytes: number;
  frame: typeof FRAME;
}

/**
 * The agent itself. Every socket callback is guarded: an exception escaping into the native
 * binding would abort the process.
 */
export function netnsAgent(args: NetnsAgentArgs, load: (id: string) => unknown): void {
  const F = args.frame;
  const out = process.stdout;
  const frame = (type: number, id: number, payload: Buffer): void => {
    const h = Buffer.allocUnsafe(9);
    h.writeUInt32LE(5 + payload.length, 0);
    h[4] = type;
    h.writeUInt32LE(id >>> 0, 5);
    out.write(payload.length > 0 ? Buffer.concat([h, payload]) : h);
  };
  const json = (e: unknown): Buffer => {
    const err = e as { code?: unknown; message?: unknown } | null | undefined;
    return Buffer.from(
      JSON.stringify({ code: String(err?.code || "EIO"), message: String(err?.message || e) }),
    );
  };

  const { RawNetlinkSocket } = load(args.nativeModule) as NativeNetlink;
  let sock: InstanceType<typeof RawNetlinkSocket>;
  try {
    sock = new RawNetlinkSocket(0, {
      messagePeeking: false,
      msgBufferSize: args.recvBufferBytes,
      recvBufferSize: args.socketBufferBytes,
      sendBufferSize: args.socketBufferBytes,
    });
  } catch (e) {
    frame(F.fatal, 0, json(e));
    process.exitCode = 1;
    process.stdin.destroy();
    return;
  }

  // A sequence (dumps, which the kernel runs one at a time per socket) is sent datagram by
  // datagram, each once the kernel has ended the previous one (NLMSG_DONE or NLMSG_ERROR).
  const queue: [id: number, datagram: Buffer][] = [];
  let waiting = -1;
  const lastSeq = (d: Buffer): number => {
    let off = 0;
    let seq = -1;
    while (off + 16 <= d.length) {
      const len = d.readUInt32LE(off);
      if (len < 16) break;
      seq = d.readUInt32LE(off + 8);
      off += (len + 3) & ~3;
    }
    return seq;
  };
  const sendOne = (id: number, d: Buffer): void => {
    try {
      sock.send(d, {}, (err) => {
        try {
          if (err) frame(F.sendError, id, json(err));
        } catch {}
      });
    } catch (e) {
      frame(F.sendError, id, json(e));
    }
  };
  const drain = (): void => {
    while (waiting === -1 && queue.length > 0) {
      const [id, d] = queue.shift()!;
      waiting = lastSeq(d);
      sendOne(id, d);
    }
  };

  sock.on("message", (m) => {
    try {
      frame(F.datagram, 0, m);
      if (waiting !== -1) {
        let off = 0;
        while (off + 16 <= m.length) {
          const len = m.readUInt32LE(off);
          if (len < 16) break;
          const type = m.readUInt16LE(off + 4);
          // NLMSG_ERROR (2) or NLMSG_DONE (3) of the datagram being waited for
          if ((type === 2 || type === 3) && m.readUInt32LE(off + 8) === waiting) waiting = -1;
          off += (len + 3) & ~3;
        }
        drain();
      }
    } catch {}
  });
  sock.on("truncatedMessage", () => {
    try {
      frame(F.socketError, 0, json({ code: "EMSGSIZE", message: "truncated datagram" }));
    } catch {}
  });
  sock.on("error", (e) => {
    try {
      waiting = -1;
      frame(F.socketError, 0, json(e));
      drain();
    } catch {}
  });

  let pending: Buffer = Buffer.alloc(0);
  process.stdin.on("data", (chunk: Buffer) => {
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
        if (type === F.send) {
          sendOne(id, Buffer.from(payload));
        } else if (type === F.sequence) {
          let p = 0;
          while (p + 8 <= payload.length) {
            const itemId = payload.readUInt32LE(p);
            const n = payload.readUInt32LE(p + 4);
            queue.push([itemId, Buffer.from(payload.subarray(p + 8, p + 8 + n))]);
            p += 8 + n;
          }
          drain();
        } else if (type === F.join) {
          try {
            sock.addMembership(id);
            frame(F.joined, id, Buffer.alloc(0));
          } catch (e) {
            frame(F.joined, id, json(e));
          }
        }
      }
      pending = off === pending.length ? Buffer.alloc(0) : pending.subarray(off);
    } catch (e) {
      try {
        frame(F.socketError, 0, json(e));
      } catch {}
    }
  });
  process.stdin.on("end", () => {
    try {
      sock.close();
    } catch {}
    process.exit(0);
  });
  process.stdin.on("error", () => process.exit(0));
  out.on("error", () => process.exit(0));
  frame(F.ready, 0, Buffer.alloc(0));
}

/**
 * The program for `node -e`: {@link netnsAgent}'s text, called with the JSON of its
 * {@link NetnsAgentArgs} from `argv[1]` and the CommonJS `require` of `node -e`.
 */
export const NETNS_AGENT_SOURCE = `"use strict";(${netnsAgent.toString()})(JSON.parse(process.argv[1]), require);`;

/** The argument vector after `node -e NETNS_AGENT_SOURCE`. */
export function netnsAgentArgv(args: Omit<NetnsAgentArgs, "frame">): string[] {
  return [JSON.stringify({ ...args, frame: FRAME } satisfies NetnsAgentArgs)];
}
