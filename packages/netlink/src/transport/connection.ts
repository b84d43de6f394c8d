/**
 * Request/reply over one channel: sequence numbers, batching, a bounded window and dumps.
 *
 * Why a window: replies the kernel cannot queue on the socket (receive buffer full) are dropped
 * and the socket reports ENOBUFS. The npm `netlink` package's request layer sends every request
 * at once and its native binding aborts the process when a callback throws, which happens at a
 * few hundred requests in flight. Here at most `WINDOW` messages are unacknowledged at any time,
 * whatever the caller queues; a batch asks the kernel for one ACK (on its last message) and
 * hears about the others only when they fail, so the worst case of queued replies is `WINDOW`
 * error messages — about 100 KiB, well under the kernel's default 208 KiB buffer.
 * A dump runs alone: its replies fill the buffer by design (the kernel paces them to the reader),
 * and an ACK arriving meanwhile could be the one dropped.
 * @internal
 */
import { FlannelError } from "@flannel-sdk/core";
import { netlinkError } from "../errors.js";
import {
  NLM_F_ACK,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
} from "../nl/constants.js";
import type { NlRequest } from "../nl/messages.js";
import { align4, type NlMessage, parseMessages, writeMessage } from "../nl/wire.js";
import type { Channel, ChannelEvents } from "./channel.js";

/** Most messages unacknowledged at once. */
export const WINDOW = 128;
/** Most messages in one datagram. */
export const BATCH = 64;
const MAX_DATAGRAM_BYTES = 32 * 1024;

type UnitKind = "batch" | "get" | "dump";

interface Unit {
  readonly kind: UnitKind;
  readonly reqs: readonly NlRequest[];
  firstSeq: number;
  lastSeq: number;
  /** Per request: 0 (done) or a negative errno. */
  readonly results: Int32Array;
  readonly replies: NlMessage[];
  interrupted: boolean;
  error: FlannelError | null;
  settled: boolean;
  sent: boolean;
  resolve(u: Unit): void;
  reject(e: unknown): void;
}

/** Result of a dump. */
export interface DumpReply {
  readonly messages: NlMessage[];
  readonly interrupted: boolean;
}

/** One rtnetlink conversation over a channel. */
export class Connection {
  private channel: Channel | null = null;
  private seq: number;
  private readonly queue: Unit[] = [];
  private readonly bySeq = new Map<number, Unit>();
  private readonly inflight = new Set<Unit>();
  private inflightMsgs = 0;
  private dumpsInFlight = 0;
  private closedError: FlannelError | null = null;

  constructor(private readonly label: string) {
    this.seq = Math.floor(Math.random() * 0x7fff_ffff);
  }

  /** Events to give the channel's opener; `attach` the channel it returns. */
  readonly events: ChannelEvents = {
    datagram: (d) => this.onDatagram(d),
    socketError: (errno, message) => this.failInflight(errno, message),
    sendError: (id, errno, message) => {
      for (const u of this.inflight) {
        if (u.firstSeq === id) this.settle(u, netlinkError(errno, "sendmsg", message));
      }
    },
    closed: (errno, message) => {
      // The socket (or the namespace agent holding it) is gone for good: retrying on this
      // connection cannot help, so nothing it fails with from now on is retryable.
      this.closedError ??= netlinkError(errno, this.label, message, { closed: true }, undefined, {
        retryable: false,
      });
      this.failInflight(errno, message);
      for (const u of this.queue.splice(0)) this.settle(u, this.closedError);
    },
  };

  attach(channel: Channel): void {
    this.channel = channel;
  }

  /** Why the connection is closed (`close()`, or its socket / agent died), or `null` while open. */
  get closedReason(): FlannelError | null {
    return this.closedError;
  }

  close(): void {
    if (this.closedError !== null) return;
    this.closedError = new FlannelError("HANDLE_CLOSED", "the netlink handle is closed");
    for (const u of this.queue.splice(0)) this.settle(u, this.closedError);
    for (const u of [...this.inflight]) this.settle(u, this.closedError);
    this.channel?.close();
  }

