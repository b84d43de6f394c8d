/**
 * The `ip-masq` check of one family (`iptables-save`, `ip6tables-save`): the node's flavor of
 * flannel's rules is found and named; with `FLANNEL_IPMASQ=true` its masquerade rules are
 * present and none for another subnet or flavor remains; its forward rules likewise.
 */
import { savedIptablesRules } from "@flannel-sdk/render";
import { RESTART, type Report } from "../report.js";
import type { NodeState, SubnetEnvValues } from "../types.js";
import { chainOf, keyOf, matchFlavor, ruleShape } from "./masq-flavor.js";

/** One family's ip-masq check: its `iptables-save` / `ip6tables-save` and its network and lease. */
interface IptablesFamily {
  readonly family: 4 | 6;
  readonly saved: NodeState["iptables"];
  /** The network and this node's lease subnet of the family, or `null` when unknown. */
  readonly network: string | null;
  readonly subnet: string | null;
}

/** Checks one family's ip-masq and forward rules against the flavor the node has. */
export function checkIptables(
  state: NodeState,
  r: Report,
  { family, saved: read, network, subnet }: IptablesFamily,
  env: SubnetEnvValues | null,
): void {
  const ipMasq = state.ipMasq ?? env?.ipMasq ?? null;
  // the IPv4 side reads as it always has; the IPv6 side names ip6tables everywhere
  const tool = family === 4 ? "iptables" : "ip6tables";
  const v6 = family === 6 ? "IPv6 " : "";
  const tag = family === 4 ? "" : "ip6tables ";
  if (read === null || read === undefined) {
    r.skip("ip-masq", `${tool}-save was not run`);
    return;
  }
  if ("error" in read) {
    r.add("IPTABLES_UNREADABLE", {
      subject: `${tool}-save`,
      message: `the ${v6}iptables rules could not be read`,
      expected: `${tool}-save output`,
      found: `${read.error.code}: ${read.error.message}`,
      fix: "run diagnose as root; apt-get install -y iptables",
    });
    return;
  }
  const flavors =
    state.ipMasqFlavors && network !== null && subnet !== null
      ? state.ipMasqFlavors(network, subnet)
      : [];
  if (flavors.length === 0 || network === null || subnet === null) {
    r.skip("ip-masq", "no rule renderer given");
    return;
  }
  const dump = savedIptablesRules(read.value).map((s) => ({
    key: s.key,
    line: `${s.table} ${s.rule}`,
  }));
  const saved = new Map(dump.map((s) => [s.key, s.line] as const));
  const match = matchFlavor(
    flavors,
    dump.map((s) => s.key),
    (e) => e.kind === "forward" || ipMasq === true,
    state.masqFlavor ?? null,
  );
  const { flavor } = match;
  const named = `flavor "${flavor.flavor}" (${match.versions})`;
  const whose = match.found
    ? `the node has the rules of ${named}`
    : `no flannel rule found; expected ${named}, what this node's agent installs`;
  const expectedOf = (kind: "masq" | "forward") => flavor.rules.filter((e) => e.kind === kind);
  const missingOf = (kind: "masq" | "forward") =>
    expectedOf(kind).filter((e) => !saved.has(keyOf(e)));
  // A saved rule shaped like one of flannel's, of any flavor, that the matched flavor does not
  // hold. Without flannel's comment it must name this network: `-s N -d N -j RETURN` is a
  // common hand-written rule too.
  const staleOf = (kind: "masq" | "forward") => {
    const table = kind === "masq" ? "nat" : "filter";
    const shapes = new Set(
      flavors.flatMap((f) =>
        f.rules.filter((e) => e.kind === kind).map((e) => ruleShape(keyOf(e))),
      ),
    );
    const wanted = new Set(expectedOf(kind).map(keyOf));
    return [...saved]
      .filter(
        ([s]) =>
          s.startsWith(`${table} `) &&
          !wanted.has(s) &&
          shapes.has(ruleShape(s)) &&
          (s.includes('--comment "flannel') || s.split(" ").includes(network)),
      )
      .map(([, line]) => line);
  };
  const lines = (rules: readonly string[]) =>
    rules.map((k) => `${tag}${k.replace(/^(nat|filter) /, "$1: ")}`).join("\n");
  const deletes = (rules: readonly string[]) =>
    rules
      .map((k) => {
        const [table, ...rule] = k.split(" ");
        return `${tool} -t ${table} ${rule.join(" ").replace(/^-A /, "-D ")}`;
      })
      .join("\n");

  let masqNote = `FLANNEL_IPMASQ=${ipMasq}: no masquerade rules expected`;
  if (ipMasq === true) {
    const want = expectedOf("masq");
    const missing = missingOf("masq");
    if (missing.length > 0) {
      r.add("IPMASQ_RULES_MISSING", {
        subject: `${tag}${chainOf(want)}`,
        message: `FLANNEL_IPMASQ=true tells docker not to masquerade (--ip-masq=false), so without flannel's ${v6}rules containers reach nothing outside the overlay; checked against ${named}`,
        expected: missing.map((e) => `${tag}${e.table}: ${e.rule}`).join("\n"),
        found: `${want.length - missing.length} of ${want.length} rules present; ${whose}`,
        fix: `${RESTART}, with -ip-masq (it reinstalls the rules); or feed renderIpMasqRules({ …, flavor: "${flavor.flavor}" }).restore to ${tool}-restore --noflush`,
      });
    }
    const stale = staleOf("masq");
    if (stale.length > 0) {
      r.add("IPMASQ_RULES_STALE", {
        subject: `${tag}${chainOf(want)}`,
        message: `${v6}masquerade rules of another network, subnet or flannel version remain (a previous lease, or a flannel replaced without a reboot); the node's are those of ${named}`,
        expected: "only the rules of this lease",
        found: lines(stale),
        fix: deletes(stale),
      });
    }
    masqNote = `${want.length} masquerade rules for ${subnet}`;
  }
  const wantFwd = expectedOf("forward");
  const missingFwd = missingOf("forward");
  if (missingFwd.length > 0) {
    r.add("FORWARD_RULES_MISSING", {
      subject: `${tag}${chainOf(wantFwd)}`,
      message: `flanneld's ${v6}forward rules are missing: with docker's FORWARD policy DROP, traffic between containers of different nodes is dropped; checked against ${named}`,
      expected: missingFwd.map((e) => `${tag}${e.table}: ${e.rule}`).join("\n"),
      found: `${wantFwd.length - missingFwd.length} of ${wantFwd.length} rules present; ${whose}`,
      fix: `${RESTART} (it installs them unless -iptables-forward-rules=false)`,
    });
  }
  const staleFwd = staleOf("forward");
  if (staleFwd.length > 0) {
    r.add("FORWARD_RULES_STALE", {
      subject: `${tag}${chainOf(wantFwd)}`,
      message: `${v6}forward rules of another network or flannel version remain; the node's are those of ${named}`,
      expected: "only the forward rules of this network",
      found: lines(staleFwd),
      fix: deletes(staleFwd),
    });
  }
  r.ok(
    "ip-masq",
    `${tag}${match.found ? named : `expected ${named}`}: ${masqNote} and ${wantFwd.length} forward rules present`,
  );
}
