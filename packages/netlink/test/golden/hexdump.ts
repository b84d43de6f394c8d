/**
 * Annotated hex dumps of netlink messages (pyroute2 style): one field per line, bytes then a
 * `#` comment. `readHex` reads them back, ignoring comments.
 */
import { readFileSync } from "node:fs";

const MSG_TYPES: Record<number, string> = {
  2: "NLMSG_ERROR",
  3: "NLMSG_DONE",
  16: "RTM_NEWLINK",
  17: "RTM_DELLINK",
  18: "RTM_GETLINK",
  20: "RTM_NEWADDR",
  21: "RTM_DELADDR",
  22: "RTM_GETADDR",
  24: "RTM_NEWROUTE",
  25: "RTM_DELROUTE",
  26: "RTM_GETROUTE",
  28: "RTM_NEWNEIGH",
  29: "RTM_DELNEIGH",
  30: "RTM_GETNEIGH",
};

const ATTRS: Record<string, Record<number, string>> = {
  link: { 1: "IFLA_ADDRESS", 2: "IFLA_BROADCAST", 3: "IFLA_IFNAME", 4: "IFLA_MTU", 5: "IFLA_LINK", 10: "IFLA_MASTER", 16: "IFLA_OPERSTATE", 18: "IFLA_LINKINFO", 29: "IFLA_EXT_MASK" },
  linkinfo: { 1: "IFLA_INFO_KIND", 2: "IFLA_INFO_DATA" },
  vxlan: { 1: "IFLA_VXLAN_ID", 2: "IFLA_VXLAN_GROUP", 3: "IFLA_VXLAN_LINK", 4: "IFLA_VXLAN_LOCAL", 5: "IFLA_VXLAN_TTL", 6: "IFLA_VXLAN_TOS", 7: "IFLA_VXLAN_LEARNING", 8: "IFLA_VXLAN_AGEING", 9: "IFLA_VXLAN_LIMIT", 10: "IFLA_VXLAN_PORT_RANGE", 11: "IFLA_VXLAN_PROXY", 12: "IFLA_VXLAN_RSC", 13: "IFLA_VXLAN_L2MISS", 14: "IFLA_VXLAN_L3MISS", 15: "IFLA_VXLAN_PORT", 16: "IFLA_VXLAN_GROUP6", 17: "IFLA_VXLAN_LOCAL6", 18: "IFLA_VXLAN_UDP_CSUM", 19: "IFLA_VXLAN_UDP_ZERO_CSUM6_TX", 20: "IFLA_VXLAN_UDP_ZERO_CSUM6_RX", 23: "IFLA_VXLAN_GBP", 29: "IFLA_VXLAN_TTL_INHERIT", 30: "IFLA_VXLAN_DF" },
  addr: { 1: "IFA_ADDRESS", 2: "IFA_LOCAL", 3: "IFA_LABEL", 4: "IFA_BROADCAST", 6: "IFA_CACHEINFO", 8: "IFA_FLAGS", 11: "IFA_RT_PRIORITY", 12: "IFA_TARGET_NETNSID", 13: "IFA_PROTO" },
  route: { 1: "RTA_DST", 2: "RTA_SRC", 4: "RTA_OIF", 5: "RTA_GATEWAY", 6: "RTA_PRIORITY", 7: "RTA_PREFSRC", 12: "RTA_CACHEINFO", 15: "RTA_TABLE", 25: "RTA_UID" },
  neigh: { 1: "NDA_DST", 2: "NDA_LLADDR", 3: "NDA_CACHEINFO", 4: "NDA_PROBES", 5: "NDA_VLAN", 6: "NDA_PORT", 7: "NDA_VNI", 8: "NDA_IFINDEX", 9: "NDA_MASTER", 14: "NDA_PROTOCOL", 15: "NDA_NH_ID", 16: "NDA_FDB_EXT_ATTRS" },
};

