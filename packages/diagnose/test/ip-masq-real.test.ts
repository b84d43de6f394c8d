/**
 * Pure: diagnose's ip-masq check on what real flanneld v0.11.0 and v0.20.2 installed
 * (`iptables-save` captured by real-flanneld.interop.test.ts, render's golden files), a node of
 * lease 172.30.8.0/24 in 172.30.0.0/16 with `FLANNEL_IPMASQ=true`: clean as it is; each rule
 * deleted in turn is named against the release's flavor; leftovers of another release are stale.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryLeaseStore } from "@flannel-sdk/core";
import {
  formatIptablesRule,
  IP_MASQ_FLAVORS,
  type IpMasqFlavor,
  ipMasqFlavorOf,
  renderIpMasqRules,
} from "@flannel-sdk/render";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DiagnoseFinding,
  type DiagnoseOptions,
  diagnose,
  formatDiagnosis,
} from "../src/index.js";

const real = (name: string) =>
  readFileSync(new URL(`../../render/test/golden/ip-masq/real/${name}`, import.meta.url), "utf8");
const V011 = real("flanneld-v0.11.0.iptables-save");
const V0202 = real("flanneld-v0.20.2.iptables-save");

let tmp: string;
let subnetFile: string;
const store = new MemoryLeaseStore({
  config: { Network: "172.30.0.0/16", SubnetLen: 24, Backend: { Type: "vxlan" } },
});

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), "diag-masq-"));
  subnetFile = join(tmp, "subnet.env");
  writeFileSync(
    subnetFile,
    "FLANNEL_NETWORK=172.30.0.0/16\nFLANNEL_SUBNET=172.30.8.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
  );
  await store.acquireLease(
    {
      publicIP: "10.99.0.11",
      publicIPv6: null,
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:11" },
      backendV6Data: null,
    },
    { previousSubnet: "172.30.8.0/24" },
  );
});
afterAll(async () => {
  await store.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function check(saved: string, more: Partial<DiagnoseOptions> = {}) {
  const d = await diagnose({
    store,
    netlink: null,
    subnetFile,
    publicIP: "10.99.0.11",
    iptablesSave: saved,
    ...more,
  });
  return {
    d,
    findings: d.findings.filter((f) => f.check === "ip-masq"),
    detail: d.checks.find((c) => c.check === "ip-masq")!.detail,
  };
}

/** The `table rule` lines flannel owns in a capture (docker's rule is not flannel's). */
function flannelRules(saved: string): { table: string; rule: string }[] {
  let table = "";
  const out: { table: string; rule: string }[] = [];
  for (const line of saved.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith("-A ") && !line.includes("docker0")) out.push({ table, rule: line });
  }
  return out;
}

const without = (saved: string, rule: string) =>
  saved
    .split("\n")
    .filter((l) => l !== rule)
    .join("\n");

