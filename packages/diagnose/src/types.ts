/**
 * What `diagnoseNodeState` reads (a node's state as plain data, gathered by
 * `@flannel-sdk/diagnose` or anything else) and what it reports.
 */
import type { KernelState, Lease, NetworkConfig } from "@flannel-sdk/core";
import type { DiagnoseCheck, DiagnoseCode, DiagnoseSeverity } from "./catalogue.js";

/** An error met while reading one part of the state, as plain data. */
export interface ReadError {
  /** The `FlannelError` code (`CONFIG_NOT_FOUND`, `STORE_CLOSED`, `ENOENT`…). */
  readonly code: string;
  readonly message: string;
}

/** One part of the state: its value, or the error reading it. */
export type Read<T> = { readonly value: T } | { readonly error: ReadError };

/** `subnet.env` as read. */
export interface SubnetEnvState {
  /** The path that was read (for messages and fixes). */
  readonly path: string;
  /** The file's values, `null` when the file does not exist, or the error reading it. */
  readonly content: Read<SubnetEnvValues | null>;
}

/** The `FLANNEL_*` values of a subnet.env, `null` when absent. */
export interface SubnetEnvValues {
  readonly network: string | null;
  readonly subnet: string | null;
  /** `FLANNEL_IPV6_NETWORK`, `null` when absent; not compared when `undefined` (not read). */
  readonly ipv6Network?: string | null;
  /** `FLANNEL_IPV6_SUBNET`, `null` when absent; not compared when `undefined` (not read). */
  readonly ipv6Subnet?: string | null;
  readonly mtu: number | null;
  readonly ipMasq: boolean | null;
}

/** An iptables rule flannel installs, as `iptables-save` prints it. */
export interface ExpectedIptablesRule {
  readonly table: "nat" | "filter";
  /** `-A CHAIN …`, words as `iptables-save` prints them. */
  readonly rule: string;
  /** `masq` (`-ip-masq`) or `forward` (flanneld's forward rules, on by default). */
  readonly kind: "masq" | "forward";
}

/**
 * The rules one flannel release line installs for a network and lease subnet (one flavor of
 * `@flannel-sdk/render`'s `renderIpMasqRules`): what diagnose looks for in `iptables-save`.
 */
export interface IpMasqFlavorRules {
  /** The flavor's name, e.g. `"v0.20.2"` or `"current"`. */
  readonly flavor: string;
  /** The first flannel release that installs these rules, e.g. `"v0.20.2"`. */
  readonly since: string;
  /** The last one, or `null` when flannel still installs them. */
  readonly until: string | null;
  /** The masquerade and forward rules, in flannel's order. */
  readonly rules: readonly ExpectedIptablesRule[];
}

/** A node's state, everything `diagnoseNodeState` compares. Plain data. */
export interface NodeState {
  /** When the state was read, ms since the epoch: lease expiry is measured from it. */
  readonly now: number;
  /** The config's key (`/kube-centos/network/config`), for messages. */
  readonly configKey: string;
  /** What the store is, for messages: `etcd v3 at http://127.0.0.1:2379`. */
  readonly storeLabel: string;
  /** The network config, or the error reading it. */
  readonly config: Read<NetworkConfig>;
  /**
   * When the config is missing: whether the other etcd API holds one (flannel ≤ 0.17 reads v2,
   * ≥ 0.18 reads v3; data written with the other API is invisible). `null` when not looked at.
   */
  readonly configElsewhere?: { readonly label: string; readonly found: boolean } | null;
  /** Every lease in the store, and entries that could not be read, or the error listing. */
  readonly leases: Read<{
    readonly leases: readonly Lease[];
    readonly skipped: readonly { readonly key: string; readonly error: ReadError }[];
  }>;
  /** This node's public IP (`-public-ip`), when known; else found from the device or subnet.env. */
  readonly publicIP?: string | null;
  /** This node's public IPv6 (`-public-ipv6`), when known: its identity on an IPv6-only network. */
  readonly publicIPv6?: string | null;
  readonly subnetEnv: SubnetEnvState;
  /** The kernel state; `null` when not read (kernel checks are skipped). */
  readonly kernel: Read<KernelState> | null;
  /** The container bridge to check (`docker0`, `cni0`); default whichever of the two exists. */
  readonly bridge?: string | null;
  /** The external interface; default the vxlan device's lower device, else the one holding the public IP. */
  readonly externalInterface?: { readonly name: string; readonly mtu: number } | null;
  /** `iptables-save` output, the error running it, or `null` when not read. */
  readonly iptables: Read<string> | null;
  /**
   * `ip6tables-save` output, the error running it, or `null` when not read (the IPv6 ip-masq
   * check of a network with `EnableIPv6` is skipped).
   */
  readonly ip6tables?: Read<string> | null;
  /**
   * Every flavor of flannel's rules for a network and lease subnet, oldest first
   * (`@flannel-sdk/render`'s `renderIpMasqRules` over `IP_MASQ_FLAVORS`): diagnose finds which
   * one the node has and checks against that one. Without it the ip-masq check is skipped.
   */
  readonly ipMasqFlavors?:
    | ((network: string, subnet: string) => readonly IpMasqFlavorRules[])
    | null;
  /**
   * The flavor this node's agent installs (flanneld-ts: `"current"`): expected when the node
   * has no flannel rule at all, and preferred when two flavors match equally well. Default the
   * newest of `ipMasqFlavors`.
   */
  readonly masqFlavor?: string | null;
  /** Whether flanneld runs with `-ip-masq`; default `FLANNEL_IPMASQ` of subnet.env. */
  readonly ipMasq?: boolean | null;
  /** flanneld's `-subnet-lease-renew-margin` in minutes (default 60). */
  readonly renewMarginMinutes?: number;
}

/** One thing wrong with the node: what was expected, what was found, and how to fix it. */
export interface DiagnoseFinding {
  readonly code: DiagnoseCode;
  readonly severity: DiagnoseSeverity;
  readonly check: DiagnoseCheck;
  /** What it is about: `flannel.1`, `route 172.30.41.0/24 (node 172.16.97.12)`. */
  readonly subject: string;
  /** One sentence: what is wrong and what it breaks. */
  readonly message: string;
  readonly expected: string;
  readonly found: string;
  /** What to do: a command where one fixes it. */
  readonly fix: string;
}

/** How one check went. */
export interface DiagnoseCheckResult {
  readonly check: DiagnoseCheck;
  readonly status: "ok" | "error" | "warning" | "skipped";
  /** What was checked (`ok`), or why it was skipped. */
  readonly detail: string;
}

/** The result of `diagnoseNodeState`: JSON-safe plain data. */
export interface Diagnosis {
  /** True when there is no `error` finding. */
  readonly ok: boolean;
  /** The node as identified. */
  readonly node: {
    readonly publicIP: string | null;
    readonly subnet: string | null;
    readonly backend: string | null;
    readonly device: string | null;
    readonly bridge: string | null;
  };
  readonly checks: readonly DiagnoseCheckResult[];
  readonly findings: readonly DiagnoseFinding[];
  readonly errors: number;
  readonly warnings: number;
}