function hexBytes(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

class Out {
  readonly lines: string[] = [];
  field(b: Uint8Array, comment: string, indent = ""): void {
    for (let i = 0; i < b.length; i += 16) {
      const chunk = hexBytes(b.subarray(i, i + 16));
      this.lines.push(`${indent}${chunk.padEnd(48)}${i === 0 ? `# ${comment}` : "#   …"}`);
    }
    if (b.length === 0) this.lines.push(`${indent}${"".padEnd(48)}# ${comment}`);
  }
}

function family(type: number): "link" | "addr" | "route" | "neigh" | null {
  if (type >= 16 && type <= 19) return "link";
  if (type >= 20 && type <= 22) return "addr";
  if (type >= 24 && type <= 26) return "route";
  if (type >= 28 && type <= 30) return "neigh";
  return null;
}

function attrs(out: Out, buf: Buffer, table: string, indent: string): void {
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const rawType = buf.readUInt16LE(off + 2);
    const type = rawType & 0x3fff;
    const name = ATTRS[table]?.[type] ?? `attr ${type}`;
    out.field(buf.subarray(off, off + 4), `nla_len=${len} nla_type=${type}${rawType & 0x8000 ? "|NESTED" : ""} ${name}`, indent);
    const payload = buf.subarray(off + 4, off + len);
    const sub =
      table === "link" && type === 18
        ? "linkinfo"
        : table === "linkinfo" && type === 2
          ? "vxlan"
          : null;
    if (sub !== null && len > 4) attrs(out, payload, sub, `${indent}  `);
    else out.field(payload, describe(payload, name), `${indent}  `);
    const pad = ((len + 3) & ~3) - len;
    if (pad > 0 && off + len + pad <= buf.length) out.field(buf.subarray(off + len, off + len + pad), "padding", `${indent}  `);
    off += (len + 3) & ~3;
  }
}

function describe(p: Buffer, name: string): string {
  if (/IFNAME|LABEL|INFO_KIND/.test(name)) return JSON.stringify(p.toString("utf8").replace(/\0+$/, ""));
  if (p.length === 4 && /DST|GATEWAY|LOCAL|ADDRESS|BROADCAST|PREFSRC|GROUP/.test(name)) return Array.from(p).join(".");
  if (p.length === 6 && /ADDRESS|LLADDR/.test(name)) return hexBytes(p).replaceAll(" ", ":");
  if (/VXLAN_PORT$/.test(name) && p.length === 2) return `port ${p.readUInt16BE(0)} (big-endian)`;
  if (p.length === 4) return `u32 ${p.readUInt32LE(0)}`;
  if (p.length === 1) return `u8 ${p[0]}`;
  if (p.length === 2) return `u16 ${p.readUInt16LE(0)}`;
  return `${p.length} bytes`;
}

/** Annotated dump of a datagram of one or more netlink messages. */
export function annotate(datagram: Buffer): string {
  const out = new Out();
  let off = 0;
  while (off + 16 <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    const type = datagram.readUInt16LE(off + 4);
    const flags = datagram.readUInt16LE(off + 6);
    out.lines.push(`## message at offset ${off}`);
    out.field(datagram.subarray(off, off + 4), `nlmsg_len = ${len}`);
    out.field(datagram.subarray(off + 4, off + 6), `nlmsg_type = ${type} ${MSG_TYPES[type] ?? ""}`);
    out.field(datagram.subarray(off + 6, off + 8), `nlmsg_flags = 0x${flags.toString(16)}`);
    out.field(datagram.subarray(off + 8, off + 12), `nlmsg_seq = ${datagram.readUInt32LE(off + 8)}`);
    out.field(datagram.subarray(off + 12, off + 16), `nlmsg_pid = ${datagram.readUInt32LE(off + 12)}`);
    const body = datagram.subarray(off + 16, off + len);
    if (type === 2) {
      out.field(body.subarray(0, 4), `error = ${body.readInt32LE(0)}`);
      if (body.length > 4) out.field(body.subarray(4), "the request it answers (header + payload)");
    } else if (type === 3) {
      out.field(body, "done");
    } else {
      const fam = family(type);
      const hdr = fam === "link" ? 16 : fam === "addr" ? 8 : 12;
      const names: Record<string, string> = {
        link: "ifinfomsg: family, pad, type u16, index i32, flags u32, change u32",
        addr: "ifaddrmsg: family, prefixlen, flags, scope, index u32",
        route: "rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags u32",
        neigh: "ndmsg: family, pad, pad u16, ifindex i32, state u16, flags, type",
      };
      out.field(body.subarray(0, hdr), fam === null ? "payload" : names[fam]!);
      if (fam !== null) attrs(out, body.subarray(hdr), fam, "");
    }
    off += (len + 3) & ~3;
  }
  return `${out.lines.join("\n")}\n`;
}

/** The bytes of an annotated dump (everything after `#` on a line is a comment). */
export function readHex(path: string): Buffer {
  const text = readFileSync(path, "utf8");
  const hex = text
    .split("\n")
    .map((l) => l.replace(/#.*$/, ""))
    .join(" ")
    .replace(/\s+/g, "");
  return Buffer.from(hex, "hex");
}
