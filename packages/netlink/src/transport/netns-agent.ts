/**
 * The netns agent: the program `openNetnsChannel` runs inside another network namespace
 * (`nsenter --net=PATH node -e SOURCE`). It opens an rtnetlink socket there and moves datagrams
 * both ways over its stdin/stdout as length-prefixed frames; all protocol logic stays in the
 * parent. It exits when its stdin closes, so it never outlives the handle or the parent.
 *
 * It runs in a process of its own, so {@link netnsAgent} is one self-contained function: it
 * uses only its arguments and Node's globals (`process`, `Buffer`), never an import or another
 * binding of this module (a type is fine: it is erased), nor `require` by name (a bundler
 * rewrites that; the agent's `require` is passed in). The frame codec is shared with the parent
 * the same way: {@link encodeFrame} and {@link decodeFrames} are self-contained too, and their
 * texts are handed to the agent. {@link NETNS_AGENT_SOURCE} is
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

/** One frame: u32le length of what follows, u8 type, u32le id, payload. Self-contained. */
export function encodeFrame(type: number, id: number, payload: Buffer): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUInt32LE(5 + payload.length, 0);
  h[4] = type;
  h.writeUInt32LE(id >>> 0, 5);
  return payload.length > 0 ? Buffer.concat([h, payload]) : h;
}

/**
 * Reads the whole frames of `pending` followed by `chunk`, calling `onFrame` for each, and
 * returns what is left of an incomplete one. Self-contained.
 */
export function decodeFrames(
  pending: Buffer,
  chunk: Buffer,
  onFrame: (type: number, id: number, payload: Buffer) => void,
): Buffer {
  const buf = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
  let off = 0;
  while (buf.length - off >= 4) {
    const len = buf.readUInt32LE(off);
    if (buf.length - off - 4 < len) break;
    const type = buf[off + 4]!;
    const id = buf.readUInt32LE(off + 5);
    const payload = buf.subarray(off + 9, off + 4 + len);
    off += 4 + len;
    onFrame(type, id, payload);
  }
  return off === buf.length ? Buffer.alloc(0) : buf.subarray(off);
}

/** The frame codec, handed to the agent (which cannot import it). */
export interface FrameCodec {
  encodeFrame: typeof encodeFrame;
  decodeFrames: typeof decodeFrames;
}

/**
 * The agent itself. Every socket callback is guarded: an exception escaping into the native
 * binding would abort the process.
 */
export function netnsAgent(
  args: NetnsAgentArgs,
  load: (id: string) => unknown,
  codec: FrameCodec,
): void {
  const F = args.frame;
  const out = process.stdout;
  const frame = (type: number, id: number, payload: Buffer): void => {
    out.write(codec.encodeFrame(type, id, payload));
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
    pending = codec.decodeFrames(pending, chunk, (type, id, payload) => {
      try {
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
      } catch (e) {
        try {
          frame(F.socketError, 0, json(e));
        } catch {}
      }
    });
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
 * {@link NetnsAgentArgs} from `argv[1]`, the CommonJS `require` of `node -e` and the frame codec
 * (the texts of {@link encodeFrame} and {@link decodeFrames}, which the parent imports).
 */
export const NETNS_AGENT_SOURCE = `"use strict";(${netnsAgent.toString()})(JSON.parse(process.argv[1]), require, { encodeFrame: ${encodeFrame.toString()}, decodeFrames: ${decodeFrames.toString()} });`;

/** The argument vector after `node -e NETNS_AGENT_SOURCE`. */
export function netnsAgentArgv(args: Omit<NetnsAgentArgs, "frame">): string[] {
  return [JSON.stringify({ ...args, frame: FRAME } satisfies NetnsAgentArgs)];
}
