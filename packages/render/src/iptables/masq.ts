import { parseCidr } from "@flannel-sdk/core";
import { invalidArgument } from "../errors.js";

/** The iptables tables flannel touches. */
export type IptablesTable = "nat" | "filter";

/** One rule: table, chain and the rule spec (match flags, comment, target), as argv words. */
export interface IptablesRule {
  readonly table: IptablesTable;
  readonly chain: string;
  readonly spec: readonly string[];
}

/** Options of {@link renderIpMasqRules}. */
export interface IpMasqRulesOptions {
  /** The whole overlay (config `Network` / `IPv6Network`), e.g. `"172.30.0.0/16"`; host bits are cleared. */
  network: string;
  /** This node's lease subnet, same family, e.g. `"172.30.8.0/24"` (`"172.30.8.1/24"` works too). */
  subnet: string;
  /**
   * `"current"` (default): flannel v0.20+ — dedicated chains `FLANNEL-POSTRTG` / `FLANNEL-FWD`
   * jumped to from `POSTROUTING` / `FORWARD`, comments, the kube-proxy mark rule. `"v0.11"`: the
   * four rules appended to `POSTROUTING` and two to `FORWARD`, no chain, no comment (IPv4 only).
   */
  flavor?: "current" | "v0.11";
  /** Append `--random-fully` to the MASQUERADE rules (flannel does when iptables ≥ 1.6.2 and `--ip-masq-fully-random-disable` is not set). Default true. */
  randomFully?: boolean;
  /** Include the forward rules (flanneld's `--iptables-forward-rules`, default true). */
  forwardRules?: boolean;
  /**
   * The current rules, as `iptables-save` prints them: every rule of the set already present gets
   * a `-D` line before its `-A`, as flannel does, so applying the payload again leaves one copy.
   */
  existing?: string;
  /**
   * Start each table with a `:FLANNEL-POSTRTG - [0:0]` / `:FLANNEL-FWD - [0:0]` line, which under
   * `--noflush` creates the chain or flushes it, so the payload stands alone (flannel creates and
   * flushes the chains with separate `iptables -N/-F` calls instead; set false for its exact
   * bytes). Default true; ignored by the v0.11 flavor.
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
  /** The chains the rules need (`nat FLANNEL-POSTRTG`, `filter FLANNEL-FWD`; none for v0.11). */
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
export function formatIptablesRule(rule: IptablesRule, action: "-A" | "-D" = "-A"): string {
  const words = rule.spec.map((w, i) => (i > 0 && rule.spec[i - 1] === "--comment" ? `"${w}"` : w));
  return [action, rule.chain, ...words].join(" ");
}

/** The `-A` rule lines of an `iptables-save` dump, each prefixed by its table. @internal */
export function savedRules(text: string | undefined): Set<string> {
  const out = new Set<string>();
  if (text === undefined) return out;
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trimEnd();
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith("-A ")) out.add(`${table} ${line}`);
  }
  return out;
}

/**
 * flannel's ip-masq and forward rules for one address family (reference §7), with the
 * `iptables-restore` payload that installs them. The current flavor, for network N and lease L
 * (comment C = `flanneld masq`): `POSTROUTING -j FLANNEL-POSTRTG`; in `FLANNEL-POSTRTG`: RETURN
 * for kube-proxy's mark `0x4000/0x4000`, `-s L -d N`, `-s N -d L` and `! -s N -d L`; MASQUERADE
 * for `-s N ! -d 224.0.0.0/4` (`ff00::/8` for IPv6) and `! -s N -d N`. Forward rules (comment
 * `flanneld forward`): `FORWARD -j FLANNEL-FWD`, `FLANNEL-FWD -s N -j ACCEPT`, `-d N -j ACCEPT`.
 * The payload lists, per table, `-D` for each rule already in `existing` followed by its `-A`, in
 * rule order, as flannel's `ipTablesCleanAndBuild` does; so the `POSTROUTING` / `FORWARD` jump
 * ends up appended at the end of the built-in chain.
 *
 * @throws FlannelError `INVALID_CIDR`, `INVALID_ARGUMENT` (families differ; IPv6 with v0.11)
 * @example
 * ```ts
 * const { restore, restoreCommand } = renderIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24" });
 * // spawn(restoreCommand[0], restoreCommand.slice(1)).stdin.end(restore)
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
  if (flavor !== "current" && flavor !== "v0.11") {
    throw invalidArgument(`unknown flavor ${JSON.stringify(flavor)}`, "flavor");
  }
  if (flavor === "v0.11" && family === 6) {
    throw invalidArgument("flannel v0.11 has no IPv6 masquerade rules", "flavor");
  }
  const N = network.toString();
  const L = lease.toString();
  const multicast = family === 4 ? "224.0.0.0/4" : "ff00::/8";
  const masqTarget =
    (options.randomFully ?? true) ? ["MASQUERADE", "--random-fully"] : ["MASQUERADE"];
  const withForward = options.forwardRules ?? true;
  const nat = (chain: string, ...spec: string[]): IptablesRule => ({ table: "nat", chain, spec });
  const filter = (chain: string, ...spec: string[]): IptablesRule => ({
    table: "filter",
    chain,
    spec,
  });

  let masq: IptablesRule[];
  let forward: IptablesRule[];
  let chains: { table: IptablesTable; chain: string }[];
  if (flavor === "current") {
    const C = ["-m", "comment", "--comment", "flanneld masq"];
    const F = ["-m", "comment", "--comment", "flanneld forward"];
    masq = [
      nat("POSTROUTING", ...C, "-j", "FLANNEL-POSTRTG"),
      nat("FLANNEL-POSTRTG", "-m", "mark", "--mark", KUBE_PROXY_MARK, ...C, "-j", "RETURN"),
      nat("FLANNEL-POSTRTG", "-s", L, "-d", N, ...C, "-j", "RETURN"),
      nat("FLANNEL-POSTRTG", "-s", N, "-d", L, ...C, "-j", "RETURN"),
      nat("FLANNEL-POSTRTG", "!", "-s", N, "-d", L, ...C, "-j", "RETURN"),
      nat("FLANNEL-POSTRTG", "-s", N, "!", "-d", multicast, ...C, "-j", ...masqTarget),
      nat("FLANNEL-POSTRTG", "!", "-s", N, "-d", N, ...C, "-j", ...masqTarget),
    ];
    forward = withForward
      ? [
          filter("FORWARD", ...F, "-j", "FLANNEL-FWD"),
          filter("FLANNEL-FWD", "-s", N, ...F, "-j", "ACCEPT"),
          filter("FLANNEL-FWD", "-d", N, ...F, "-j", "ACCEPT"),
        ]
      : [];
    chains = [{ table: "nat", chain: "FLANNEL-POSTRTG" }];
    if (withForward) chains.push({ table: "filter", chain: "FLANNEL-FWD" });
  } else {
    masq = [
      nat("POSTROUTING", "-s", N, "-d", N, "-j", "RETURN"),
      nat("POSTROUTING", "-s", N, "!", "-d", multicast, "-j", ...masqTarget),
      nat("POSTROUTING", "!", "-s", N, "-d", L, "-j", "RETURN"),
      nat("POSTROUTING", "!", "-s", N, "-d", N, "-j", ...masqTarget),
    ];
    forward = withForward
      ? [filter("FORWARD", "-s", N, "-j", "ACCEPT"), filter("FORWARD", "-d", N, "-j", "ACCEPT")]
      : [];
    chains = [];
  }

  const declare = flavor === "current" && (options.declareChains ?? true);
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
      out += `${line}\n`;
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