  /**
   * Sends requests in order and resolves with one result per request: 0, or the negative errno
   * the kernel answered. Only transport failures reject.
   */
  async batch(reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Int32Array> {
    const out = new Int32Array(reqs.length);
    if (reqs.length === 0) return out;
    const units: Promise<Unit>[] = [];
    let start = 0;
    while (start < reqs.length) {
      let end = start;
      let bytes = 0;
      while (end < reqs.length && end - start < BATCH) {
        const size = align4(16 + reqs[end]!.payload.length);
        if (end > start && bytes + size > MAX_DATAGRAM_BYTES) break;
        bytes += size;
        end++;
      }
      units.push(this.enqueue("batch", reqs.slice(start, end), signal));
      start = end;
    }
    let at = 0;
    for (const p of units) {
      const u = await p;
      out.set(u.results, at);
      at += u.results.length;
    }
    return out;
  }

  /** One request whose answer is one message (a `GET` by key); resolves with it or an errno. */
  async get(req: NlRequest, signal?: AbortSignal): Promise<NlMessage | number> {
    const u = await this.enqueue("get", [req], signal);
    const err = u.results[0]!;
    if (err !== 0) return err;
    return u.replies[0] ?? -61; // ENODATA: the kernel acknowledged without a reply
  }

  /** A dump; resolves with every message and whether the kernel flagged it inconsistent. */
  async dump(req: NlRequest, signal?: AbortSignal): Promise<DumpReply | number> {
    const u = await this.enqueue("dump", [req], signal);
    const err = u.results[0]!;
    if (err !== 0) return err;
    return { messages: u.replies, interrupted: u.interrupted };
  }

  private enqueue(kind: UnitKind, reqs: readonly NlRequest[], signal?: AbortSignal): Promise<Unit> {
    if (this.closedError !== null) return Promise.reject(this.closedError);
    if (signal?.aborted) {
      return Promise.reject(
        new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason }),
      );
    }
    return new Promise<Unit>((settle, fail) => {
      // The abort listener goes when the unit settles: a long-lived signal (a daemon's) must not
      // collect one listener per request.
      let onAbort: (() => void) | null = null;
      const release = () => {
        if (onAbort !== null) signal?.removeEventListener("abort", onAbort);
        onAbort = null;
      };
      const resolve = (u: Unit) => {
        release();
        settle(u);
      };
      const reject = (e: unknown) => {
        release();
        fail(e);
      };
      const unit: Unit = {
        kind,
        reqs,
        firstSeq: 0,
        lastSeq: 0,
        results: new Int32Array(reqs.length),
        replies: [],
        interrupted: false,
        error: null,
        settled: false,
        sent: false,
        resolve,
        reject,
      };
      if (signal) {
        onAbort = () => {
          if (unit.settled) return;
          const i = this.queue.indexOf(unit);
          if (i >= 0) this.queue.splice(i, 1);
          // an in-flight unit keeps its window slot until the kernel answers
          unit.settled = true;
          reject(
            new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason }),
          );
          this.updateActive();
        };
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.queue.push(unit);
      this.pump();
    });
  }

  private nextSeq(): number {
    this.seq += 1;
    return this.seq;
  }

  private frame(u: Unit): Buffer {
    // keep a unit's sequence numbers contiguous (never wrapping inside one)
    if (this.seq > 0xffff_fff0 - u.reqs.length) this.seq = 0;
    let size = 0;
    for (const r of u.reqs) size += align4(16 + r.payload.length);
    const datagram = Buffer.allocUnsafe(size);
    let off = 0;
    for (let i = 0; i < u.reqs.length; i++) {
      const r = u.reqs[i]!;
      const seq = this.nextSeq();
      if (i === 0) u.firstSeq = seq;
      u.lastSeq = seq;
      this.bySeq.set(seq, u);
      // A batch asks for one ACK, on its last message; failures are answered regardless.
      const ack = u.kind === "batch" && i === u.reqs.length - 1 ? NLM_F_ACK : 0;
      off = writeMessage(datagram, off, r.type, r.flags | NLM_F_REQUEST | ack, seq, r.payload);
    }
    u.sent = true;
    this.inflight.add(u);
    this.inflightMsgs += u.reqs.length;
    if (u.kind === "dump") this.dumpsInFlight++;
    return datagram;
  }

  private pump(): void {
    const channel = this.channel;
    if (channel === null) return;
    while (this.queue.length > 0) {
      const u = this.queue[0]!;
      if (this.dumpsInFlight > 0) break;
      if (u.kind === "dump") {
        if (this.inflight.size > 0) break;
        // Consecutive dumps cross to an agent in one write; it runs them one after another.
        const max = channel.sendSequence ? 8 : 1;
        const run: Unit[] = [];
        while (run.length < max && this.queue[0]?.kind === "dump") run.push(this.queue.shift()!);
        const items = run.map((d) => {
          const datagram = this.frame(d);
          return { id: d.firstSeq, datagram };
        });
        if (items.length > 1 && channel.sendSequence) channel.sendSequence(items);
        else channel.send(items[0]!.id, items[0]!.datagram);
        break;
      }
      if (this.inflightMsgs > 0 && this.inflightMsgs + u.reqs.length > WINDOW) break;
      this.queue.shift();
      const datagram = this.frame(u);
      channel.send(u.firstSeq, datagram);
    }
    this.updateActive();
  }

  private updateActive(): void {
    this.channel?.setActive(this.inflight.size > 0 || this.queue.length > 0);
  }

  private onDatagram(d: Buffer): void {
    for (const msg of parseMessages(d)) {
      const u = this.bySeq.get(msg.seq);
      if (u === undefined) continue;
      if (msg.flags & NLM_F_DUMP_INTR) u.interrupted = true;
      if (msg.type === NLMSG_ERROR) {
        const errno = msg.body.length >= 4 ? msg.body.readInt32LE(0) : -5;
        const idx = msg.seq - u.firstSeq;
        if (errno !== 0 && idx >= 0 && idx < u.results.length) u.results[idx] = errno;
        if (u.kind !== "batch" || msg.seq === u.lastSeq) this.complete(u);
      } else if (msg.type === NLMSG_DONE) {
        if (u.kind === "dump") {
          const errno = msg.body.length >= 4 ? msg.body.readInt32LE(0) : 0;
          if (errno < 0) u.results[0] = errno;
          this.complete(u);
        }
      } else if (msg.type === NLMSG_NOOP || msg.type === NLMSG_OVERRUN) {
        // nothing to record
      } else if (u.kind === "dump") {
        u.replies.push(msg);
      } else if (u.kind === "get") {
        u.replies.push(msg);
        this.complete(u);
      }
    }
  }

  private release(u: Unit): void {
    if (!this.inflight.delete(u)) return;
    for (let i = 0; i < u.reqs.length; i++) this.bySeq.delete(u.firstSeq + i);
    this.inflightMsgs -= u.reqs.length;
    if (u.kind === "dump") this.dumpsInFlight--;
  }

  private complete(u: Unit): void {
    this.release(u);
    if (!u.settled) {
      u.settled = true;
      u.resolve(u);
    }
    this.pump();
  }

  private settle(u: Unit, error: FlannelError): void {
    this.release(u);
    if (!u.settled) {
      u.settled = true;
      u.reject(error);
    }
  }

  private failInflight(errno: string, message: string): void {
    const units = [...this.inflight];
    const closed = this.closedError !== null;
    for (const u of units) {
      this.settle(
        u,
        netlinkError(
          errno,
          this.label,
          `${message}; replies to ${u.reqs.length} request(s) were lost, their outcome is unknown`,
          closed ? { closed: true } : {},
          undefined,
          closed ? { retryable: false } : {},
        ),
      );
    }
    if (this.closedError === null) this.pump();
    else this.updateActive();
  }
}
