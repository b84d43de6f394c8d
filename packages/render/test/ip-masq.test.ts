import { readFileSync } from "node:fs";
import { isFlannelError } from "@flannel-sdk/core";
import { tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  formatIptablesRule,
  IP_MASQ_FLAVORS,
  type IpMasqFlavor,
  type IpMasqRules,
  ipMasqFlavorOf,
  renderIpMasqRules,
} from "../src/index.js";
import { kernelMissing, ruleLines, TestNetns } from "./helpers/netns.js";

const golden = (name: string) =>
  readFileSync(new URL(`golden/ip-masq/${name}`, import.meta.url), "utf8");
const v4 = { network: "172.30.0.0/16", subnet: "172.30.8.0/24" };
const v6 = { network: "2001:cafe:42::/56", subnet: "2001:cafe:42:8::/64" };

describe("renderIpMasqRules (flannel's masq and forward rules)", () => {
  it("current flavor: flannel's payload byte for byte (chains created beforehand, as flannel does)", () => {
    const r = renderIpMasqRules({ ...v4, declareChains: false });
    expect(r.restore).toBe(golden("current-v4.restore"));
    expect(r.restoreCommand).toEqual(["iptables-restore", "--noflush"]);
    expect(r.chains).toEqual([
      { table: "nat", chain: "FLANNEL-POSTRTG" },
      { table: "filter", chain: "FLANNEL-FWD" },
    ]);
    expect(r.masq).toHaveLength(7);
    expect(formatIptablesRule(r.masq[0]!)).toBe(
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    );
  });

  it("after a restart: -D then -A for each rule that still exists (flannel's ipTablesCleanAndBuild)", () => {
    const existing =
      '*nat\n:POSTROUTING ACCEPT [0:0]\n:FLANNEL-POSTRTG - [0:0]\n-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\nCOMMIT\n';
    const r = renderIpMasqRules({
      ...v4,
      declareChains: false,
      randomFully: false,
      forwardRules: false,
      existing,
    });
    expect(r.restore).toBe(golden("current-v4-restart.restore"));
    expect(r.forward).toEqual([]);
  });

  it("self-contained payload declares the chains; the jump is the only rule that needs -D", () => {
    expect(renderIpMasqRules(v4).restore).toBe(golden("flavor-current-v4.restore"));
    const existing = golden("flavor-current-v4.restore");
    const again = renderIpMasqRules({ ...v4, existing }).restore.split("\n");
    expect(again.filter((l) => l.startsWith("-D"))).toEqual([
      '-D POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-D FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
    ]);
  });

  it("IPv6 uses ff00::/8 and ip6tables-restore", () => {
    const r = renderIpMasqRules({ ...v6, declareChains: false });
    expect(r.family).toBe(6);
    expect(r.restore).toBe(golden("current-v6.restore"));
    expect(r.restoreCommand[0]).toBe("ip6tables-restore");
  });

  it("v0.11 flavor: POSTROUTING and FORWARD directly, no chain, no comment", () => {
    const r = renderIpMasqRules({ ...v4, flavor: "v0.11" });
    expect(r.restore).toBe(golden("flavor-v0.11-v4.restore"));
    expect(r.chains).toEqual([]);
  });

  it("masks host bits and refuses mixed families and unknown flavors", () => {
    expect(
      renderIpMasqRules({ network: "172.30.8.0/16", subnet: "172.30.8.1/24", declareChains: false })
        .restore,
    ).toBe(golden("current-v4.restore"));
    const code = (f: () => IpMasqRules) => {
      try {
        f();
      } catch (e) {
        return isFlannelError(e) ? e.code : "other";
      }
      return "none";
    };
    expect(code(() => renderIpMasqRules({ network: v4.network, subnet: v6.subnet }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(code(() => renderIpMasqRules({ ...v4, flavor: "v0.12" as IpMasqFlavor }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      code(() =>
        renderIpMasqRules({ network: "172.30.0.0/16\n-A INPUT -j DROP", subnet: v4.subnet }),
      ),
    ).toBe("INVALID_CIDR");
  });
});

describe("ip-masq flavors: one per flannel release line", () => {
  const lines = (r: IpMasqRules) => [...r.masq, ...r.forward].map((x) => formatIptablesRule(x));

  for (const { flavor } of IP_MASQ_FLAVORS) {
    it(`${flavor}: its payload, IPv4 and IPv6 (golden)`, async () => {
      await expect(renderIpMasqRules({ ...v4, flavor }).restore).toMatchFileSnapshot(
        `golden/ip-masq/flavor-${flavor}-v4.restore`,
      );
      await expect(renderIpMasqRules({ ...v6, flavor }).restore).toMatchFileSnapshot(
        `golden/ip-masq/flavor-${flavor}-v6.restore`,
      );
    });
  }

  it("every flavor differs from its neighbours (else it would not be one)", () => {
    const sets = IP_MASQ_FLAVORS.map((f) => renderIpMasqRules({ ...v4, flavor: f.flavor }).restore);
    expect(new Set(sets).size).toBe(sets.length);
  });

  it("v0.20.2: flannel v0.20's layout, one -s N -d N RETURN, MASQUERADE before the lease RETURN", () => {
    const r = renderIpMasqRules({ ...v4, flavor: "v0.20.2", randomFully: false });
    expect(lines(r)).toEqual([
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 172.30.0.0/16 -d 172.30.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 172.30.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE',
      '-A FLANNEL-POSTRTG ! -s 172.30.0.0/16 -d 172.30.8.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG ! -s 172.30.0.0/16 -d 172.30.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE',
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 172.30.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 172.30.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    ]);
    // the jumps are inserted at the top of POSTROUTING / FORWARD, as v0.20.2 does
    expect(r.restore).toContain(
      '\n-I POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG\n',
    );
    expect(r.restore).toContain(
      '\n-I FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD\n',
    );
  });

  it('v0.16.2: the IPv4 --random-fully MASQUERADE rule says "flannel masq" (flannel\'s typo), nowhere else', () => {
    const typo = (o: Partial<Parameters<typeof renderIpMasqRules>[0]>) =>
      lines(renderIpMasqRules({ ...v4, flavor: "v0.16.2", ...o })).filter((l) =>
        l.includes('"flannel masq"'),
      );
    expect(typo({})).toEqual([
      '-A POSTROUTING -s 172.30.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flannel masq" -j MASQUERADE --random-fully',
    ]);
    expect(typo({ randomFully: false })).toEqual([]);
    expect(typo(v6)).toEqual([]);
  });

  it("ipMasqFlavorOf: each flavor starts at its since, and holds until the next one's (property)", () => {
    for (const f of IP_MASQ_FLAVORS) expect(ipMasqFlavorOf(f.since)).toBe(f.flavor);
    const starts = IP_MASQ_FLAVORS.map((f) => f.since.slice(1).split(".").map(Number));
    fc.assert(
      fc.property(fc.integer({ min: 10, max: 40 }), fc.nat(30), (minor, patch) => {
        const v = [0, minor, patch];
        const cmp = (a: number[], b: number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
        const i = starts.filter((s) => cmp(v, s) >= 0).length - 1;
        expect(ipMasqFlavorOf(`v0.${minor}.${patch}`)).toBe(IP_MASQ_FLAVORS[i]!.flavor);
      }),
    );
  });

  it("ipMasqFlavorOf maps every release to its line", () => {
    const cases: [string, IpMasqFlavor][] = [
      ["v0.10.0", "v0.11"],
      ["v0.11.0", "v0.11"],
      ["0.15.1", "v0.11"],
      ["v0.16.1", "v0.11"],
      ["v0.16.3", "v0.16.2"],
      ["v0.17.0", "v0.17"],
      ["v0.19.2", "v0.17"],
      ["v0.20.1", "v0.20"],
      ["v0.20.2", "v0.20.2"],
      ["v0.20.2-k3s1.23", "v0.20.2"],
      ["v0.21.2", "v0.21"],
      ["v0.21.3", "current"],
      ["v0.28.9", "current"],
      ["v1.0.0", "current"],
    ];
    for (const [version, flavor] of cases)
      expect([version, ipMasqFlavorOf(version)]).toEqual([version, flavor]);
    for (const bad of ["v0.9.1", "latest", ""]) {
      expect(() => ipMasqFlavorOf(bad)).toThrow(
        expect.objectContaining({ code: "INVALID_ARGUMENT" }),
      );
    }
  });
});

function expected(r: IpMasqRules): string[] {
  return [...r.masq, ...r.forward].map((rule) => `${rule.table} ${formatIptablesRule(rule)}`);
}

describe.runIf(tierGate("kernel", kernelMissing()))(
  "ip-masq rules in a network namespace (kernel)",
  () => {
    let ns: TestNetns;
    beforeEach(() => {
      ns = new TestNetns();
    });
    afterEach(() => ns.close());

    const save = (family: 4 | 6 = 4) =>
      ns.run([family === 4 ? "iptables-save" : "ip6tables-save"]).stdout;
    const restore = (r: IpMasqRules) => ns.run([...r.restoreCommand], { input: r.restore });

    it("flannel's sequence: create the chains, apply, restart (flush, -D/-A), same rules", () => {
      ns.run(["iptables", "-t", "nat", "-N", "FLANNEL-POSTRTG"]);
      ns.run(["iptables", "-t", "filter", "-N", "FLANNEL-FWD"]);
      const first = renderIpMasqRules({ ...v4, declareChains: false });
      restore(first);
      expect(ruleLines(save())).toEqual(expected(first));
      // flanneld restarts: ClearChain flushes its chains, then the payload is built from what is left.
      ns.run(["iptables", "-t", "nat", "-F", "FLANNEL-POSTRTG"]);
      ns.run(["iptables", "-t", "filter", "-F", "FLANNEL-FWD"]);
      const second = renderIpMasqRules({ ...v4, declareChains: false, existing: save() });
      expect(second.restore.split("\n").filter((l) => l.startsWith("-D"))).toHaveLength(2);
      restore(second);
      expect(ruleLines(save())).toEqual(expected(first));
    });

    it("the self-contained payload, applied twice, leaves the same rules", () => {
      const r = renderIpMasqRules(v4);
      restore(r);
      const once = ruleLines(save());
      expect(once).toEqual(expected(r));
      restore(renderIpMasqRules({ ...v4, existing: save() }));
      expect(ruleLines(save())).toEqual(once);
    });

    it("keeps other rules of the built-in chains, appending its jump after them", () => {
      ns.run([
        "iptables",
        "-t",
        "nat",
        "-A",
        "POSTROUTING",
        "-s",
        "198.51.100.0/24",
        "-j",
        "RETURN",
      ]);
      const r = renderIpMasqRules({ ...v4, forwardRules: false });
      restore(r);
      restore(renderIpMasqRules({ ...v4, forwardRules: false, existing: save() }));
      expect(ruleLines(save())).toEqual([
        "nat -A POSTROUTING -s 198.51.100.0/24 -j RETURN",
        ...expected(r),
      ]);
    });

    it("IPv6 with ip6tables-restore", () => {
      const r = renderIpMasqRules(v6);
      restore(r);
      restore(renderIpMasqRules({ ...v6, existing: save(6) }));
      expect(ruleLines(save(6))).toEqual(expected(r));
    });

    it("every flavor, applied twice next to a foreign rule: one copy, the jump where flannel puts it", () => {
      const foreign = ["-s", "198.51.100.0/24", "-j", "RETURN"];
      for (const { flavor } of IP_MASQ_FLAVORS) {
        ns.run(["iptables", "-t", "nat", "-F"]);
        ns.run(["iptables", "-t", "nat", "-X"]);
        ns.run(["iptables", "-t", "nat", "-A", "POSTROUTING", ...foreign]);
        const opts = { ...v4, flavor, forwardRules: false };
        const r = renderIpMasqRules(opts);
        restore(r);
        restore(renderIpMasqRules({ ...opts, existing: save() }));
        const want = expected(r);
        const other = `nat -A POSTROUTING ${foreign.join(" ")}`;
        // an inserted jump lands above the foreign rule, an appended one below it
        if (r.masq[0]!.insert) want.splice(1, 0, other);
        else want.unshift(other);
        expect([flavor, ruleLines(save())]).toEqual([flavor, want]);
      }
    });

    it("v0.11 flavor, applied twice", () => {
      const r = renderIpMasqRules({ ...v4, flavor: "v0.11", randomFully: false });
      restore(r);
      restore(renderIpMasqRules({ ...v4, flavor: "v0.11", randomFully: false, existing: save() }));
      expect(ruleLines(save())).toEqual(expected(r));
    });
  },
);
