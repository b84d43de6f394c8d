import { parseCidr } from "@flannel-sdk/core";
import { invalidArgument } from "../errors.js";

/** The iptables tables flannel touches. */
export type IptablesTable = "nat" | "filter";

/** One rule: table, chain and the rule spec (match flags, comment, target), as argv words. */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly spec: readonly string[];
  /**
   * flannel inserts this rule at the top of its chain (`-I`, the jumps of v0.20 – v0.21.2) instead
   * of appending it; `iptables-save` prints it with `-A` all the same.
   */
  readonly insert?: boolean;
}

/**
 * A flannel release line whose `-ip-masq` and forward rules differ from the others', named by the
 * first release that installs them, except the two ends: `"v0.11"` (the install guide's release)
 * covers v0.10.0 – v0.16.1 and `"current"` covers v0.21.3 and later. {@link IP_MASQ_FLAVORS}
 * lists each with its releases; {@link ipMasqFlavorOf} maps a flanneld version to its flavor.
 */
export type IpMasqFlavor =
  | "v0.11"
  | "v0.16.2"
  | "v0.17"
  | "v0.20"
  | "v0.20.2"
  | "v0.21"
  | "current";

/** One entry of {@link IP_MASQ_FLAVORS}. */
export interface IpMasqFlavorInfo {
  readonly flavor: IpMasqFlavor;
  /** The first flannel release that installs these rules, e.g. `"v0.20.2"`. */
  readonly since: string;
  /** The last one, or `null` when flannel still installs them (checked up to v0.28.9). */
  readonly until: string | null;
  /** What sets these rules apart, in a few words. */
  readonly summary: string;
}

/**
 * Every flavor of {@link renderIpMasqRules}, oldest first, with the flannel releases that install
 * it (read in each tag's `network/iptables.go` / `pkg/…/iptables.go`; v0.11.0 and v0.20.2
 * checked against the real binaries). IPv6 rules exist from v0.15.0 on, shaped like the IPv4
 * ones with `ff00::/8` for `224.0.0.0/4`.
 *
 * @example
 * ```ts
 * IP_MASQ_FLAVORS.find((f) => f.flavor === "v0.20.2")!.until; // "v0.20.2"
 * ```
 */
export const IP_MASQ_FLAVORS: readonly IpMasqFlavorInfo[] = [
  {
    flavor: "v0.11",
    since: "v0.10.0",
    until: "v0.16.1",
    summary: "4 rules in nat POSTROUTING, 2 in filter FORWARD, no chain, no comment",
  },
  {
    flavor: "v0.16.2",
    since: "v0.16.2",
    until: "v0.16.3",
    summary:
      'the v0.11 rules with comments; the IPv4 "--random-fully" MASQUERADE rule is commented "flannel masq"',
  },
  {
    flavor: "v0.17",
    since: "v0.17.0",
    until: "v0.19.2",
    summary: 'the v0.11 rules, each commented "flanneld masq" / "flanneld forward"',
  },
  {
    flavor: "v0.20",
    since: "v0.20.0",
    until: "v0.20.1",
    summary:
      "chains FLANNEL-POSTRTG / FLANNEL-FWD holding the v0.17 rules, jumps inserted at the top of POSTROUTING / FORWARD",
  },
  {
    flavor: "v0.20.2",
    since: "v0.20.2",
    until: "v0.20.2",
    summary: "v0.20 plus kube-proxy's mark RETURN rule first in FLANNEL-POSTRTG",
  },
  {
    flavor: "v0.21",
    since: "v0.21.0",
    until: "v0.21.2",
    summary:
      "-s L -d N and -s N -d L RETURN instead of -s N -d N, every RETURN before the MASQUERADEs; jumps inserted",
  },
  {
    flavor: "current",
    since: "v0.21.3",
    until: null,
    summary: "the v0.21 rules with the jumps appended to POSTROUTING / FORWARD",
  },
];

const FLAVOR_NAMES = new Set<string>(IP_MASQ_FLAVORS.map((f) => f.flavor));

function parseVersion(text: string): [number, number, number] | null {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+].*)?$/.exec(text.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : null;
}

