import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipBytes, ipTextAt, macBytes, macTextAt } from "../src/nl/address.js";
import { NLM_F_ACK, NLM_F_REQUEST } from "../src/nl/constants.js";
import {
  decodeAddr,
  decodeFdb,
  decodeLink,
  decodeNeigh,
  decodeRoute,
  fdbRequest,
  neighRequest,
  routeRequest,
} from "../src/nl/messages.js";
import { NlWriter, parseAttrs, parseMessages, writeMessage } from "../src/nl/wire.js";
import { nameOf, replyCases, requestCases } from "./golden/cases.js";
import { readHex } from "./golden/hexdump.js";

const golden = join(dirname(fileURLToPath(import.meta.url)), "golden");

function frame(type: number, flags: number, payload: Buffer): Buffer {
  const b = Buffer.alloc((16 + payload.length + 3) & ~3);
  writeMessage(b, 0, type, flags, 1, payload);
  return b;
}

describe("request encoding against golden bytes (accepted by the kernel at capture)", () => {
  it.each(requestCases.map((c) => [c.name, c] as const))("%s", (name, c) => {
    const req = c.build();
    const flags = req.flags | NLM_F_REQUEST | (c.send === "change" ? NLM_F_ACK : 0);
    const want = readHex(join(golden, "requests", `${name}.hex`));
    expect(frame(req.type, flags, req.payload).toString("hex")).toBe(want.toString("hex"));
  });
});

describe("reply decoding against golden bytes captured from the kernel", () => {
  it.each(replyCases.map((c) => [c.name, c] as const))("%s", (name, c) => {
    const bytes = readHex(join(golden, "replies", `${name}.hex`));
    const expected = JSON.parse(readFileSync(join(golden, "replies", `${name}.json`), "utf8"));
    const [msg, ...rest] = parseMessages(bytes);
    expect(rest).toHaveLength(0);
    const body = msg!.body;
    const decoded =
      c.decoder === "link"
        ? decodeLink(body)
        : c.decoder === "addr"
          ? decodeAddr(body, nameOf)
          : c.decoder === "route"
            ? decodeRoute(body, nameOf)
            : c.decoder === "neigh"
              ? decodeNeigh(body, nameOf)
              : c.decoder === "fdb"
                ? decodeFdb(body, nameOf)
                : c.decoder === "error"
                  ? { error: body.readInt32LE(0) }
                  : { done: true };
    expect(decoded).toEqual(expected);
  });

  it("the EEXIST reply quotes the request it answers", () => {
    const [msg] = parseMessages(readHex(join(golden, "replies", "reply-error-eexist.hex")));
    const quoted = msg!.body.subarray(4);
    const vxlan = readHex(join(golden, "requests", "vxlan-new.hex"));
    expect(quoted.subarray(16).toString("hex")).toBe(vxlan.subarray(16).toString("hex"));
  });
});

describe("wire format", () => {
  it("nests attributes and pads to 4 bytes", () => {
    const w = new NlWriter(4)
      .nest(18, (n) => n.attrString(1, "vxlan").attrU8(7, 1))
      .attrU16be(15, 8472);
    const b = w.finish();
    expect(b.length % 4).toBe(0);
    const top = parseAttrs(b);
    expect(top.get(15)!.readUInt16BE(0)).toBe(8472);
    const inner = parseAttrs(top.get(18)!);
    expect(inner.get(1)!.toString()).toBe("vxlan\0");
    expect(inner.get(7)![0]).toBe(1);
  });

  it("never throws on arbitrary datagrams (fuzz)", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const m of parseMessages(Buffer.from(bytes))) {
          parseAttrs(m.body);
          expect(m.body.length).toBeLessThanOrEqual(bytes.length);
        }
      }),
    );
  });

  it("route, neighbour and FDB requests decode back to what was encoded", () => {
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((a) => a.join("."));
    const mac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((b) =>
      Buffer.from(b)
        .toString("hex")
        .replace(/(..)(?!$)/g, "$1:"),
    );
    fc.assert(
      fc.property(
        v4,
        fc.integer({ min: 0, max: 32 }),
        v4,
        fc.boolean(),
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.nat(1000),
        (dst, len, gw, onlink, table, prio) => {
          const r = routeRequest("replace", {
            family: 4,
            dst: ipBytes(dst).bytes,
            dstLen: len,
            gateway: ipBytes(gw).bytes,
            oif: 7,
            table,
            onlink,
            priority: prio,
          });
          const back = decodeRoute(r.payload, () => "eth0")!;
          expect(back).toMatchObject({
            dst: `${dst}/${len}`,
            gateway: gw,
            index: 7,
            table,
            onlink,
            priority: prio,
          });
        },
      ),
    );
    fc.assert(
      fc.property(v4, mac, (ip, m) => {
        const n = neighRequest("replace", { index: 3, ip: ipBytes(ip).bytes, lladdr: macBytes(m) });
        expect(decodeNeigh(n.payload, () => "flannel.1")).toMatchObject({
          ip,
          lladdr: m,
          permanent: true,
        });
        const f = fdbRequest("replace", { index: 3, lladdr: macBytes(m), dst: ipBytes(ip).bytes });
        expect(decodeFdb(f.payload, () => "flannel.1")).toMatchObject({
          dst: ip,
          lladdr: m,
          self: true,
          permanent: true,
        });
      }),
    );
  });
});

describe("address text of kernel bytes", () => {
  it("prints any hardware address and IPv4 address at an offset as ip(8) does", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.nat(3), (bytes, off) => {
        const b = Buffer.concat([Buffer.alloc(off), Buffer.from(bytes)]);
        const hex = [...bytes].map((x) => x.toString(16).padStart(2, "0")).join(":");
        expect(macTextAt(b, off, bytes.length)).toBe(hex);
        if (bytes.length >= 4)
          expect(ipTextAt(b, off, 4)).toBe([...bytes.subarray(0, 4)].join("."));
      }),
    );
    expect(macTextAt(Buffer.alloc(4), 0, 0)).toBeNull();
  });
});
