// CIDR hot paths of @flannel-sdk/core side by side with ip-address, ipaddr.js, cidr-tools@12
// and netmask, in one run. Every library gets the same inputs, cycled from a fixed pool, and
// every result goes through do_not_optimize so that nothing is optimised away.
//
//   npm run build && npm run bench -w @flannel-sdk/bench -- cidr
//
// Prints mitata's report, then a Markdown table (ns/op, ratios) for docs/benchmarks.md.
import { cidrContains, IP4Net, IP6Net, makeSubnetKey, parseSubnetKey } from "@flannel-sdk/core";
import { containsCidr, parseCidr as ctParseCidr } from "cidr-tools";
import { Address4, Address6 } from "ip-address";
import ipaddr from "ipaddr.js";
import { bench, do_not_optimize, group, run, summary } from "mitata";
import { Netmask } from "netmask";
import { compare } from "./harness.mjs";
import { table } from "./report.mjs";

// Deterministic inputs (xorshift32) so every run measures the same strings.
let seed = 0x2545f491;
const rnd = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 0x1_0000_0000;
};
const POOL = 1024;
// Through JSON, as every address flannel handles arrives (etcd values, config, files): flat
// strings. A string built by concatenation is a V8 rope until something flattens it, and
// character access on a rope is slower in every library.
const flat = (list) => JSON.parse(JSON.stringify(list));
const pool = (make) => flat(Array.from({ length: POOL }, make));
const u32 = () => Math.floor(rnd() * 0x1_0000_0000);
const v4text = (n) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
const hex = () => Math.floor(rnd() * 0x10000).toString(16);

// Networks as they appear in flannel: the address is the network address.
const v4cidrs = pool(() => {
  const len = 8 + Math.floor(rnd() * 23);
  return new IP4Net(u32(), len).network().toString();
});
const v6cidrs = pool(() => {
  const len = 32 + Math.floor(rnd() * 95);
  const groups = Array.from({ length: 8 }, () => (rnd() < 0.4 ? "0" : hex()));
  return IP6Net.parse(`${groups.join(":")}/${len}`)
    .network()
    .toString();
});
// contains: a /16 and a /24 that is inside it half of the time.
const v4pairs = pool(() => {
  const base = u32() & 0xffff0000;
  const inner = rnd() < 0.5 ? base + (u32() & 0xff00) : u32() & 0xffffff00;
  return [`${v4text(base >>> 0)}/16`, `${v4text(inner >>> 0)}/24`];
});
const v6pairs = pool(() => {
  const a = `fd${hex().padStart(2, "0").slice(0, 2)}:${hex()}:${hex()}::/48`;
  const net = IP6Net.parse(a);
  const inside = rnd() < 0.5;
  const sub = inside
    ? net.subnetAt(Math.floor(rnd() * 65536), 64)
    : IP6Net.parse(`fc00:${hex()}:${hex()}:${hex()}::/64`);
  return [net.toString(), sub.toString()];
});
const ks = pool(() => Math.floor(rnd() * 65536));
const keys4 = flat(
  v4cidrs.map((c) => makeSubnetKey(c.endsWith("/32") ? c.replace("/32", "/31") : c)),
);
const dualPairs = pool(() => [
  `${v4text((u32() & 0xffffff00) >>> 0)}/24`,
  `fd00:${hex()}:${hex()}:${hex()}::/64`,
]);
const keysDual = flat(dualPairs.map(([a, b]) => makeSubnetKey(a, b)));

let i = 0;
const next = () => (i = (i + 1) & (POOL - 1));

// Pre-parsed objects for the "contains (parsed)" rows.
const p4 = {
  ours: v4pairs.map(([a, b]) => [IP4Net.parse(a), IP4Net.parse(b)]),
  ipAddress: v4pairs.map(([a, b]) => [new Address4(a), new Address4(b)]),
  ipaddr: v4pairs.map(([a, b]) => [ipaddr.IPv4.parseCIDR(a), ipaddr.IPv4.parseCIDR(b)]),
  netmask: v4pairs.map(([a, b]) => [new Netmask(a), new Netmask(b)]),
};
const p6 = {
  ours: v6pairs.map(([a, b]) => [IP6Net.parse(a), IP6Net.parse(b)]),
  ipAddress: v6pairs.map(([a, b]) => [new Address6(a), new Address6(b)]),
  ipaddr: v6pairs.map(([a, b]) => [ipaddr.IPv6.parseCIDR(a), ipaddr.IPv6.parseCIDR(b)]),
  netmask: v6pairs.map(([a, b]) => [new Netmask(a), new Netmask(b)]),
};
const ipaddrContains = ([[net, netLen], [sub, subLen]]) =>
  subLen >= netLen && sub.match(net, netLen);