function compareVersions(a: [number, number, number], b: [number, number, number]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

/**
 * The flavor of {@link renderIpMasqRules} a flanneld release installs (what `flanneld --version`
 * prints: `"v0.20.2"`, `"0.20.2"`, `"v0.26.1-k3s1"`).
 *
 * @throws FlannelError `INVALID_ARGUMENT` (not a version, or older than v0.10.0, whose rules the
 * SDK does not model)
 * @example
 * ```ts
 * ipMasqFlavorOf("v0.20.2"); // "v0.20.2"
 * ipMasqFlavorOf("v0.26.1"); // "current"
 * ```
 */
export function ipMasqFlavorOf(version: string): IpMasqFlavor {
  const v = parseVersion(version);
  if (v === null) {
    throw invalidArgument(`not a flannel version: ${JSON.stringify(version)}`, "version");
  }
  let found: IpMasqFlavor | null = null;
  for (const f of IP_MASQ_FLAVORS) {
    if (compareVersions(v, parseVersion(f.since)!) >= 0) found = f.flavor;
  }
  if (found === null) {
    throw invalidArgument(
      `flannel ${version} is older than v0.10.0, the oldest release modelled`,
      "version",
    );
  }
  return found;
}

/** Options of {@link renderIpMasqRules}. */
export interface IpMasqRulesOptions {
  /** The whole overlay (config `Network` / `IPv6Network`), e.g. `"172.30.0.0/16"`; host bits are cleared. */
  network: string;
  /** This node's lease subnet, same family, e.g. `"172.30.8.0/24"` (`"172.30.8.1/24"` works too). */
  subnet: string;
  /**
   * Whose rules ({@link IP_MASQ_FLAVORS}). `"current"` (default): flannel v0.21.3+ — chains
   * `FLANNEL-POSTRTG` / `FLANNEL-FWD` appended to `POSTROUTING` / `FORWARD`, comments, the
   * kube-proxy mark rule. `"v0.11"`: the four rules appended to `POSTROUTING` and two to
   * `FORWARD`, no chain, no comment. The others as their entries say.
   */
  flavor?: IpMasqFlavor;
  /** Append `--random-fully` to the MASQUERADE rules (flannel does when iptables ≥ 1.6.2 and `--ip-masq-fully-random-disable` is not set). Default true. */
  randomFully?: boolean;
  /** Include the forward rules (flanneld's `--iptables-forward-rules`, default true). */
  forwardRules?: boolean;
  /**
   * The current rules, as `iptables-save` prints them: every rule of the set already present gets
   * a `-D` line before its `-A` (or `-I`), as flannel does, so applying the payload again leaves
   * one copy.
   */
  existing?: string;
  /**
   * Start each table with a `:FLANNEL-POSTRTG - [0:0]` / `:FLANNEL-FWD - [0:0]` line, which under
   * `--noflush` creates the chain or flushes it, so the payload stands alone (flannel creates and
   * flushes the chains with separate `iptables -N/-F` calls instead; set false for its exact
   * bytes). Default true; ignored by the flavors without chains (v0.11 – v0.17).
   */
  declareChains?: boolean;
}

/** The rules of {@link renderIpMasqRules} and the payload that applies them. */
export interface IpMasqRules {
  readonly family: 4 | 6;
  /** The masquerade rules, table `nat`, in flannel's order. */
  readonly masq: readonly IptablesRule[];
  /** The forward rules, table `filter` (empty when `forwardRules` is false). */
  readonly forward: readonly IptablesRule[];
  /** The chains the rules need (`nat FLANNEL-POSTRTG`, `filter FLANNEL-FWD`; none before v0.20). */
  readonly chains: readonly { readonly table: IptablesTable; readonly chain: string }[];
  /** The `iptables-restore --noflush` input: a `*nat … COMMIT` block, then `*filter … COMMIT`. */
  readonly restore: string;
  /** The command to feed `restore` to: `["iptables-restore", "--noflush"]` or the ip6tables one. */
  readonly restoreCommand: readonly string[];
}

/** kube-proxy's masquerade mark (flannel's `KubeProxyMark`). */
const KUBE_PROXY_MARK = "0x4000/0x4000";

/**
 * Formats a rule the way flannel's iptables-restore payload and `iptables-save` both print it:
 * `<action> <chain> <spec…>`, words separated by one space, the word after `--comment` in double
 * quotes.
 *
 * @example
 * ```ts
 * formatIptablesRule({ table: "nat", chain: "POSTROUTING", spec: ["-m", "comment", "--comment", "flanneld masq", "-j", "FLANNEL-POSTRTG"] });
 * // '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG'
 * ```
 */
export function formatIptablesRule(rule: IptablesRule, action: "-A" | "-I" | "-D" = "-A"): string {
  const words = rule.spec.map((w, i) => (i > 0 && rule.spec[i - 1] === "--comment" ? `"${w}"` : w));
  return [action, rule.chain, ...words].join(" ");
}

/** One `-A` rule of an `iptables-save` dump. */
export interface SavedIptablesRule {
  /** `nat`, `filter`, … */
  readonly table: string;
  /** The rule as printed: `-A CHAIN …`. */
  readonly rule: string;
  /** {@link iptablesRuleKey} of it. */
  readonly key: string;
}

/**
 * A rule's key for comparing: `table -A CHAIN …` without `--random-fully` (flannel adds it when
 * its iptables is ≥ 1.6.2, so either form is flannel's rule) and with single spaces.
 *
 * @example
 * ```ts
 * iptablesRuleKey("nat", "-A POSTROUTING -s 172.30.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE --random-fully");
 * // "nat -A POSTROUTING -s 172.30.0.0/16 ! -d 224.0.0.0/4 -j MASQUERADE"
 * ```
 */
export function iptablesRuleKey(table: string, rule: string): string {
  return `${table} ${rule.replace(/ --random-fully\b/, "").replace(/\s+/g, " ")}`;
}

/**
 * The `-A` rules of an `iptables-save` dump, in order, each with its table and its
 * {@link iptablesRuleKey}. Pure.
 *
 * @example
 * ```ts
 * savedIptablesRules("*nat\n-A POSTROUTING -s 10.0.0.0/8 -j RETURN\nCOMMIT\n");
 * // [{ table: "nat", rule: "-A POSTROUTING -s 10.0.0.0/8 -j RETURN", key: "nat -A POSTROUTING -s 10.0.0.0/8 -j RETURN" }]
 * ```
 */
export function savedIptablesRules(text: string | undefined): SavedIptablesRule[] {
  const out: SavedIptablesRule[] = [];
  if (text === undefined) return out;
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith("-A "))
      out.push({ table, rule: line, key: iptablesRuleKey(table, line) });
  }
  return out;
}

