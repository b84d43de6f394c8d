/**
 * Which flavor of flannel's ip-masq rules a node has: each flavor's rules scored against the
 * node's `iptables-save` in order, and the shape of a rule whatever its network, to spot a stale
 * one of any flavor.
 */
import { iptablesRuleKey } from "@flannel-sdk/render";
import type { ExpectedIptablesRule, IpMasqFlavorRules } from "../types.js";

/** The length of the longest common subsequence of two short lists. */
export function commonInOrder(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (const x of a) {
    const row = [0];
    for (let j = 0; j < b.length; j++) {
      row.push(x === b[j] ? prev[j]! + 1 : Math.max(prev[j + 1]!, row[j]!));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** An expected rule's key, as render's reader keys a saved one. */
export const keyOf = (e: ExpectedIptablesRule) => iptablesRuleKey(e.table, e.rule);

const MULTICAST = new Set(["224.0.0.0/4", "ff00::/8"]);

const CIDR_WORD = /^[0-9a-f:.]+\/\d+$/i;

/** A rule with its CIDRs (but the multicast ranges) numbered in order: the same rule for any network and lease. */
export function ruleShape(key: string): string {
  const seen = new Map<string, string>();
  return key
    .split(" ")
    .map((w) => {
      if (!CIDR_WORD.test(w) || MULTICAST.has(w)) return w;
      let id = seen.get(w);
      if (id === undefined) {
        id = `<${seen.size + 1}>`;
        seen.set(w, id);
      }
      return id;
    })
    .join(" ");
}

/** The flavor diagnose checks against, and the flannel releases it stands for. */
interface FlavorMatch {
  readonly flavor: IpMasqFlavorRules;
  /** Whether any of its (checked) rules is on the node; if not, it is the agent's flavor. */
  readonly found: boolean;
  /** `flannel v0.20.2`, `flannel v0.20.0 – v0.20.1`, `flannel v0.21.3 and later`. */
  readonly versions: string;
}

/**
 * Which flavor the node has: the one with the most of its checked rules present in its order
 * (flavors share rules but not their order: a v0.20.2 node that lost a rule still reads as
 * v0.20.2, not as current); on a tie the agent's, else the one with the fewest missing (the
 * newer on a tie again). Nothing present: the agent's. Neighbouring flavors whose checked rules
 * are the same are named together.
 */
export function matchFlavor(
  flavors: readonly IpMasqFlavorRules[],
  saved: readonly string[],
  checked: (e: ExpectedIptablesRule) => boolean,
  agent: string | null,
): FlavorMatch {
  const known = new Set(flavors.flatMap((f) => f.rules.map(keyOf)));
  const mentioned = saved.filter((k) => known.has(k));
  const inTable = (keys: readonly string[], table: string) =>
    keys.filter((k) => k.startsWith(`${table} `));
  const scored = flavors.map((flavor) => {
    const keys = flavor.rules.filter(checked).map(keyOf);
    const present = ["nat", "filter"].reduce(
      (n, t) => n + commonInOrder(inTable(keys, t), inTable(mentioned, t)),
      0,
    );
    return { flavor, keys, present };
  });
  const mine = scored.find((s) => s.flavor.flavor === agent) ?? scored[scored.length - 1]!;
  const best = Math.max(...scored.map((s) => s.present));
  const missing = (s: (typeof scored)[number]) => s.keys.length - s.present;
  let chosen = mine;
  if (mine.present < best) {
    for (const s of scored) {
      if (s.present === best && (chosen.present < best || missing(s) <= missing(chosen))) {
        chosen = s;
      }
    }
  }
  const same = (s: (typeof scored)[number]) =>
    s.keys.length === chosen.keys.length && s.keys.every((k) => chosen.keys.includes(k));
  let lo = scored.indexOf(chosen);
  let hi = lo;
  while (lo > 0 && same(scored[lo - 1]!)) lo--;
  while (hi < scored.length - 1 && same(scored[hi + 1]!)) hi++;
  const since = scored[lo]!.flavor.since;
  const until = scored[hi]!.flavor.until;
  const versions =
    until === null
      ? `flannel ${since} and later`
      : since === until
        ? `flannel ${since}`
        : `flannel ${since} – ${until}`;
  return { flavor: chosen.flavor, found: best > 0, versions };
}

/** `nat FLANNEL-POSTRTG`, or `nat POSTROUTING` for the flavors without a chain. */
export function chainOf(rules: readonly ExpectedIptablesRule[]): string {
  const chains = rules.map((e) => `${e.table} ${e.rule.split(" ")[1]}`);
  return chains.find((c) => !/ (POSTROUTING|FORWARD)$/.test(c)) ?? chains[0] ?? "";
}