// subnetAt: the k-th /24 of 10.0.0.0/8 (and the k-th /64 of fd00:1:2::/48) as CIDR text.
const net8 = IP4Net.parse("10.0.0.0/8");
const base8 = new Address4("10.0.0.0/8").bigInt();
const first24 = new Netmask("10.0.0.0/24");
const net48 = IP6Net.parse("fd00:1:2::/48");
const base48 = new Address6("fd00:1:2::/48").bigInt();
const first64 = new Netmask("fd00:1:2::/64");

export const ops = [
  {
    op: "parse v4 CIDR",
    libs: {
      "@flannel-sdk/core": () => IP4Net.parse(v4cidrs[next()]),
      "ip-address": () => new Address4(v4cidrs[next()]),
      "ipaddr.js": () => ipaddr.IPv4.parseCIDR(v4cidrs[next()]),
      "cidr-tools": () => ctParseCidr(v4cidrs[next()]),
      netmask: () => new Netmask(v4cidrs[next()]),
    },
  },
  {
    op: "parse v6 CIDR",
    libs: {
      "@flannel-sdk/core": () => IP6Net.parse(v6cidrs[next()]),
      "ip-address": () => new Address6(v6cidrs[next()]),
      "ipaddr.js": () => ipaddr.IPv6.parseCIDR(v6cidrs[next()]),
      "cidr-tools": () => ctParseCidr(v6cidrs[next()]),
      netmask: () => new Netmask(v6cidrs[next()]),
    },
  },
  {
    op: "contains v4 (parsed)",
    libs: {
      "@flannel-sdk/core": () => {
        const [a, b] = p4.ours[next()];
        return a.contains(b);
      },
      "ip-address": () => {
        const [a, b] = p4.ipAddress[next()];
        return b.isInSubnet(a);
      },
      "ipaddr.js": () => ipaddrContains(p4.ipaddr[next()]),
      netmask: () => {
        const [a, b] = p4.netmask[next()];
        return a.contains(b);
      },
    },
  },
  {
    op: "contains v4 (text)",
    libs: {
      "@flannel-sdk/core": () => {
        const [a, b] = v4pairs[next()];
        return cidrContains(a, b);
      },
      "ip-address": () => {
        const [a, b] = v4pairs[next()];
        return new Address4(b).isInSubnet(new Address4(a));
      },
      "ipaddr.js": () => {
        const [a, b] = v4pairs[next()];
        return ipaddrContains([ipaddr.IPv4.parseCIDR(a), ipaddr.IPv4.parseCIDR(b)]);
      },
      "cidr-tools": () => {
        const [a, b] = v4pairs[next()];
        return containsCidr(a, b);
      },
      netmask: () => {
        const [a, b] = v4pairs[next()];
        return new Netmask(a).contains(b);
      },
    },
  },
  {
    op: "contains v6 (parsed)",
    libs: {
      "@flannel-sdk/core": () => {
        const [a, b] = p6.ours[next()];
        return a.contains(b);
      },
      "ip-address": () => {
        const [a, b] = p6.ipAddress[next()];
        return b.isInSubnet(a);
      },
      "ipaddr.js": () => ipaddrContains(p6.ipaddr[next()]),
      netmask: () => {
        const [a, b] = p6.netmask[next()];
        return a.contains(b);
      },
    },
  },
  {
    op: "contains v6 (text)",
    libs: {
      "@flannel-sdk/core": () => {
        const [a, b] = v6pairs[next()];
        return cidrContains(a, b);
      },
      "ip-address": () => {
        const [a, b] = v6pairs[next()];
        return new Address6(b).isInSubnet(new Address6(a));
      },
      "ipaddr.js": () => {
        const [a, b] = v6pairs[next()];
        return ipaddrContains([ipaddr.IPv6.parseCIDR(a), ipaddr.IPv6.parseCIDR(b)]);
      },
      "cidr-tools": () => {
        const [a, b] = v6pairs[next()];
        return containsCidr(a, b);
      },
      netmask: () => {
        const [a, b] = v6pairs[next()];
        return new Netmask(a).contains(b);
      },
    },
  },
  {
    op: "subnetAt v4 (k-th /24 of a /8, as text)",
    libs: {
      "@flannel-sdk/core": () => net8.subnetAt(ks[next()], 24).toString(),
      "ip-address": () =>
        `${Address4.fromBigInt(base8 + (BigInt(ks[next()]) << 8n)).correctForm()}/24`,
      netmask: () => first24.next(ks[next()]).toString(),
    },
  },
  {
    op: "subnetAt v6 (k-th /64 of a /48, as text)",
    libs: {
      "@flannel-sdk/core": () => net48.subnetAt(ks[next()], 64).toString(),
      "ip-address": () =>
        `${Address6.fromBigInt(base48 + (BigInt(ks[next()]) << 64n)).correctForm()}/64`,
      netmask: () => first64.next(ks[next()]).toString(),
    },
  },
  {
    op: "subnet key encode (v4)",
    libs: {
      "@flannel-sdk/core": () => makeSubnetKey(v4cidrs[next()]),
      "ip-address": () => {
        const a = new Address4(v4cidrs[next()]);
        return `${a.correctForm()}-${a.subnetMask}`;
      },
    },
  },
  {
    op: "subnet key decode (v4)",
    libs: {
      "@flannel-sdk/core": () => parseSubnetKey(keys4[next()]),
      "ip-address": () => {
        const key = keys4[next()];
        const dash = key.indexOf("-");
        const a = new Address4(`${key.slice(0, dash)}/${key.slice(dash + 1)}`);
        return { subnet: `${a.correctForm()}/${a.subnetMask}`, ipv6Subnet: null };
      },
    },
  },
  {
    op: "subnet key encode (dual stack)",
    libs: {
      "@flannel-sdk/core": () => {
        const [a, b] = dualPairs[next()];
        return makeSubnetKey(a, b);
      },
      "ip-address": () => {
        const [a, b] = dualPairs[next()];
        const x = new Address4(a);
        const y = new Address6(b);
        return `${x.correctForm()}-${x.subnetMask}&${y.correctForm()}-${y.subnetMask}`;
      },
    },
  },
  {
    op: "subnet key decode (dual stack)",
    libs: {
      "@flannel-sdk/core": () => parseSubnetKey(keysDual[next()]),
      "ip-address": () => {
        const key = keysDual[next()];
        const amp = key.indexOf("&");
        const d4 = key.indexOf("-");
        const d6 = key.lastIndexOf("-");
        const x = new Address4(`${key.slice(0, d4)}/${key.slice(d4 + 1, amp)}`);
        const y = new Address6(`${key.slice(amp + 1, d6)}/${key.slice(d6 + 1)}`);
        return {
          subnet: `${x.correctForm()}/${x.subnetMask}`,
          ipv6Subnet: `${y.correctForm()}/${y.subnetMask}`,
        };
      },
    },
  },
];

