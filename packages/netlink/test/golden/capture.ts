/**
 * Captures the golden files once, from the running kernel, as root:
 *
 *   cd packages/netlink && npx esbuild test/golden/capture.ts --bundle --platform=node \
 *     --format=esm --packages=external --outfile=/tmp/nl-capture.mjs && node /tmp/nl-capture.mjs
 *
 * In a fresh namespace it sends every request case (framed as the connection frames it, seq 1,
 * pid 0), checks the kernel accepted it, and writes `requests/<name>.hex`; it keeps the replies
 * listed in `replyCases` as `replies/<name>.hex` with their decoding in `replies/<name>.json`,
 * after checking the decoding against `ip -j` / `bridge -j`.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { NLM_F_ACK, NLM_F_REQUEST } from "../../src/nl/constants.js";
import { decodeAddr, decodeFdb, decodeLink, decodeNeigh, decodeRoute } from "../../src/nl/messages.js";
import { type NlMessage, parseMessages, writeMessage } from "../../src/nl/wire.js";
import { Connection } from "../../src/transport/connection.js";
import { openNetnsChannel } from "../../src/transport/netns-channel.js";
import { annotate } from "./hexdump.js";
import { INDEX_NAMES, nameOf, requestCases } from "./cases.js";

const here = dirname(fileURLToPath(import.meta.url));
const ns = `nl-golden-${process.pid}`;
const ip = (...a: string[]) => execFileSync("ip", a, { encoding: "utf8" });
const stamp = `captured from Linux ${release()} on ${new Date().toISOString().slice(0, 10)} by test/golden/capture.ts`;

function frame(type: number, flags: number, payload: Buffer, seq = 1): Buffer {
  const b = Buffer.alloc(((16 + payload.length + 3) & ~3));
  writeMessage(b, 0, type, flags, seq, payload);
  return b;
}
function messageBytes(m: NlMessage): Buffer {
  return frame(m.type, m.flags, m.body, m.seq).fill(0, 12, 16).subarray(0, 16 + m.body.length);
}

function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`capture check failed: ${what}`);
}

async function main(): Promise<void> {
  ip("netns", "add", ns);
  let conn: Connection | null = null;
  try {
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
    ip("-n", ns, "addr", "add", "10.250.0.1/16", "dev", "ul0");
    ip("-n", ns, "link", "set", "ul0", "up");
    ip("-n", ns, "link", "set", "ul1", "up");
    const links = JSON.parse(ip("-n", ns, "-j", "link", "show")) as { ifindex: number; ifname: string }[];
    for (const l of links) check(INDEX_NAMES[l.ifindex] === l.ifname, `index ${l.ifindex} is ${l.ifname}`);

    conn = new Connection("capture");
    const raw: Buffer[] = [];
    const cn = conn;
    const events = { ...cn.events, datagram: (d: Buffer) => (raw.push(Buffer.from(d)), cn.events.datagram(d)) };
    cn.attach(await openNetnsChannel(`/run/netns/${ns}`, events));
    mkdirSync(join(here, "requests"), { recursive: true });
    mkdirSync(join(here, "replies"), { recursive: true });

    const dumps = new Map<string, NlMessage[]>();
    let done: NlMessage | null = null;
    const replies = new Map<string, NlMessage>();
    for (const c of requestCases) {
      const req = c.build();
      const flags = req.flags | NLM_F_REQUEST | (c.send === "change" ? NLM_F_ACK : 0);
      const bytes = frame(req.type, flags, req.payload);
      writeFileSync(
        join(here, "requests", `${c.name}.hex`),
        `# ${c.name}: ${c.command}\n# request as the connection frames it (seq 1, pid 0); ${stamp}\n${annotate(bytes)}`,
      );
      if (c.send === "dump") {
        raw.length = 0;
        const r = await conn.dump(req);
        check(typeof r !== "number", `${c.name} dumped`);
        if (typeof r !== "number") dumps.set(c.name, r.messages);
        const last = parseMessages(raw.at(-1)!).at(-1)!;
        if (last.type === 3) done = last;
      } else if (c.send === "get") {
        const r = await conn.get(req);
        check(typeof r !== "number", `${c.name} answered`);
        if (typeof r !== "number" && c.name === "route-get") replies.set("reply-route-get", r);
      } else {
        const [err] = await conn.batch([req]);
        check(err === 0, `${c.name} accepted (errno ${err})`);
      }
      if (c.name === "route-get") {
        // the links as they stand before the deletions at the end
        const r = await conn.dump(requestCases[0]!.build());
        check(typeof r !== "number", "link dump");
        if (typeof r !== "number") dumps.set("link-dump", r.messages);
      }
      if (c.name === "vxlan-new") {
        raw.length = 0;
        const [err] = await conn.batch([c.build()]);
        check(err === -17, "vxlan-new twice is EEXIST");
        replies.set("reply-error-eexist", parseMessages(raw[0]!)[0]!);
      }
    }
    const pick = (dump: string, pred: (m: NlMessage) => boolean, what: string) => {
      const m = dumps.get(dump)?.find(pred);
      check(m !== undefined, what);
      return m!;
    };
    replies.set("reply-link-vxlan", pick("link-dump", (m) => decodeLink(m.body).name === "flannel.1", "flannel.1 in dump"));
    replies.set("reply-link-vxlan-gbp", pick("link-dump", (m) => decodeLink(m.body).name === "flannel.2", "flannel.2 in dump"));
    replies.set("reply-link-bridge", pick("link-dump", (m) => decodeLink(m.body).name === "cni0", "cni0 in dump"));
    replies.set("reply-addr", pick("addr-dump", (m) => decodeAddr(m.body, nameOf)?.cidr === "172.30.8.0/32", "addr"));
    replies.set("reply-addr-broadcast", pick("addr-dump", (m) => decodeAddr(m.body, nameOf)?.cidr === "172.30.8.1/24", "addr brd"));
    replies.set("reply-route-onlink", pick("route-dump", (m) => decodeRoute(m.body, nameOf)?.dst === "172.30.9.0/24", "onlink route"));
    replies.set("reply-route-table", pick("route-dump", (m) => decodeRoute(m.body, nameOf)?.dst === "172.30.11.0/24", "table route"));
    replies.set("reply-neigh", pick("neigh-dump", (m) => decodeNeigh(m.body, nameOf)?.ip === "172.30.9.0", "neigh"));
    replies.set("reply-fdb", pick("fdb-dump", (m) => decodeFdb(m.body, nameOf)?.lladdr === "0a:58:0a:fa:00:02", "fdb"));
    replies.set("reply-fdb-zero", pick("fdb-dump", (m) => decodeFdb(m.body, nameOf)?.dst === "10.250.0.3", "fdb zero"));
    if (done !== null) replies.set("reply-done", done);

    const decoded: Record<string, unknown> = {};
    for (const [name, m] of replies) {
      const body = m.body;
      const value =
        name.startsWith("reply-link") ? decodeLink(body)
        : name.startsWith("reply-addr") ? decodeAddr(body, nameOf)
        : name.startsWith("reply-route") ? decodeRoute(body, nameOf)
        : name === "reply-neigh" ? decodeNeigh(body, nameOf)
        : name.startsWith("reply-fdb") ? decodeFdb(body, nameOf)
        : name === "reply-error-eexist" ? { error: body.readInt32LE(0) }
        : { done: true };
      decoded[name] = value;
      writeFileSync(
        join(here, "replies", `${name}.hex`),
        `# ${name}\n# kernel reply (pid zeroed); ${stamp}\n${annotate(messageBytes(m))}`,
      );
      writeFileSync(join(here, "replies", `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);
    }

    // independent observers
    const vx = JSON.parse(ip("-n", ns, "-j", "-d", "link", "show", "flannel.1"))[0];
    const d = decoded["reply-link-vxlan"] as ReturnType<typeof decodeLink>;
    check(vx.linkinfo.info_data.id === d.vxlan!.vni && vx.linkinfo.info_data.port === d.vxlan!.port, "vxlan id/port vs ip -j");
    check(vx.linkinfo.info_data.local === d.vxlan!.local && vx.address === d.mac && vx.mtu === d.mtu, "vxlan local/mac/mtu vs ip -j");
    check(vx.linkinfo.info_data.learning === d.vxlan!.learning, "learning vs ip -j");
    const rt = JSON.parse(ip("-n", ns, "-j", "route", "show", "172.30.9.0/24"))[0];
    check(rt.gateway === "172.30.9.0" && rt.dev === "flannel.1" && rt.flags.includes("onlink"), "route vs ip -j");
    const fdb = JSON.parse(execFileSync("bridge", ["-n", ns, "-j", "fdb", "show", "dev", "flannel.1"], { encoding: "utf8" })) as { mac: string; dst?: string; state?: string }[];
    check(fdb.some((f) => f.mac === "0a:58:0a:fa:00:02" && f.dst === "10.250.0.2" && f.state === "permanent"), "fdb vs bridge -j");
    console.log(`wrote ${requestCases.length} requests and ${replies.size} replies to ${here}`);
  } finally {
    conn?.close();
    execFileSync("ip", ["netns", "del", ns]);
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