describe("diagnose on real flanneld's rules (golden captures)", () => {
  const cases: [string, string, IpMasqFlavor, string][] = [
    ["v0.11.0", V011, "v0.11", 'flavor "v0.11" (flannel v0.10.0 – v0.16.1)'],
    ["v0.20.2", V0202, "v0.20.2", 'flavor "v0.20.2" (flannel v0.20.2)'],
  ];

  for (const [version, saved, flavor, named] of cases) {
    it(`${version}: healthy, whatever the agent's flavor`, async () => {
      for (const masqFlavor of ["current", flavor] as const) {
        const { d, findings, detail } = await check(saved, { masqFlavor });
        expect(findings, formatDiagnosis(d)).toEqual([]);
        expect(detail).toBe(
          `${named}: ${flavor === "v0.11" ? "4 masquerade rules for 172.30.8.0/24 and 2" : "6 masquerade rules for 172.30.8.0/24 and 3"} forward rules present`,
        );
      }
    });

    it(`${version}: each rule deleted in turn is named, against the release's flavor`, async () => {
      for (const { table, rule } of flannelRules(saved)) {
        const { d, findings } = await check(without(saved, rule), {
          masqFlavor: ipMasqFlavorOf(version),
        });
        const forward = table === "filter";
        expect(
          findings.map((f: DiagnoseFinding) => [f.code, f.expected]),
          formatDiagnosis(d),
        ).toEqual([
          [forward ? "FORWARD_RULES_MISSING" : "IPMASQ_RULES_MISSING", `${table}: ${rule}`],
        ]);
        expect(findings[0]!.found).toContain(`the node has the rules of ${named}`);
      }
    });
  }

  it("v0.20.2 seen by flanneld-ts (agent flavor current): a deleted rule is still read as v0.20.2's", async () => {
    const named = 'flavor "v0.20.2" (flannel v0.20.2)';
    for (const { rule } of flannelRules(V0202).filter((r) => r.table === "nat")) {
      const { findings } = await check(without(V0202, rule));
      if (rule.includes("--mark")) {
        // without its mark rule, v0.20.2's set is v0.20.0's exactly: nothing is missing from that
        expect(findings).toEqual([]);
        continue;
      }
      expect(findings.map((f) => [f.code, f.expected])).toEqual([
        ["IPMASQ_RULES_MISSING", `nat: ${rule}`],
      ]);
      expect(findings[0]!.found).toContain(named);
    }
  });

  it("with FLANNEL_IPMASQ=false only the forward rules count, named for every release that has them", async () => {
    const { findings, detail } = await check(V0202, { ipMasq: false });
    expect(findings).toEqual([]);
    expect(detail).toBe(
      'flavor "current" (flannel v0.20.0 and later): FLANNEL_IPMASQ=false: no masquerade rules expected and 3 forward rules present',
    );
  });

  it("no flannel rule at all: the agent's flavor is expected, and named", async () => {
    const empty = "*nat\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n*filter\nCOMMIT\n";
    const { findings } = await check(empty, { masqFlavor: "v0.11" });
    expect(findings.map((f) => f.code)).toEqual(["IPMASQ_RULES_MISSING", "FORWARD_RULES_MISSING"]);
    expect(findings[0]).toMatchObject({
      subject: "nat POSTROUTING",
      found:
        '0 of 4 rules present; no flannel rule found; expected flavor "v0.11" (flannel v0.10.0 – v0.16.1), what this node\'s agent installs',
    });
  });

  it("upgraded v0.11.0 → v0.20.2 without a reboot: the v0.11 rules are stale, with their delete commands", async () => {
    const { findings } = await check(V0202 + V011);
    expect(findings.map((f) => f.code)).toEqual(["IPMASQ_RULES_STALE", "FORWARD_RULES_STALE"]);
    expect(findings[0]!.fix.split("\n")).toEqual([
      "iptables -t nat -D POSTROUTING -s 172.30.0.0/16 -d 172.30.0.0/16 -j RETURN",
      "iptables -t nat -D POSTROUTING -s 172.30.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully",
      "iptables -t nat -D POSTROUTING ! -s 172.30.0.0/16 -d 172.30.8.0/24 -j RETURN",
      "iptables -t nat -D POSTROUTING ! -s 172.30.0.0/16 -d 172.30.0.0/16 -j MASQUERADE --random-fully",
    ]);
    expect(findings[1]!.fix).toBe(
      "iptables -t filter -D FORWARD -s 172.30.0.0/16 -j ACCEPT\niptables -t filter -D FORWARD -d 172.30.0.0/16 -j ACCEPT",
    );
  });

  it("a v0.11.0 node whose lease changed: the old lease's rule is stale, the new one's missing", async () => {
    const moved = V011.replace("-d 172.30.8.0/24", "-d 172.30.99.0/24");
    const { findings } = await check(moved);
    expect(findings.map((f) => [f.code, f.expected])).toEqual([
      ["IPMASQ_RULES_MISSING", "nat: -A POSTROUTING ! -s 172.30.0.0/16 -d 172.30.8.0/24 -j RETURN"],
      ["IPMASQ_RULES_STALE", "only the rules of this lease"],
    ]);
  });
});

describe("diagnose on every flavor the SDK renders", () => {
  /** A flavor's rules as `iptables-save` prints them (nft's order: filter, then nat). */
  function saveOf(flavor: IpMasqFlavor): string {
    const r = renderIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24", flavor });
    const block = (t: string, rules: typeof r.masq) =>
      `*${t}\n${rules.map((x) => `${formatIptablesRule(x)}\n`).join("")}COMMIT\n`;
    return block("filter", r.forward) + block("nat", r.masq);
  }

  for (const { flavor } of IP_MASQ_FLAVORS) {
    it(`${flavor}: clean and named; each rule deleted in turn is named`, async () => {
      const saved = saveOf(flavor);
      const clean = await check(saved, { masqFlavor: flavor });
      expect(clean.findings, formatDiagnosis(clean.d)).toEqual([]);
      expect(clean.detail).toMatch(new RegExp(`^flavor "${flavor}" \\(flannel `));
      for (const { table, rule } of flannelRules(saved)) {
        const { d, findings } = await check(without(saved, rule), { masqFlavor: flavor });
        expect(
          findings.map((f) => [f.code, f.expected]),
          formatDiagnosis(d),
        ).toEqual([
          [
            table === "filter" ? "FORWARD_RULES_MISSING" : "IPMASQ_RULES_MISSING",
            `${table}: ${rule}`,
          ],
        ]);
      }
    });
  }
});

/**
 * A dual-stack node (172.30.8.0/24 and fd30:0:0:8::/64 in 172.30.0.0/16 and fd30::/56, as the
 * golden captures): diagnose reads ip6tables-save too and checks flannel's IPv6 rules like the
 * IPv4 ones.
 */
