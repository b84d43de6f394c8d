import { isFlannelError } from "@flannel-sdk/core";
import { tierGate } from "@flannel-sdk/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  applyIpMasqRules,
  deleteIpMasqRules,
  formatIptablesRule,
  type IpMasqKeeperEvent,
  type IpMasqRules,
  iptablesSave,
  keepIpMasqRules,
  missingIptablesRules,
  renderIpMasqRules,
} from "../src/index.js";
import { kernelMissing, ruleLines, TestNetns } from "./helpers/netns.js";

const v4 = { network: "172.30.0.0/16", subnet: "172.30.8.0/24" };

const expected = (r: IpMasqRules) =>
  [...r.masq, ...r.forward].map((rule) => `${rule.table} ${formatIptablesRule(rule)}`);

describe("missingIptablesRules", () => {
  it("lists the rules an iptables-save dump lacks, in order", () => {
    const r = renderIpMasqRules({ ...v4, forwardRules: false });
    const all = `*nat\n${r.masq.map((x) => formatIptablesRule(x)).join("\n")}\nCOMMIT\n`;
    expect(missingIptablesRules(r, all)).toEqual([]);
    const lacking = all.replace(`${formatIptablesRule(r.masq[3]!)}\n`, "");
    expect(missingIptablesRules(r, lacking)).toEqual([r.masq[3]]);
    // the same line in another table does not count
    expect(missingIptablesRules(r, all.replace("*nat", "*filter"))).toHaveLength(7);
  });
});

describe.runIf(tierGate("kernel", kernelMissing()))("applying ip-masq rules (kernel)", () => {
  let ns: TestNetns;
  beforeEach(() => {
    ns = new TestNetns();
  });
  afterEach(() => ns.close());
  const save = () => ns.run(["iptables-save"]).stdout;

  it("applyIpMasqRules installs flannel's rules once, however often it runs", async () => {
    const r = await applyIpMasqRules({ ...v4, netns: ns.name });
    expect(ruleLines(save())).toEqual(expected(r));
    await applyIpMasqRules({ ...v4, netns: ns.name });
    await applyIpMasqRules({ ...v4, netns: ns.name });
    expect(ruleLines(save())).toEqual(expected(r));
    expect(ruleLines(await iptablesSave(4, { netns: ns.name }))).toEqual(expected(r));
  });

  it("deleteIpMasqRules removes the rules of an old subnet and leaves others", async () => {
    ns.run(["iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "198.51.100.0/24", "-j", "RETURN"]);
    const old = { ...v4, subnet: "172.30.9.0/24", flavor: "v0.11" as const };
    await applyIpMasqRules({ ...old, netns: ns.name });
    expect(ruleLines(save())).toHaveLength(7);
    expect(await deleteIpMasqRules({ ...old, netns: ns.name })).toBe(6);
    expect(ruleLines(save())).toEqual(["nat -A POSTROUTING -s 198.51.100.0/24 -j RETURN"]);
    expect(await deleteIpMasqRules({ ...old, netns: ns.name })).toBe(0);
  });

  it("keepIpMasqRules rebuilds the set when a rule is deleted behind its back", async () => {
    const events: IpMasqKeeperEvent[] = [];
    const keeper = await keepIpMasqRules({
      ...v4,
      netns: ns.name,
      resyncSeconds: 0.2,
      onEvent: (e) => events.push(e),
    });
    try {
      const want = expected(keeper.rules);
      expect(ruleLines(save())).toEqual(want);
      ns.run(["iptables", "-t", "nat", "-F", "FLANNEL-POSTRTG"]);
      const deadline = Date.now() + 10_000;
      while (events.length === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      expect(events[0]?.type).toBe("rebuilt");
      if (events[0]?.type === "rebuilt") expect(events[0].missing).toHaveLength(6);
      expect(ruleLines(save())).toEqual(want);
    } finally {
      await keeper.close();
    }
  });

  it("reports the tool's failure as IPTABLES_FAILED", async () => {
    const err = await applyIpMasqRules({ ...v4, netns: `${ns.name}-missing` }).catch((e) => e);
    expect(isFlannelError(err, "IPTABLES_FAILED")).toBe(true);
  });
});
