/**
 * Gathering: reads a node's state from the store, subnet.env, the kernel and iptables, for
 * `diagnoseNodeState`.
 */
import { readFile } from "node:fs/promises";
import {
  DEFAULT_ETCD_PREFIX,
  isFlannelError,
  type KernelState,
  type LeaseStore,
  throwIfAborted,
} from "@flannel-sdk/core";
import type { NetlinkHandle } from "@flannel-sdk/netlink";
import {
  DEFAULT_SUBNET_FILE,
  formatIptablesRule,
  IP_MASQ_FLAVORS,
  type IpMasqFlavor,
  iptablesSave,
  parseSubnetEnv,
  renderIpMasqRules,
} from "@flannel-sdk/render";
import { diagnoseNodeState } from "./evaluate.js";
import type {
  Diagnosis,
  ExpectedIptablesRule,
  IpMasqFlavorRules,
  NodeState,
  Read,
  ReadError,
  SubnetEnvValues,
} from "./types.js";

/** Options of {@link diagnose} and {@link gatherNodeState}. */
export interface DiagnoseOptions {
  /** Where the config and leases are (`EtcdLeaseStore`, `EtcdV2LeaseStore`, `MemoryLeaseStore`). */
  readonly store: LeaseStore;
  /**
   * A handle on the node's network namespace; `null` skips the device, bridge and peer checks.
   * iptables-save runs in the same namespace.
   */
  readonly netlink: NetlinkHandle | null;
  /** flanneld's `-subnet-file`. Default `/run/flannel/subnet.env`. */
  readonly subnetFile?: string;
  /** flanneld's `-public-ip`: the node's identity. Default: the vxlan device's local address, else the lease of subnet.env's subnet. */
  readonly publicIP?: string | null;
  /** flanneld's `-public-ipv6`: the node's identity on an IPv6-only network. Default as `publicIP`'s. */
  readonly publicIPv6?: string | null;
  /** The container bridge. Default docker0, else cni0. */
  readonly bridge?: string | null;
  /** The external interface (flanneld's `-iface` name). Default: the vxlan device's lower device, else the interface with the public IP. */
  readonly iface?: string | null;
  /**
   * The `iptables-save` output to check, or a function giving it; `null` skips the ip-masq
   * check. Default: run `iptables-save` in the handle's namespace.
   */
  readonly iptablesSave?: string | (() => Promise<string>) | null;
  /**
   * The `ip6tables-save` output to check on a network with IPv6 (`EnableIPv6`), or a function
   * giving it; `null` skips the IPv6 ip-masq check. Default: run `ip6tables-save` in the handle's
   * namespace once the config says the network has IPv6 (never for an IPv4-only one).
   */
  readonly ip6tablesSave?: string | (() => Promise<string>) | null;
  /**
   * The flavor of flannel's ip-masq rules this node's agent installs (`@flannel-sdk/render`'s
   * `IpMasqFlavor`; `ipMasqFlavorOf("v0.20.2")` gives a release's). diagnose finds the flavor
   * the node actually has and checks against it; this one is expected when the node has no
   * flannel rule at all, and wins a tie. Default `"current"` (what flanneld-ts installs).
   */
  readonly masqFlavor?: IpMasqFlavor;
  /** Whether flanneld runs with `-ip-masq`. Default: `FLANNEL_IPMASQ` of subnet.env. */
  readonly ipMasq?: boolean | null;
  /** flanneld's `-subnet-lease-renew-margin` (minutes). Default 60. */
  readonly renewMarginMinutes?: number;
  /** The store's key prefix, for messages (`/kube-centos/network`). Default `/coreos.com/network`. */
  readonly prefix?: string;
  /** What the store is, for messages (`etcd v3 at https://10.0.0.1:2379`). */
  readonly storeLabel?: string;
  /**
   * The same etcd through the other API (v2 when `store` is v3, or the reverse): when the config
   * is missing, diagnose says whether it was written with the wrong API.
   */
  readonly otherApiStore?: { readonly label: string; readonly store: LeaseStore } | null;
  /** Clock, ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
}

function readError(e: unknown): ReadError {
  if (isFlannelError(e)) return { code: e.code, message: e.message };
  const code = (e as { code?: unknown })?.code;
  return {
    code: typeof code === "string" ? code : "ERROR",
    message: e instanceof Error ? e.message : String(e),
  };
}

async function read<T>(f: () => Promise<T>, signal?: AbortSignal): Promise<Read<T>> {
  try {
    return { value: await f() };
  } catch (e) {
    if (signal?.aborted) throw e;
    return { error: readError(e) };
  }
}

async function readSubnetFile(path: string, signal?: AbortSignal): Promise<SubnetEnvValues | null> {
  let text: string;
  try {
    text = await readFile(path, { encoding: "utf8", ...(signal ? { signal } : {}) });
  } catch (e) {
    if ((e as { code?: unknown }).code === "ENOENT") return null;
    throw e;
  }
  const env = parseSubnetEnv(text);
  return {
    network: env.network,
    subnet: env.subnet,
    ipv6Network: env.ipv6Network,
    ipv6Subnet: env.ipv6Subnet,
    mtu: env.mtu,
    ipMasq: env.ipMasq,
  };
}

async function readKernel(h: NetlinkHandle, signal?: AbortSignal): Promise<KernelState> {
  // one snapshot per family (five dumps each, names resolved from its link dump); a dual-stack
  // node's IPv6 side is checked like its IPv4 one
  const so = signal ? { signal } : {};
  const [v4, v6] = await Promise.all([
    h.snapshot({ family: 4, ...so }),
    h.snapshot({ family: 6, ...so }),
  ]);
  return {
    links: v4.links,
    addrs: [...v4.addrs, ...v6.addrs],
    routes: [...v4.routes, ...v6.routes],
    neighs: [...v4.neighs, ...v6.neighs],
    fdb: v4.fdb,
  };
}

/**
 * flanneld's iptables rules of one flavor for a network and lease subnet, as iptables-save
 * prints them.
 *
 * @throws FlannelError `INVALID_CIDR`, `INVALID_ARGUMENT` (unknown flavor)
 * @example
 * ```ts
 * expectedRules("current")("172.30.0.0/16", "172.30.8.0/24")[0]!.rule;
 * // '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG'
 * ```
 */
export function expectedRules(flavor: IpMasqFlavor) {
  return (network: string, subnet: string): ExpectedIptablesRule[] => {
    const rules = renderIpMasqRules({ network, subnet, flavor });
    return [
      ...rules.masq.map((r) => ({
        table: r.table,
        rule: formatIptablesRule(r),
        kind: "masq" as const,
      })),
      ...rules.forward.map((r) => ({
        table: r.table,
        rule: formatIptablesRule(r),
        kind: "forward" as const,
      })),
    ];
  };
}

/**
 * Every flavor of flanneld's iptables rules ({@link IP_MASQ_FLAVORS}, oldest first) for a network
 * and lease subnet: what {@link gatherNodeState} passes to {@link diagnoseNodeState} as
 * `ipMasqFlavors`, so that it finds which flannel's rules the node has.
 *
 * @throws FlannelError `INVALID_CIDR`
 * @example
 * ```ts
 * ipMasqFlavorRules("172.30.0.0/16", "172.30.8.0/24").map((f) => f.flavor);
 * // ["v0.11", "v0.16.2", "v0.17", "v0.20", "v0.20.2", "v0.21", "current"]
 * ```
 */
export function ipMasqFlavorRules(network: string, subnet: string): IpMasqFlavorRules[] {
  return IP_MASQ_FLAVORS.map(({ flavor, since, until }) => ({
    flavor,
    since,
    until,
    rules: expectedRules(flavor)(network, subnet),
  }));
}

/**
 * Reads everything {@link diagnose} checks, concurrently: the config and leases from the store
 * (and, when the config is missing, from `otherApiStore`), subnet.env, the links, IPv4
 * addresses, routes, neighbours and FDB of the handle's namespace, and `iptables-save` there
 * (and `ip6tables-save` when the network has IPv6).
 * A part that cannot be read is recorded as an error in the state (it becomes a finding), never
 * thrown.
 *
 * @throws FlannelError `ABORTED`
 * @example
 * ```ts
 * const state = await gatherNodeState({ store, netlink: h, subnetFile: "/run/flannel/subnet.env" });
 * const diagnosis = diagnoseNodeState(state);
 * ```
 */
export async function gatherNodeState(options: DiagnoseOptions): Promise<NodeState> {
  const { store, netlink, signal } = options;
  throwIfAborted(signal);
  const so = signal ? { signal } : {};
  const subnetFile = options.subnetFile ?? DEFAULT_SUBNET_FILE;
  const prefix = (options.prefix ?? DEFAULT_ETCD_PREFIX).replace(/\/+$/, "");
  const saveOf = (given: DiagnoseOptions["iptablesSave"], family: 4 | 6) =>
    typeof given === "string"
      ? async () => given
      : typeof given === "function"
        ? given
        : () => iptablesSave(family, { netns: netlink?.netns ?? null, ...so });
  const ipt = options.iptablesSave;
  const ip6t = options.ip6tablesSave;
  const configRead = read(() => store.getNetworkConfig(so), signal);
  const [config, leases, subnetEnv, kernel, iptables, ip6tables] = await Promise.all([
    configRead,
    read(async () => {
      const l = await store.listLeases(so);
      return {
        leases: l.leases,
        skipped: l.skipped.map((s) => ({ key: s.key, error: readError(s.error) })),
      };
    }, signal),
    read(() => readSubnetFile(subnetFile, signal), signal),
    netlink === null ? Promise.resolve(null) : read(() => readKernel(netlink, signal), signal),
    ipt === null ? Promise.resolve(null) : read(saveOf(ipt, 4), signal),
    // ip6tables only where the network has IPv6: an IPv4-only node needs no ip6tables-save
    configRead.then((c) =>
      ip6t === null || !("value" in c) || !c.value.enableIPv6
        ? null
        : read(saveOf(ip6t, 6), signal),
    ),
  ]);
  let configElsewhere: NodeState["configElsewhere"] = null;
  if ("error" in config && config.error.code === "CONFIG_NOT_FOUND" && options.otherApiStore) {
    const other = await read(() => options.otherApiStore!.store.getNetworkConfig(so), signal);
    configElsewhere = {
      label: options.otherApiStore.label,
      found: "value" in other || other.error.code === "CONFIG_INVALID",
    };
  }
  let externalInterface: NodeState["externalInterface"] = null;
  if (options.iface && kernel !== null && "value" in kernel) {
    const link = kernel.value.links.find((l) => l.name === options.iface);
    if (link) externalInterface = { name: link.name, mtu: link.mtu };
  }
  return {
    now: (options.now ?? Date.now)(),
    configKey: `${prefix}/config`,
    storeLabel: options.storeLabel ?? "the store",
    config,
    configElsewhere,
    leases,
    publicIP: options.publicIP ?? null,
    publicIPv6: options.publicIPv6 ?? null,
    subnetEnv: { path: subnetFile, content: subnetEnv },
    kernel,
    bridge: options.bridge ?? null,
    externalInterface,
    iptables,
    ip6tables,
    ipMasqFlavors: ipMasqFlavorRules,
    masqFlavor: options.masqFlavor ?? "current",
    ipMasq: options.ipMasq ?? null,
    renewMarginMinutes: options.renewMarginMinutes ?? 60,
  };
}

/**
 * Checks a flannel node end to end — the install guide's 验证 and debug sections, automated:
 * gathers the state ({@link gatherNodeState}) and evaluates it with {@link diagnoseNodeState}
 * (the checks are listed there, the finding codes in `DIAGNOSE_FINDINGS` and docs/findings.md).
 * Print the result with `formatDiagnosis` (text or JSON).
 *
 * @throws FlannelError `ABORTED` (nothing else: what cannot be read is a finding)
 * @example
 * ```ts
 * import { diagnose, formatDiagnosis } from "@flannel-sdk/diagnose";
 * import { openHandle } from "@flannel-sdk/netlink";
 *
 * await using netlink = await openHandle();
 * const d = await diagnose({ store, netlink, subnetFile: "/run/flannel/subnet.env", prefix: "/kube-centos/network" });
 * console.log(formatDiagnosis(d));
 * process.exitCode = d.ok ? 0 : 1;
 * ```
 */
export async function diagnose(options: DiagnoseOptions): Promise<Diagnosis> {
  return diagnoseNodeState(await gatherNodeState(options));
}