describe("diagnose on real flanneld v0.20.2's ip6tables rules (dual stack)", () => {
  const V0202v6 = real("flanneld-v0.20.2.ip6tables-save");
  const dual = new MemoryLeaseStore({
    config: {
      Network: "172.30.0.0/16",
      SubnetLen: 24,
      EnableIPv6: true,
      IPv6Network: "fd30::/56",
      IPv6SubnetLen: 64,
      Backend: { Type: "vxlan" },
    },
  });
  beforeAll(async () => {
    const lease = await dual.acquireLease(
      {
        publicIP: "10.99.0.11",
        publicIPv6: "fd99::11",
        backendType: "vxlan",
        backendData: { VNI: 1, VtepMAC: "0e:00:00:00:00:11" },
        backendV6Data: { VNI: 1, VtepMAC: "0e:00:00:00:00:16" },
      },
      { previousSubnet: "172.30.8.0/24", previousIPv6Subnet: "fd30:0:0:8::/64" },
    );
    expect([lease.subnet, lease.ipv6Subnet]).toEqual(["172.30.8.0/24", "fd30:0:0:8::/64"]);
  });
  afterAll(() => dual.close());

  const check6 = (saved6: string, more: Partial<DiagnoseOptions> = {}) =>
    check(V0202, { store: dual, ip6tablesSave: saved6, masqFlavor: "v0.20.2", ...more });

  it("healthy: no finding, and the check names both families' flavors", async () => {
    for (const masqFlavor of ["current", "v0.20.2"] as const) {
      const { d, findings, detail } = await check6(V0202v6, { masqFlavor });
      expect(findings, formatDiagnosis(d)).toEqual([]);
      expect(detail).toBe(
        'flavor "v0.20.2" (flannel v0.20.2): 6 masquerade rules for 172.30.8.0/24 and 3 forward rules present; ip6tables flavor "v0.20.2" (flannel v0.20.2): 6 masquerade rules for fd30:0:0:8::/64 and 3 forward rules present',
      );
    }
  });

  it("each IPv6 rule deleted in turn is named, as an ip6tables rule", async () => {
    for (const { table, rule } of flannelRules(V0202v6)) {
      const { d, findings } = await check6(without(V0202v6, rule));
      const forward = table === "filter";
      expect(
        findings.map((f) => [f.code, f.subject, f.expected]),
        formatDiagnosis(d),
      ).toEqual([
        [
          forward ? "FORWARD_RULES_MISSING" : "IPMASQ_RULES_MISSING",
          forward ? "ip6tables filter FLANNEL-FWD" : "ip6tables nat FLANNEL-POSTRTG",
          `ip6tables ${table}: ${rule}`,
        ],
      ]);
      expect(findings[0]!.found).toContain('the node has the rules of flavor "v0.20.2"');
      if (!forward) expect(findings[0]!.fix).toContain("ip6tables-restore --noflush");
    }
  });

  it("the IPv4 rules deleted leave the IPv6 side clean, and the reverse", async () => {
    const rule4 = flannelRules(V0202).find((r) => r.rule.includes("! -d 224.0.0.0/4"))!.rule;
    const { findings } = await check6(V0202v6, { iptablesSave: without(V0202, rule4) });
    expect(findings.map((f) => [f.code, f.expected])).toEqual([
      ["IPMASQ_RULES_MISSING", `nat: ${rule4}`],
    ]);
  });

  it("an IPv6 rule of an old lease is stale, with an ip6tables delete command", async () => {
    const moved = V0202v6.replace("-d fd30:0:0:8::/64", "-d fd30:0:0:9::/64");
    const { findings } = await check6(moved);
    expect(findings.map((f) => f.code)).toEqual(["IPMASQ_RULES_MISSING", "IPMASQ_RULES_STALE"]);
    expect(findings[1]!.fix).toBe(
      'ip6tables -t nat -D FLANNEL-POSTRTG ! -s fd30::/56 -d fd30:0:0:9::/64 -m comment --comment "flanneld masq" -j RETURN',
    );
  });

  it("ip6tables-save that cannot run is said, and names ip6tables-save", async () => {
    const { findings } = await check6("", {
      ip6tablesSave: async () => {
        throw Object.assign(new Error("spawn ip6tables-save ENOENT"), { code: "ENOENT" });
      },
    });
    expect(findings.map((f) => [f.code, f.subject])).toEqual([
      ["IPTABLES_UNREADABLE", "ip6tables-save"],
    ]);
  });

  it("an IPv4-only network never runs ip6tables-save", async () => {
    const { findings } = await check(V0202, {
      ip6tablesSave: async () => {
        throw new Error("must not run");
      },
    });
    expect(findings).toEqual([]);
  });
});