// Sanity: the peers compute the same answers as we do on these inputs.
for (const { op, libs } of ops) {
  if (
    !op.startsWith("contains") &&
    !op.startsWith("subnetAt") &&
    !op.startsWith("subnet key decode")
  )
    continue;
  for (let k = 0; k < POOL; k++) {
    const results = Object.entries(libs).map(([lib, fn]) => {
      i = k - 1;
      const r = fn();
      return [lib, typeof r === "object" ? JSON.stringify(r) : String(r)];
    });
    const want = results[0][1];
    for (const [lib, got] of results) {
      if (got !== want)
        throw new Error(`${op}: ${lib} gives ${got}, @flannel-sdk/core ${want} (input ${k})`);
    }
  }
}

// `node src/cidr.mjs [regex]` runs only the matching operations; `--mitata` prints mitata's
// own report (one library after the other) instead of the interleaved comparison.
const args = process.argv.slice(2);
const only = new RegExp(args.find((a) => !a.startsWith("--")) ?? ".");
const selected = ops.filter(({ op }) => only.test(op));
if (args.includes("--mitata")) {
  for (const { op, libs } of selected) {
    summary(() => {
      group(op, () => {
        for (const [lib, fn] of Object.entries(libs)) {
          bench(`${op} | ${lib}`, () => do_not_optimize(fn()));
        }
      });
    });
  }
  await run();
} else {
  const ns = await compare(selected);
  console.log(table(selected, ns));
}