/** The `table -A …` lines of an `iptables-save` dump, exactly as printed. @internal */
export function savedRules(text: string | undefined): Set<string> {
  return new Set(savedIptablesRules(text).map((s) => `${s.table} ${s.rule}`));
}

/** How one flavor's rules are shaped. */
interface FlavorShape {
  /** In chains FLANNEL-POSTRTG / FLANNEL-FWD (v0.20+), jumped to from POSTROUTING / FORWARD. */
  readonly chains: boolean;
  /** The jumps are inserted (`-I`), not appended. */
  readonly insert: boolean;
  readonly comment: boolean;
  /** kube-proxy's mark RETURN rule first in FLANNEL-POSTRTG. */
  readonly mark: boolean;
  /** v0.21+: RETURN `-s L -d N` and `-s N -d L`, then every RETURN before the MASQUERADEs. */
  readonly narrowReturns: boolean;
  /** v0.16.2 – v0.16.3: the IPv4 `--random-fully` `-s N ! -d 224.0.0.0/4` rule says "flannel masq". */
  readonly typo: boolean;
}

// Each release line as what it changed from the one before.
const V011: FlavorShape = {
  chains: false,
  insert: false,
  comment: false,
  mark: false,
  narrowReturns: false,
  typo: false,
};
const V017: FlavorShape = { ...V011, comment: true };
const V020: FlavorShape = { ...V017, chains: true, insert: true };
const V0202: FlavorShape = { ...V020, mark: true };
const V021: FlavorShape = { ...V0202, narrowReturns: true };
const SHAPES: Readonly<Record<IpMasqFlavor, FlavorShape>> = {
  "v0.11": V011,
  "v0.16.2": { ...V017, typo: true },
  "v0.17": V017,
  "v0.20": V020,
  "v0.20.2": V0202,
  "v0.21": V021,
  current: { ...V021, insert: false },
};

/**
 * flannel's ip-masq and forward rules for one address family (flannel
 * `pkg/trafficmngr/iptables/iptables.go`; v0.11: `network/iptables.go`), in the flavor of a
 * flannel release line ({@link IP_MASQ_FLAVORS}), with the `iptables-restore` payload that
 * installs them. The current flavor, for network N and lease L (comment C = `flanneld masq`):
 * `POSTROUTING -j FLANNEL-POSTRTG`; in `FLANNEL-POSTRTG`: RETURN for kube-proxy's mark
 * `0x4000/0x4000`, `-s L -d N`, `-s N -d L` and `! -s N -d L`; MASQUERADE for `-s N ! -d
 * 224.0.0.0/4` (`ff00::/8` for IPv6) and `! -s N -d N`. Forward rules (comment `flanneld
 * forward`): `FORWARD -j FLANNEL-FWD`, `FLANNEL-FWD -s N -j ACCEPT`, `-d N -j ACCEPT`. Before
 * v0.21 the RETURN is one `-s N -d N`, in the order RETURN `-s N -d N`, MASQUERADE `-s N ! -d
 * 224.0.0.0/4`, RETURN `! -s N -d L`, MASQUERADE `! -s N -d N`; before v0.20 those sit in
 * `POSTROUTING` / `FORWARD` themselves. The payload lists, per table, `-D` for each rule already
 * in `existing` followed by its `-A` (`-I` for the jumps flannel v0.20 – v0.21.2 insert), in rule
 * order, as flannel's `ipTablesCleanAndBuild` does.
 *
 * @throws FlannelError `INVALID_CIDR`, `INVALID_ARGUMENT` (families differ; unknown flavor)
 * @example
 * ```ts
 * const { restore, restoreCommand } = renderIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24" });
 * // spawn(restoreCommand[0], restoreCommand.slice(1)).stdin.end(restore)
 * const old = renderIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24", flavor: "v0.20.2" });
 * old.masq.length; // 6
 * ```
 */
