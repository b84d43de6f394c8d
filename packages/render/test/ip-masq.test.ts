import { readFileSync } from "node:fs";
import { isFlannelError } from "@flannel-sdk/core";
import { tierGate } from "@flannel-sdk/core/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { formatIptablesRule, type IpMasqRules, renderIpMasqRules } from "../src/index.js";
import { kernelMissing, ruleLines, TestNetns } from "./helpers/netns.js";

const golden = (name: string) =>
  readFileSync(new URL(`golden/ip-masq/${name}`, import.meta.url), "utf8");
const v4 = { network: "172.30.0.0/16", subnet: "172.30.8.0/24" };
const v6 = { network: "2001:cafe:42::/56", subnet: "2001:cafe:42:8::/64" };

describe("renderIpMasqRules (reference §7)", () => {
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
    expect(renderIpMasqRules(v4).restore).toBe(golden("current-v4-declared.restore"));
    const existing = golden("current-v4-declared.restore");
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
    expect(r.restore).toBe(golden("v0.11.restore"));
    expect(r.chains).toEqual([]);
  });

  it("masks host bits and refuses mixed families and IPv6 for v0.11", () => {
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
    expect(code(() => renderIpMasqRules({ ...v6, flavor: "v0.11" }))).toBe("INVALID_ARGUMENT");
    expect(
      code(() =>
        renderIpMasqRules({ network: "172.30.0.0/16\n-A INPUT -j DROP", subnet: v4.subnet }),
      ),
    ).toBe("INVALID_CIDR");
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

    it("v0.11 flavor, applied twice", () => {
      const r = renderIpMasqRules({ ...v4, flavor: "v0.11", randomFully: false });
      restore(r);
      restore(renderIpMasqRules({ ...v4, flavor: "v0.11", randomFully: false, existing: save() }));
      expect(ruleLines(save())).toEqual(expected(r));
    });
  },
);
