/**
 * The connection's protocol rules, against a simulated kernel (the real one cannot show how
 * many requests were unacknowledged at each instant, nor interrupt a dump on demand; the kernel
 * tier checks the same paths for real).
 */

import { getEventListeners } from "node:events";
import { isFlannelError } from "@flannel-sdk/core";
import { describe, expect, it } from "vitest";
import * as C from "../src/nl/constants.js";
import type { NlRequest } from "../src/nl/messages.js";
import { parseMessages, writeMessage } from "../src/nl/wire.js";
import type { Channel } from "../src/transport/channel.js";
import { Connection, WINDOW } from "../src/transport/connection.js";

function msg(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc((16 + payload.length + 3) & ~3);
  writeMessage(b, 0, type, flags, seq, payload);
  return b;
}

function errorMsg(seq: number, errno: number): Buffer {
  const p = Buffer.alloc(20);
  p.writeInt32LE(errno, 0);
  return msg(C.NLMSG_ERROR, 0, seq, p);
}

/** A kernel that answers asynchronously: ACKs when asked, errors for payload byte 0xee, dumps of `dumpSize` entries. */
class FakeKernel {
  unacked = 0;
  maxUnacked = 0;
  sentDuringDump = 0;
  dumpOpen = false;
  dumpSize = 5;
  interruptDump = false;
  closed = false;
  conn = new Connection("fake");
  constructor() {
    const k = this;
    const channel: Channel = {
      send(_id, datagram) {
        if (k.dumpOpen) k.sentDuringDump++;
        const msgs = parseMessages(datagram);
        k.unacked += msgs.length;
        k.maxUnacked = Math.max(k.maxUnacked, k.unacked);
        setImmediate(() => k.answer(msgs));
      },
      async addMembership() {},
      setActive() {},
      close() {
        k.closed = true;
      },
    };
    this.conn.attach(channel);
  }
  answer(msgs: ReturnType<typeof parseMessages>): void {
    for (const m of msgs) {
      this.unacked--;
      if ((m.flags & C.NLM_F_DUMP) === C.NLM_F_DUMP) {
        this.dumpOpen = true;
        const parts: Buffer[] = [];
        for (let i = 0; i < this.dumpSize; i++) {
          const flags = C.NLM_F_MULTI | (this.interruptDump && i === 2 ? C.NLM_F_DUMP_INTR : 0);
          parts.push(
            msg(C.RTM_NEWROUTE, flags, m.seq, Buffer.from([2, 24, 0, 0, 254, 3, 0, 1, 0, 0, 0, 0])),
          );
        }
        setImmediate(() => {
          this.conn.events.datagram(Buffer.concat(parts.slice(0, 2)));
          setImmediate(() => {
            this.dumpOpen = false;
            this.conn.events.datagram(
              Buffer.concat([
                ...parts.slice(2),
                msg(C.NLMSG_DONE, C.NLM_F_MULTI, m.seq, Buffer.alloc(4)),
              ]),
            );
          });
        });
      } else if (m.body[0] === 0xee) {
        this.conn.events.datagram(errorMsg(m.seq, -17));
      } else if (m.flags & C.NLM_F_ACK) {
        this.conn.events.datagram(errorMsg(m.seq, 0));
      } else if (m.type === C.RTM_GETLINK) {
        this.conn.events.datagram(msg(C.RTM_NEWLINK, 0, m.seq, Buffer.alloc(16)));
      }
    }
  }
}

const ok: NlRequest = { type: C.RTM_NEWROUTE, flags: 0, payload: Buffer.from([2, 0, 0, 0]) };
const bad: NlRequest = { type: C.RTM_NEWROUTE, flags: 0, payload: Buffer.from([0xee, 0, 0, 0]) };

describe("Connection", () => {
  it(`never has more than WINDOW (${WINDOW}) requests unacknowledged, however many the caller queues`, async () => {
    const k = new FakeKernel();
    const calls = Array.from({ length: 5000 }, (_, i) => k.conn.batch([i % 97 === 0 ? bad : ok]));
    const results = await Promise.all(calls);
    expect(k.maxUnacked).toBeLessThanOrEqual(WINDOW);
    expect(results.filter((r) => r[0] === -17)).toHaveLength(Math.ceil(5000 / 97));
    const big = await k.conn.batch(Array.from({ length: 3000 }, (_, i) => (i === 1234 ? bad : ok)));
    expect(k.maxUnacked).toBeLessThanOrEqual(WINDOW);
    expect([...big].map((e, i) => [i, e]).filter(([, e]) => e !== 0)).toEqual([[1234, -17]]);
  });

  it("runs a dump alone and reports NLM_F_DUMP_INTR", async () => {
    const k = new FakeKernel();
    k.interruptDump = true;
    const dump = k.conn.dump({
      type: C.RTM_GETROUTE,
      flags: C.NLM_F_DUMP,
      payload: Buffer.alloc(12),
    });
    const after = k.conn.batch([ok, ok]);
    const r = await dump;
    await after;
    expect(typeof r).toBe("object");
    if (typeof r === "number") return;
    expect(r.messages).toHaveLength(5);
    expect(r.interrupted).toBe(true);
    expect(k.sentDuringDump).toBe(0);
  });

  it("fails the requests in flight on ENOBUFS (retryable) and goes on", async () => {
    const k = new FakeKernel();
    const lost = k.conn.batch([ok]);
    k.conn.events.socketError("ENOBUFS", "No buffer space available");
    const e = await lost.catch((x) => x);
    expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
    expect(e.errno).toBe("ENOBUFS");
    expect(e.retryable).toBe(true);
    expect(await k.conn.batch([ok])).toEqual(new Int32Array([0]));
  });

  it("answers a get with its reply and rejects everything after close", async () => {
    const k = new FakeKernel();
    const r = await k.conn.get({ type: C.RTM_GETLINK, flags: 0, payload: Buffer.alloc(16) });
    expect(typeof r).toBe("object");
    const pending = k.conn.batch([ok]);
    k.conn.close();
    expect(k.closed).toBe(true);
    await expect(pending).rejects.toMatchObject({ code: "HANDLE_CLOSED" });
    await expect(k.conn.batch([ok])).rejects.toMatchObject({ code: "HANDLE_CLOSED" });
  });

  it("honours an abort signal", async () => {
    const k = new FakeKernel();
    const ac = new AbortController();
    ac.abort();
    await expect(k.conn.batch([ok], ac.signal)).rejects.toMatchObject({ code: "ABORTED" });
  });

  it("leaves no abort listener behind on a long-lived signal (a daemon's)", async () => {
    const k = new FakeKernel();
    const ac = new AbortController();
    for (let i = 0; i < 50; i++) await k.conn.batch([ok, ok], ac.signal);
    await Promise.all(Array.from({ length: 8 }, () => k.conn.batch([ok], ac.signal)));
    expect(getEventListeners(ac.signal, "abort")).toHaveLength(0);
  });
});