export function renderIpMasqRules(options: IpMasqRulesOptions): IpMasqRules {
  const network = parseCidr(options.network).network();
  const lease = parseCidr(options.subnet).network();
  if (network.family !== lease.family) {
    throw invalidArgument("network and subnet must be of the same address family", "subnet");
  }
  const family = network.family;
  const flavor = options.flavor ?? "current";
  if (!FLAVOR_NAMES.has(flavor)) {
    throw invalidArgument(
      `unknown flavor ${JSON.stringify(flavor)}: one of ${[...FLAVOR_NAMES].join(", ")}`,
      "flavor",
    );
  }
  const shape = SHAPES[flavor];
  const N = network.toString();
  const L = lease.toString();
  const randomFully = options.randomFully ?? true;
  const multicast = family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const masqTarget = randomFully ? ["MASQUERADE", "--random-fully"] : ["MASQUERADE"];
  const withForward = options.forwardRules ?? true;
  const comment = (text: string) => (shape.comment ? ["-m", "comment", "--comment", text] : []);
  const C = comment("flanneld masq");
  const F = comment("flanneld forward");
  const postrouting = shape.chains ? "FLANNEL-POSTRTG" : "POSTROUTING";
  const forwardChain = shape.chains ? "FLANNEL-FWD" : "FORWARD";
  const nat = (...spec: string[]): IptablesRule => ({ table: "nat", chain: postrouting, spec });
  const ret = (...match: string[]) => nat(...match, ...C, "-j", "RETURN");
  const masquerade = (match: string[], c = C) => nat(...match, ...c, "-j", ...masqTarget);
  const toOutside = masquerade(
    ["-s", N, "!", "-d", multicast],
    shape.typo && family === 4 && randomFully ? comment("flannel masq") : C,
  );
  const fromHost = masquerade(["!", "-s", N, "-d", N]);

  const masq: IptablesRule[] = [];
  const forward: IptablesRule[] = [];
  const chains: { table: IptablesTable; chain: string }[] = [];
  const jump = (table: IptablesTable, chain: string, c: string[], to: string): IptablesRule => ({
    table,
    chain,
    spec: [...c, "-j", to],
    ...(shape.insert ? { insert: true } : {}),
  });
  if (shape.chains) {
    masq.push(jump("nat", "POSTROUTING", C, postrouting));
    chains.push({ table: "nat", chain: postrouting });
  }
  if (shape.mark) masq.push(ret("-m", "mark", "--mark", KUBE_PROXY_MARK));
  if (shape.narrowReturns) {
    masq.push(ret("-s", L, "-d", N), ret("-s", N, "-d", L), ret("!", "-s", N, "-d", L));
    masq.push(toOutside, fromHost);
  } else {
    masq.push(ret("-s", N, "-d", N), toOutside, ret("!", "-s", N, "-d", L), fromHost);
  }
  if (withForward) {
    if (shape.chains) {
      forward.push(jump("filter", "FORWARD", F, forwardChain));
      chains.push({ table: "filter", chain: forwardChain });
    }
    for (const dir of ["-s", "-d"]) {
      forward.push({ table: "filter", chain: forwardChain, spec: [dir, N, ...F, "-j", "ACCEPT"] });
    }
  }

  const declare = shape.chains && (options.declareChains ?? true);
  const existing = savedRules(options.existing);
  const block = (table: IptablesTable, rules: readonly IptablesRule[]): string => {
    if (rules.length === 0) return "";
    const declared = declare ? chains.filter((c) => c.table === table).map((c) => c.chain) : [];
    let out = `*${table}\n`;
    for (const chain of declared) out += `:${chain} - [0:0]\n`;
    for (const rule of rules) {
      const line = formatIptablesRule(rule);
      // A declared chain is flushed by its declaration: its old rules are gone already.
      if (!declared.includes(rule.chain) && existing.has(`${table} ${line}`)) {
        out += `${formatIptablesRule(rule, "-D")}\n`;
      }
      out += `${rule.insert ? formatIptablesRule(rule, "-I") : line}\n`;
    }
    return `${out}COMMIT\n`;
  };
  return {
    family,
    masq,
    forward,
    chains,
    restore: block("nat", masq) + block("filter", forward),
    restoreCommand: [family === 4 ? "iptables-restore" : "ip6tables-restore", "--noflush"],
  };
}
