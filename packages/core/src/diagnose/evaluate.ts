/**
 * The node check behind `diagnose`: compares what a node should have (from the store, through
 * core's planners) with what it has (subnet.env, the kernel, iptables), and says what differs,
 * what it breaks and how to fix it. Pure: the state is gathered elsewhere.
 */
import type { NetworkConfig } from "../config/types.js";
import { isFlannelError } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { type IPNet, ipFamily, parseNetOrNull } from "../ip/parse.js";
import { isLeaseCompatible } from "../lease/acquire.js";
import type { Lease } from "../lease/types.js";
import { planToCommands } from "../plan/commands.js";
import { planHostGw } from "../plan/hostgw.js";
import type { PlanResult } from "../plan/input.js";
import type { DataPlanePlan } from "../plan/types.js";
import { planVxlan } from "../plan/vxlan.js";
import { reconcileAddresses } from "../reconcile/addresses.js";
import { sameMAC } from "../reconcile/canonical.js";
import type { KernelState, ObservedLink } from "../reconcile/observed.js";
import { reconcilePeers } from "../reconcile/peers.js";
import type {
  DiagnoseCheck,
  DiagnoseCheckResult,
  DiagnoseCode,
  DiagnoseFinding,
  DiagnoseSeverity,
  Diagnosis,
  ExpectedIptablesRule,
  IpMasqFlavorRules,
  NodeState,
  SubnetEnvValues,
} from "./types.js";

const CHECKS: readonly DiagnoseCheck[] = [
  "config",
  "lease",
  "subnet-env",
  "device",
  "bridge",
  "peers",
  "ip-masq",
];

/** The Linux vxlan module's port, used when flannel's `Port` is 0 (not IANA's 4789). */
const VXLAN_DEFAULT_PORT = 8472;

function net4(text: string | null | undefined): IP4Net | null {
  if (typeof text !== "string") return null;
  try {
    return IP4Net.parse(text);
  } catch {
    return null;
  }
}

/** A network of the plan's family, or `null`. */
function netOf(text: string | null | undefined, family: 4 | 6): IPNet | null {
  return parseNetOrNull(text, family);
}

/** `172.30.8.0/24` → `172.30.8.1/24` (what flanneld writes as FLANNEL_SUBNET; IPv6 likewise). */
function firstHost(subnet: IPNet): string {
  return subnet.network().hostAt(1).toString();
}

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m >= 120 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

class Report {
  readonly findings: DiagnoseFinding[] = [];
  readonly #status = new Map<DiagnoseCheck, DiagnoseCheckResult>();

  add(
    check: DiagnoseCheck,
    code: DiagnoseCode,
    severity: DiagnoseSeverity,
    f: { subject: string; message: string; expected: string; found: string; fix: string },
  ): void {
    this.findings.push({ code, severity, check, ...f });
  }

  ok(check: DiagnoseCheck, detail: string): void {
    const was = this.#status.get(check);
    // a dual-stack node reports each family's device / peers: the details join
    if (was?.status === "ok")
      this.#status.set(check, { ...was, detail: `${was.detail}; ${detail}` });
    else if (was === undefined) this.#status.set(check, { check, status: "ok", detail });
  }

  skip(check: DiagnoseCheck, detail: string): void {
    if (!this.#status.has(check)) this.#status.set(check, { check, status: "skipped", detail });
  }

  results(): DiagnoseCheckResult[] {
    return CHECKS.map((check) => {
      const mine = this.findings.filter((f) => f.check === check);
      const status = this.#status.get(check);
      if (mine.some((f) => f.severity === "error")) {
        return { check, status: "error", detail: `${mine.length} finding(s)` };
      }
      if (mine.length > 0) return { check, status: "warning", detail: `${mine.length} finding(s)` };
      return status ?? { check, status: "skipped", detail: "not reached" };
    });
  }
}

const RESTART = "systemctl restart flanneld";
/** Restarting reprograms every remote lease: flanneld (and flanneld-ts) program all leases at start. */
const REPROGRAM = `${RESTART} (it programs every lease at start)`;

/**
 * Checks one flannel node end to end, the install guide's 验证 (verify) and debug sections done
 * automatically:
 * - `config`: the network config exists in the store and parses (when it is missing and the
 *   other etcd API has one, the v2/v3 trap is named); the backend is vxlan or host-gw;
 * - `lease`: this node (by `-public-ip`, else the vxlan device's local address, else
 *   subnet.env's subnet) holds a lease that fits the config, of the config's backend, not
 *   within the renew margin of expiring; remote leases that cannot be programmed are named;
 * - `subnet-env`: the file exists and matches the config and the lease (network, subnet, MTU);
 * - `device`: `flannel.<VNI>` exists, is a compatible vxlan device, is up, holds the lease's
 *   network address as /32 (and no other address in the network), has the MAC the lease
 *   publishes as VtepMAC and the MTU flanneld gives it;
 * - `bridge`: docker0 (or cni0) holds an address in FLANNEL_SUBNET, with its prefix;
 * - `peers`: each remote lease has its neighbour, FDB entry and route (host-gw: route), as
 *   `planVxlan` / `planHostGw` plan them, and no entry of a lease that is gone remains;
 * - dual stack: the IPv6 side's `device` (`flannel-v6.<VNI>`, /128, `BackendV6Data`'s VtepMAC)
 *   and `peers` likewise, and subnet.env's `FLANNEL_IPV6_*` lines when the state has them;
 * - IPv6-only (`EnableIPv4` false): the node is identified by its PublicIPv6 (`-public-ip` when
 *   IPv6, else `flannel-v6.<VNI>`'s local address, else `FLANNEL_IPV6_SUBNET`) and checked like
 *   the IPv6 side of a dual-stack node (`lease`, `subnet-env`, `device`, `peers`, `ip-masq` on
 *   ip6tables); the bridge is not checked;
 * - `ip-masq`: the flavor of flannel's rules the node has is found (`ipMasqFlavors`: v0.11's
 *   plain rules, v0.20's chains, …; none there: the agent's `masqFlavor`) and named; with
 *   `FLANNEL_IPMASQ=true` its masquerade rules are present, and none for another subnet or of
 *   another flavor remains; its forward rules are present, and no stale one. A network with
 *   IPv6 gets the same check of `ip6tables-save` (`ip6tables`), its own flavor found in the IPv6
 *   network and lease; its findings name ip6tables.
 *
 * Every finding has a code, a severity, what was expected, what was found and a fix.
 * Pure: pass the state `@flannel-sdk/diagnose`'s `gatherNodeState` reads, or build it.
 *
 * @example
 * ```ts
 * const d = diagnoseNodeState(state);
 * if (!d.ok) console.log(formatDiagnosis(d));
 * ```
 */
export function diagnoseNodeState(state: NodeState): Diagnosis {
  const r = new Report();
  const node: {
    publicIP: string | null;
    subnet: string | null;
    backend: string | null;
    device: string | null;
    bridge: string | null;
  } = { publicIP: null, subnet: null, backend: null, device: null, bridge: null };
  const done = (): Diagnosis => {
    // in check order; within a check, in the order found
    const findings = CHECKS.flatMap((c) => r.findings.filter((f) => f.check === c));
    const errors = findings.filter((f) => f.severity === "error").length;
    return {
      ok: errors === 0,
      node,
      checks: r.results(),
      findings,
      errors,
      warnings: findings.length - errors,
    };
  };

  // ---- config ------------------------------------------------------------------------------
  const config = checkConfig(state, r);
  if (config === null) {
    for (const c of CHECKS) r.skip(c, "needs the network config");
    return done();
  }
  node.backend = config.backend.type;
  const kernel = state.kernel !== null && "value" in state.kernel ? state.kernel.value : null;
  if (state.kernel !== null && "error" in state.kernel) {
    r.add("device", "KERNEL_UNREADABLE", "error", {
      subject: "netlink",
      message:
        "the kernel state could not be read, so the device, bridge and peer checks did not run",
      expected: "a readable netlink dump",
      found: `${state.kernel.error.code}: ${state.kernel.error.message}`,
      fix: "run diagnose as root in the node's network namespace",
    });
  }

  // ---- subnet.env (read first: it can identify the node) -----------------------------------
  const env = readSubnetEnv(state, r);
  // an IPv6-only network (EnableIPv4 false) is checked on its IPv6 side only: the node is
  // identified by its PublicIPv6, flannel-v6.<VNI> and FLANNEL_IPV6_SUBNET instead
  const v6only = !config.enableIPv4;
  const fam: 4 | 6 = v6only ? 6 : 4;
  const subnetOf = (l: Lease) => (v6only ? l.ipv6Subnet : l.subnet);
  const publicOf = (l: Lease) => (v6only ? l.attrs.publicIPv6 : l.attrs.publicIP);
  const envSubnet = netOf(v6only ? env?.ipv6Subnet : env?.subnet, fam);

  // ---- lease ---------------------------------------------------------------------------------
  if ("error" in state.leases) {
    r.add("lease", "STORE_UNREACHABLE", "error", {
      subject: state.storeLabel,
      message: "the leases could not be listed",
      expected: "the lease list",
      found: `${state.leases.error.code}: ${state.leases.error.message}`,
      fix: "check the store's endpoints, TLS files and credentials (flanneld's -etcd-* flags)",
    });
    for (const c of CHECKS) r.skip(c, "needs the leases");
    return done();
  }
  const { leases, skipped } = state.leases.value;
  for (const s of skipped) {
    r.add("lease", "LEASE_UNREADABLE", "warning", {
      subject: s.key,
      message:
        "an entry under subnets/ cannot be read; flannel v0.28 drops every remote route when it meets one in a watch",
      expected: "a subnet key and lease JSON flannel can read",
      found: `${s.error.code}: ${s.error.message}`,
      fix: `inspect it (etcdctl get ${s.key}) and delete it if it is garbage`,
    });
  }

  const device =
    config.backend.type === "vxlan"
      ? `${v6only ? "flannel-v6" : "flannel"}.${config.backend.vni}`
      : null;
  const vxlanLink =
    kernel !== null && device !== null
      ? (kernel.links.find((l) => l.name === device) ?? null)
      : null;
  let publicIP = state.publicIP ?? null;
  if (v6only && publicIP !== null && ipFamily(publicIP) !== 6) publicIP = null;
  if (publicIP === null && vxlanLink?.vxlan?.local) publicIP = vxlanLink.vxlan.local;
  let own: Lease | null = null;
  if (publicIP !== null) {
    const mine = leases.filter((l) => publicOf(l) === publicIP);
    own =
      mine.find((l) => envSubnet !== null && subnetOf(l) === envSubnet.network().toString()) ??
      mine[0] ??
      null;
  } else if (envSubnet !== null) {
    own = leases.find((l) => subnetOf(l) === envSubnet.network().toString()) ?? null;
    publicIP = own === null ? null : publicOf(own);
  }
  node.publicIP = publicIP;
  if (publicIP === null) {
    r.add("lease", "NODE_UNKNOWN", "error", {
      subject: "this node",
      message:
        "this node's public IP is unknown: no -public-ip given, no vxlan device, no subnet.env",
      expected: "a public IP to find the node's lease by",
      found: "nothing to identify the node",
      fix: "pass the node's -public-ip (flanneld's identity in the store)",
    });
    for (const c of CHECKS) r.skip(c, "needs this node's lease");
    return done();
  }
  if (own === null) {
    const holder =
      envSubnet === null
        ? undefined
        : leases.find((l) => subnetOf(l) === envSubnet.network().toString());
    r.add("lease", "LEASE_NOT_FOUND", "error", {
      subject: `lease of ${publicIP}`,
      message:
        holder === undefined
          ? "this node holds no lease: flanneld is not running, cannot reach the store, or its lease expired (24 h TTL) and it exited"
          : `this node holds no lease, and the subnet in ${state.subnetEnv.path} is now leased to ${publicOf(holder)}`,
      expected: `a lease with ${v6only ? "PublicIPv6" : "PublicIP"} ${publicIP} under ${state.configKey.replace(/\/config$/, "/subnets")}`,
      found: `${leases.length} lease(s), none for ${publicIP}${holder ? `; ${subnetOf(holder)} belongs to ${publicOf(holder)}` : ""}`,
      fix: `${RESTART}; a flanneld that exited 0 on "Lease has been revoked" is not restarted by Restart=on-failure, so use Restart=always`,
    });
    for (const c of CHECKS) r.skip(c, "needs this node's lease");
    return done();
  }
  node.subnet = subnetOf(own);
  const ownNet = net4(own.subnet)!;
  checkLease(state, r, config, own, v6only);

  // ---- the expected data plane ---------------------------------------------------------------
  const ext = externalInterface(state, kernel, vxlanLink, publicIP, fam, env, config, r);
  const plannable = config.backend.type === "vxlan" || config.backend.type === "host-gw";
  let plan: PlanResult | null = null;
  if (plannable && !v6only) {
    try {
      const input = {
        config,
        ownLease: own,
        leases,
        externalInterface: ext,
        publicIP,
        underlaySubnets: underlayOf(kernel, ext.name),
      };
      plan = config.backend.type === "vxlan" ? planVxlan(input) : planHostGw(input);
    } catch (e) {
      r.add("peers", "PLAN_INVALID", "error", {
        subject: `lease ${own.subnet}`,
        message: "the node's own lease or interface cannot be planned",
        expected: "a plannable lease and external interface",
        found: isFlannelError(e) ? e.message : String(e),
        fix: "check the lease's BackendData (VtepMAC) and the external interface",
      });
    }
  }
  if (plan !== null) {
    for (const s of plan.skipped) {
      r.add("peers", "REMOTE_LEASE_IGNORED", "warning", {
        subject: `lease ${s.lease.subnet} (${s.lease.attrs.publicIP})`,
        message: "a remote lease gets no route: its node is unreachable from here",
        expected: `a lease this node can program (${config.backend.type})`,
        found: `${s.reason}: ${s.message}`,
        fix: "fix or delete that lease; its node's flanneld rewrites it when it restarts",
      });
    }
  }

  // the IPv6 side: of a dual-stack node once its IPv4 side plans, of an IPv6-only node always
  const plan6 =
    plannable && config.enableIPv6 && (v6only || plan !== null)
      ? planIPv6(r, kernel, config, own, leases, ext)
      : null;
  const main = v6only ? plan6 : plan;

  checkSubnetEnvValues(state, r, config, own, env, main);

  if (kernel === null) {
    for (const c of ["device", "bridge", "peers"] as const) {
      r.skip(c, "the kernel state was not read");
    }
  } else {
    // each family's plan: the IPv4 one, then a dual-stack node's IPv6 one (an IPv6-only node's only one)
    const plans = (v6only ? [plan6] : [plan, plan6]).filter((p) => p !== null);
    node.device = main?.link?.name ?? null;
    if (main === null) r.skip("device", "no plan");
    else if (main.link === null) r.ok("device", "host-gw has no device");
    for (const p of plans) {
      if (p.link === null) continue;
      const link = kernel.links.find((l) => l.name === p.link!.name) ?? null;
      checkDevice(r, kernel, p, own, link, ext);
    }
    if (v6only) r.skip("bridge", "an IPv6-only network: the bridge's IPv6 address is not checked");
    else node.bridge = checkBridge(state, r, kernel, ownNet);
    if (main === null) r.skip("peers", "no plan");
    for (const p of plans) checkPeers(r, kernel, p, leases);
  }

  if (!v6only) {
    checkIptables(
      state,
      r,
      {
        family: 4,
        saved: state.iptables,
        network: net4(config.network)?.network().toString() ?? null,
        subnet: ownNet.toString(),
      },
      env,
    );
  }
  if (config.enableIPv6) {
    checkIptables(
      state,
      r,
      {
        family: 6,
        saved: state.ip6tables ?? null,
        network: netOf(config.ipv6Network, 6)?.network().toString() ?? null,
        subnet: netOf(own.ipv6Subnet, 6)?.network().toString() ?? null,
      },
      env,
    );
  }
  return done();
}

// ---- config ----------------------------------------------------------------------------------

function checkConfig(state: NodeState, r: Report): NetworkConfig | null {
  const key = state.configKey;
  if ("value" in state.config) {
    const c = state.config.value;
    if (c.backend.type !== "vxlan" && c.backend.type !== "host-gw") {
      r.add("config", "BACKEND_UNSUPPORTED", "warning", {
        subject: key,
        message: `backend ${c.backend.type || '""'}: diagnose checks the data plane of vxlan and host-gw only${
          c.backend.type === "udp"
            ? " (udp is what flannel runs when Backend is left out, whatever its docs say)"
            : ""
        }`,
        expected: 'Backend {"Type":"vxlan"} or {"Type":"host-gw"}',
        found: `Backend type ${JSON.stringify(c.backend.type)}`,
        fix: `set "Backend":{"Type":"vxlan"} in ${key} and restart flanneld on every node`,
      });
    }
    r.ok(
      "config",
      `${key}: Network ${c.network}, SubnetLen ${c.subnetLen}, backend ${c.backend.type} (${state.storeLabel})`,
    );
    return c;
  }
  const { code, message } = state.config.error;
  if (code === "CONFIG_NOT_FOUND") {
    const other = state.configElsewhere;
    if (other?.found) {
      r.add("config", "CONFIG_WRONG_API", "error", {
        subject: key,
        message: `the config exists only under ${other.label}; data written with one etcd API is invisible to the other, and flanneld retries every second forever`,
        expected: `${key} readable by ${state.storeLabel}`,
        found: `nothing there; ${key} exists under ${other.label}`,
        fix: "write the config with the API flanneld uses (v0.18+: ETCDCTL_API=3 etcdctl put KEY 'JSON'; v0.11: ETCDCTL_API=2 etcdctl mk KEY 'JSON'), or run the agent with -etcd-api matching where it is",
      });
    } else {
      r.add("config", "CONFIG_NOT_FOUND", "error", {
        subject: key,
        message:
          "no network config: flanneld waits, logging 'Couldn't fetch network config' every second",
        expected: `a network config at ${key}`,
        found: message,
        fix: `etcdctl put ${key} '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}' (v2 API: etcdctl mk)`,
      });
    }
    return null;
  }
  if (code === "CONFIG_INVALID") {
    r.add("config", "CONFIG_INVALID", "error", {
      subject: key,
      message: "the network config does not parse; flanneld retries every second and never starts",
      expected: "a valid flannel network config",
      found: message,
      fix: `correct the JSON at ${key} (flannel's rules: SubnetLen ≤ 30, at least four subnets, SubnetMin/Max inside Network and aligned)`,
    });
    return null;
  }
  r.add("config", "STORE_UNREACHABLE", "error", {
    subject: state.storeLabel,
    message: "the store could not be read",
    expected: `the network config at ${key}`,
    found: `${code}: ${message}`,
    fix: "check the store's endpoints, TLS files and credentials (flanneld's -etcd-* flags)",
  });
  return null;
}

// ---- lease -----------------------------------------------------------------------------------

function checkLease(
  state: NodeState,
  r: Report,
  config: NetworkConfig,
  own: Lease,
  v6only: boolean,
): void {
  const subject = v6only
    ? `lease ${own.ipv6Subnet} (${own.attrs.publicIPv6})`
    : `lease ${own.subnet} (${own.attrs.publicIP})`;
  if (!isLeaseCompatible(config, own.subnet, own.ipv6Subnet)) {
    r.add("lease", "LEASE_INCOMPATIBLE", "error", {
      subject,
      message:
        "the lease does not fit the network config (changed since it was taken); flanneld deletes it and takes another at its next start",
      expected: v6only
        ? `a /${config.ipv6SubnetLen} in ${config.ipv6Network}`
        : `a /${config.subnetLen} between ${config.subnetMin} and ${config.subnetMax}`,
      found: v6only ? `${own.ipv6Subnet}` : own.subnet,
      fix: `${RESTART}, then systemctl restart docker (its --bip changes)`,
    });
  }
  if (own.attrs.backendType !== config.backend.type) {
    r.add("lease", "LEASE_BACKEND_MISMATCH", "error", {
      subject,
      message: "the lease was written by a flanneld of another backend; the other nodes ignore it",
      expected: `BackendType ${config.backend.type}`,
      found: `BackendType ${JSON.stringify(own.attrs.backendType)}`,
      fix: `${RESTART} (it rewrites its lease)`,
    });
  }
  const margin = (state.renewMarginMinutes ?? 60) * 60_000;
  if (own.expiration !== null) {
    const left = own.expiration.getTime() - state.now;
    if (left < margin) {
      r.add("lease", "LEASE_EXPIRING", left <= 0 ? "error" : "warning", {
        subject,
        message:
          "flanneld renews its lease when the renew margin begins; this one is inside the margin, so renewal is failing — when it expires the other nodes drop their routes to this node",
        expected: `more than ${minutes(margin)} left (renewed ${minutes(margin)} before expiry)`,
        found:
          left <= 0
            ? `expired at ${own.expiration.toISOString()}`
            : `${minutes(left)} left (expires ${own.expiration.toISOString()})`,
        fix: `look for "Error renewing lease" in flanneld's log and check that it reaches the store; ${RESTART} (it reuses the lease)`,
      });
    }
  }
  r.ok(
    "lease",
    `${subject}${own.expiration === null ? ", a reservation (never expires)" : `, ${minutes(own.expiration.getTime() - state.now)} left`}`,
  );
}

// ---- subnet.env ------------------------------------------------------------------------------

function readSubnetEnv(state: NodeState, r: Report): SubnetEnvValues | null {
  const { path, content } = state.subnetEnv;
  if ("error" in content) {
    r.add("subnet-env", "SUBNET_ENV_INVALID", "error", {
      subject: path,
      message: "subnet.env cannot be read; docker and the CNI plugin read their subnet from it",
      expected: "FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ lines",
      found: `${content.error.code}: ${content.error.message}`,
      fix: `${RESTART} (it rewrites ${path})`,
    });
    return null;
  }
  if (content.value === null) {
    r.add("subnet-env", "SUBNET_ENV_MISSING", "error", {
      subject: path,
      message:
        "flanneld writes subnet.env once it holds a lease; without it mk-docker-opts, docker and the CNI plugin fail ('no such file or directory')",
      expected: `${path}, written by flanneld`,
      found: "no such file",
      fix: `${RESTART}, and check that its -subnet-file (default /run/flannel/subnet.env) is the path the other tools read`,
    });
    return null;
  }
  return content.value;
}

function checkSubnetEnvValues(
  state: NodeState,
  r: Report,
  config: NetworkConfig,
  own: Lease,
  env: SubnetEnvValues | null,
  plan: DataPlanePlan | null,
): void {
  if (env === null) return;
  const path = state.subnetEnv.path;
  const seen: string[] = [];
  // each enabled family's two lines; the IPv6 ones are not compared when the state lacks them
  const families = [
    ...(config.enableIPv4
      ? [{ fam: 4 as const, v: "", network: config.network, subnet: own.subnet, env }]
      : []),
    ...(config.enableIPv6 && (!config.enableIPv4 || env.ipv6Subnet !== undefined)
      ? [
          {
            fam: 6 as const,
            v: "IPV6_",
            network: config.ipv6Network,
            subnet: own.ipv6Subnet,
            env: { network: env.ipv6Network ?? null, subnet: env.ipv6Subnet ?? null },
          },
        ]
      : []),
  ];
  for (const f of families) {
    const network = netOf(f.network, f.fam)?.network().toString() ?? null;
    const ownNet = netOf(f.subnet, f.fam);
    const NET = `FLANNEL_${f.v}NETWORK`;
    const SUB = `FLANNEL_${f.v}SUBNET`;
    if (network !== null && netOf(f.env.network, f.fam)?.toString() !== network) {
      r.add("subnet-env", "SUBNET_ENV_NETWORK_MISMATCH", "error", {
        subject: `${path} ${NET}`,
        message: "subnet.env was written for another network config",
        expected: `${NET}=${network}`,
        found: f.env.network === null ? `no ${NET}` : `${NET}=${f.env.network}`,
        fix: `${RESTART} (it rewrites ${path})`,
      });
    }
    if (ownNet === null) continue;
    const want = firstHost(ownNet);
    seen.push(`${SUB}=${want}`);
    if (f.env.subnet === null || netOf(f.env.subnet, f.fam)?.toString() !== want) {
      r.add("subnet-env", "SUBNET_ENV_SUBNET_MISMATCH", "error", {
        subject: `${path} ${SUB}`,
        message:
          f.fam === 4
            ? "subnet.env does not match the lease: docker's --bip comes from it, so containers get addresses the other nodes route elsewhere"
            : "subnet.env does not match the lease's IPv6 subnet: docker's --fixed-cidr-v6 comes from it, so containers get IPv6 addresses the other nodes route elsewhere",
        expected: `${SUB}=${want} (lease ${ownNet.network()})`,
        found: f.env.subnet === null ? `no ${SUB}` : `${SUB}=${f.env.subnet}`,
        fix: `${RESTART}, then systemctl restart docker (it reads ${f.fam === 4 ? "--bip" : "--fixed-cidr-v6"} from /run/flannel/docker)`,
      });
    }
  }
  if (plan !== null && env.mtu !== plan.mtu) {
    r.add("subnet-env", "SUBNET_ENV_MTU_MISMATCH", "warning", {
      subject: `${path} FLANNEL_MTU`,
      message:
        "docker and the CNI plugin give containers FLANNEL_MTU; a value above what the overlay carries drops large packets",
      expected: `FLANNEL_MTU=${plan.mtu} (${plan.backend === "vxlan" ? "underlay MTU − 50" : "underlay MTU"})`,
      found: env.mtu === null ? "no FLANNEL_MTU" : `FLANNEL_MTU=${env.mtu}`,
      fix: `${RESTART}, then systemctl restart docker`,
    });
  }
  r.ok(
    "subnet-env",
    `${path}: ${seen.join(", ")}, FLANNEL_MTU=${env.mtu}, FLANNEL_IPMASQ=${env.ipMasq}`,
  );
}

// ---- external interface ---------------------------------------------------------------------

function externalInterface(
  state: NodeState,
  kernel: KernelState | null,
  vxlanLink: ObservedLink | null,
  publicIP: string,
  family: 4 | 6,
  env: SubnetEnvValues | null,
  config: NetworkConfig,
  r: Report,
): { name: string; mtu: number } {
  if (state.externalInterface) return state.externalInterface;
  if (kernel !== null) {
    const lower = vxlanLink?.vxlan?.lowerIndex;
    const byLower = lower ? kernel.links.find((l) => l.index === lower) : undefined;
    if (byLower) return { name: byLower.name, mtu: byLower.mtu };
    const addr = kernel.addrs.find((a) => a.family === family && a.ip === publicIP);
    const byAddr = addr ? kernel.links.find((l) => l.name === addr.dev) : undefined;
    if (byAddr) return { name: byAddr.name, mtu: byAddr.mtu };
    r.add("peers", "EXTERNAL_INTERFACE_UNKNOWN", "warning", {
      subject: publicIP,
      message:
        "no interface holds the public IP (a NAT address needs -iface too); expected MTUs are guessed",
      expected: `an interface with ${publicIP}, or the vxlan device's lower device`,
      found: "none",
      fix: "pass -iface (and -public-ip) to flanneld",
    });
  }
  const overhead = config.backend.type === "vxlan" ? 50 : 0;
  return { name: "eth0", mtu: env?.mtu != null ? env.mtu + overhead : 1500 };
}

// ---- the IPv6 side of a dual-stack node ---------------------------------------------------------

/** DirectRouting's on-link subnets: the external interface's addresses, both families. */
function underlayOf(kernel: KernelState | null, iface: string): string[] {
  return (kernel?.addrs ?? []).filter((a) => a.dev === iface).map((a) => `${a.ip}/${a.prefixLen}`);
}

/** Plans the IPv6 family as flanneld would (its device and peers are checked like the IPv4 ones). */
function planIPv6(
  r: Report,
  kernel: KernelState | null,
  config: NetworkConfig,
  own: Lease,
  leases: readonly Lease[],
  ext: { name: string; mtu: number },
): PlanResult | null {
  let plan: PlanResult;
  try {
    const input = {
      config,
      family: 6 as const,
      ownLease: own,
      leases,
      externalInterface: { name: ext.name, mtu: ext.mtu },
      underlaySubnets: underlayOf(kernel, ext.name),
    };
    plan = config.backend.type === "vxlan" ? planVxlan(input) : planHostGw(input);
  } catch (e) {
    r.add("peers", "PLAN_INVALID", "error", {
      subject: `lease ${own.subnet} (IPv6 ${own.ipv6Subnet ?? "none"})`,
      message: "the node's own lease cannot be planned for IPv6",
      expected: "an IPv6 subnet, PublicIPv6 and BackendV6Data in the lease",
      found: isFlannelError(e) ? e.message : String(e),
      fix: `${RESTART} (it registers both families)`,
    });
    return null;
  }
  for (const s of plan.skipped) {
    r.add("peers", "REMOTE_LEASE_IGNORED", "warning", {
      subject: `lease ${s.lease.ipv6Subnet ?? s.lease.subnet} (${s.lease.attrs.publicIPv6 ?? "no PublicIPv6"})`,
      message: "a remote lease gets no IPv6 route: its node's IPv6 side is unreachable from here",
      expected: `a lease this node can program (${config.backend.type}, IPv6)`,
      found: `${s.reason}: ${s.message}`,
      fix: "fix or delete that lease; its node's flanneld rewrites it when it restarts",
    });
  }
  return plan;
}

// ---- device ------------------------------------------------------------------------------------

function checkDevice(
  r: Report,
  kernel: KernelState,
  plan: DataPlanePlan,
  own: Lease,
  link: ObservedLink | null,
  ext: { name: string; mtu: number },
): void {
  const want = plan.link!;
  if (link === null) {
    r.add("device", "DEVICE_MISSING", "error", {
      subject: want.name,
      message: `there is no ${want.name}: nothing carries traffic to the other nodes`,
      expected: `vxlan device ${want.name} (id ${want.vni}, local ${want.local}, dev ${want.lowerDevice})`,
      found: "no such device",
      fix: `${REPROGRAM}; the flanneld-ts agent also recreates a deleted device by itself`,
    });
    return;
  }
  const problems: string[] = [];
  const wantPort = want.port > 0 ? want.port : VXLAN_DEFAULT_PORT;
  if (link.kind !== "vxlan" || link.vxlan === null) problems.push(`kind ${link.kind ?? "none"}`);
  else {
    if (link.vxlan.vni !== want.vni) problems.push(`id ${link.vxlan.vni}`);
    if (link.vxlan.local !== null && link.vxlan.local !== want.local) {
      problems.push(`local ${link.vxlan.local}`);
    }
    const lower = kernel.links.find((l) => l.index === link.vxlan!.lowerIndex);
    if (lower !== undefined && lower.name !== ext.name) problems.push(`dev ${lower.name}`);
    // flanneld compares the port only when the config sets one, so it keeps a device on another
    // port than its peers use; the UDP port (and GBP's header) must match across the overlay
    if (link.vxlan.port !== undefined && link.vxlan.port !== wantPort) {
      problems.push(`dstport ${link.vxlan.port}`);
    }
    if (link.vxlan.gbp !== undefined && link.vxlan.gbp !== want.gbp) {
      problems.push(link.vxlan.gbp ? "gbp" : "no gbp");
    }
  }
  if (problems.length > 0) {
    r.add("device", "DEVICE_INCOMPATIBLE", "error", {
      subject: want.name,
      message: `${want.name} is not the device flanneld would make; remote nodes address this node's public IP on the config's VNI and port`,
      expected: `vxlan id ${want.vni} local ${want.local} dev ${want.lowerDevice} dstport ${wantPort}${want.gbp ? " gbp" : ""}`,
      found: problems.join(", "),
      fix: `ip link del ${want.name}; then ${REPROGRAM}`,
    });
  }
  if (!link.up) {
    r.add("device", "DEVICE_DOWN", "error", {
      subject: want.name,
      message: `${want.name} is down: no overlay traffic in or out`,
      expected: "state UP",
      found: "down",
      fix: `ip link set ${want.name} up`,
    });
  }
  const wantAddr = plan.addresses[0]!;
  const fam = plan.family;
  const addrs = reconcileAddresses({ addresses: [wantAddr] }, kernel.addrs).discrepancies;
  for (const d of addrs) {
    if (d.kind === "address-missing") {
      r.add("device", "DEVICE_ADDRESS_MISSING", "error", {
        subject: want.name,
        message: `${want.name} lacks the lease's network address: replies from this node to other subnets leave with the wrong source`,
        expected: `${wantAddr.address} on ${want.name}`,
        found:
          d.found.length === 0
            ? `no IPv${fam} address`
            : d.found.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
        fix: `ip addr add ${wantAddr.address} dev ${want.name}`,
      });
    }
  }
  for (const d of addrs) {
    if (d.kind === "address-extra") {
      r.add("device", "DEVICE_ADDRESS_EXTRA", "warning", {
        subject: want.name,
        message: `${want.name} holds other addresses inside the network (a previous lease); flanneld removes them`,
        expected: `only ${wantAddr.address} inside ${wantAddr.exclusiveWithin}`,
        found: d.found.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
        fix: d.found.map((a) => `ip addr del ${a.ip}/${a.prefixLen} dev ${want.name}`).join("; "),
      });
    }
  }
  const data = fam === 4 ? own.attrs.backendData : own.attrs.backendV6Data;
  const published = (data as { VtepMAC?: unknown } | null)?.VtepMAC;
  const vtep = typeof published === "string" ? published : null;
  if (vtep !== null && !sameMAC(vtep, link.mac)) {
    r.add("device", "VTEP_MAC_MISMATCH", "error", {
      subject: want.name,
      message:
        "the other nodes send this node's traffic to the VtepMAC in the lease, which is not this device's MAC: it drops everything they send",
      expected: `${want.name} MAC ${vtep} (VtepMAC of lease ${fam === 4 ? own.subnet : own.ipv6Subnet})`,
      found: `MAC ${link.mac ?? "none"}`,
      fix: `ip link set ${want.name} address ${vtep}; or ${RESTART} (it publishes the device's MAC in the lease)`,
    });
  }
  if (link.mtu !== want.mtu) {
    const over = link.mtu > want.mtu;
    r.add("device", "DEVICE_MTU_MISMATCH", over ? "error" : "warning", {
      subject: want.name,
      message: over
        ? `${want.name}'s MTU leaves no room for the ${fam === 4 ? 50 : 70}-byte vxlan header on ${ext.name}: large packets are dropped`
        : `${want.name}'s MTU is below what flanneld sets (and reports as FLANNEL_MTU)`,
      expected: `mtu ${want.mtu} (${ext.name} ${ext.mtu} − ${fam === 4 ? 50 : 70})`,
      found: `mtu ${link.mtu}`,
      fix: `ip link set ${want.name} mtu ${want.mtu}`,
    });
  }
  r.ok(
    "device",
    `${want.name}: vxlan id ${want.vni}, up, ${wantAddr.address}, MAC ${link.mac}, mtu ${link.mtu}`,
  );
}

// ---- bridge ------------------------------------------------------------------------------------

function checkBridge(state: NodeState, r: Report, kernel: KernelState, own: IP4Net): string | null {
  const want = firstHost(own);
  const name =
    state.bridge ??
    (kernel.links.find((l) => l.name === "docker0") ?? kernel.links.find((l) => l.name === "cni0"))
      ?.name ??
    null;
  const link = name === null ? undefined : kernel.links.find((l) => l.name === name);
  if (name === null || link === undefined) {
    r.add("bridge", "BRIDGE_MISSING", "warning", {
      subject: name ?? "docker0 / cni0",
      message: "no container bridge yet: containers on this node have no network",
      expected: `a bridge with ${want} (FLANNEL_SUBNET)`,
      found: "no such device",
      fix: "start docker with $DOCKER_NETWORK_OPTIONS from /run/flannel/docker (--bip=FLANNEL_SUBNET)",
    });
    return name;
  }
  const addrs = kernel.addrs.filter((a) => a.family === 4 && a.dev === name);
  const inside = addrs.filter((a) => own.contains(a.ip));
  if (inside.length === 0) {
    r.add("bridge", "BRIDGE_OUTSIDE_SUBNET", "error", {
      subject: name,
      message: `${name} is not in this node's flannel subnet: containers get addresses the other nodes do not route here (the guide's docker0 with 172.17.0.1/16)`,
      expected: `${want} (FLANNEL_SUBNET)`,
      found:
        addrs.length === 0
          ? "no IPv4 address"
          : addrs.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix: `source ${state.subnetEnv.path} && ifconfig ${name} $FLANNEL_SUBNET (or ip addr replace ${want} dev ${name}), then restart docker so --bip agrees`,
    });
    return name;
  }
  if (!inside.some((a) => a.prefixLen === own.prefixLen)) {
    r.add("bridge", "BRIDGE_PREFIX_MISMATCH", "warning", {
      subject: name,
      message: `${name}'s prefix differs from the lease's: containers think addresses outside the subnet are local, or the reverse`,
      expected: `${want}`,
      found: inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
      fix: `ip addr replace ${want} dev ${name}`,
    });
  }
  r.ok("bridge", `${name}: ${inside.map((a) => `${a.ip}/${a.prefixLen}`).join(", ")} in ${own}`);
  return name;
}

// ---- peers ---------------------------------------------------------------------------------------

function checkPeers(
  r: Report,
  kernel: KernelState,
  plan: PlanResult,
  leases: readonly Lease[],
): void {
  const fam = plan.family;
  const byIP = new Map<string, string>();
  for (const l of leases) {
    const n = netOf(fam === 4 ? l.subnet : l.ipv6Subnet, fam);
    const p = fam === 4 ? l.attrs.publicIP : l.attrs.publicIPv6;
    if (n !== null && p !== null) byIP.set(n.ipString, p);
  }
  const nodeOf = (subnetIP: string) => {
    const p = byIP.get(subnetIP);
    return p === undefined ? "" : ` (node ${p})`;
  };
  const cmd = (part: Partial<DataPlanePlan>) =>
    planToCommands({
      ...plan,
      link: null,
      addresses: [],
      neighbors: [],
      fdb: [],
      routes: [],
      ...part,
    }).join("; ");
  const routeText = (x: {
    dst: string;
    gateway: string | null;
    dev: string | null;
    onlink: boolean;
  }) =>
    `${x.dst}${x.gateway ? ` via ${x.gateway}` : ""}${x.dev ? ` dev ${x.dev}` : ""}${x.onlink ? " onlink" : ""}`;

  const { discrepancies } = reconcilePeers(plan, kernel);
  for (const d of discrepancies) {
    switch (d.kind) {
      case "neighbor-missing":
      case "neighbor-wrong": {
        const n = d.want;
        const subject = `neighbour ${n.ip} on ${n.dev}${nodeOf(n.ip)}`;
        const expected = `${n.ip} lladdr ${n.lladdr} permanent`;
        if (d.kind === "neighbor-missing") {
          r.add("peers", "PEER_NEIGH_MISSING", "error", {
            subject,
            message:
              "without this ARP entry the kernel cannot address the remote subnet's gateway on the overlay",
            expected,
            found: "no entry",
            fix: `${cmd({ neighbors: [n] })}; or ${REPROGRAM}`,
          });
        } else {
          r.add("peers", "PEER_NEIGH_WRONG", "error", {
            subject,
            message:
              "the ARP entry does not carry the remote node's VtepMAC: its vxlan device drops what this node sends",
            expected,
            found: `lladdr ${d.found.lladdr}${d.found.permanent ? " permanent" : " (not permanent)"}`,
            fix: cmd({ neighbors: [n] }),
          });
        }
        break;
      }
      case "fdb-missing":
        r.add("peers", "PEER_FDB_MISSING", "error", {
          subject: `fdb ${d.want.lladdr} on ${d.want.dev}`,
          message:
            "without this FDB entry the vxlan device does not know which host to send the remote VtepMAC's frames to",
          expected: `${d.want.lladdr} dst ${d.want.dst} self permanent`,
          found: "no entry",
          fix: `${cmd({ fdb: [d.want] })}; or ${REPROGRAM}`,
        });
        break;
      case "fdb-wrong":
        r.add("peers", "PEER_FDB_WRONG", "error", {
          subject: `fdb ${d.want.lladdr} on ${d.want.dev}`,
          message: "the FDB entry sends the remote node's frames to another host",
          expected: `dst ${d.want.dst}`,
          found: d.found
            .map((x) => `dst ${x.dst ?? "none"}${x.permanent ? "" : " (not permanent)"}`)
            .join(", "),
          fix: cmd({ fdb: [d.want] }),
        });
        break;
      case "route-missing":
      case "route-wrong": {
        const rt = d.want;
        const subject = `route ${rt.dst}${nodeOf(netOf(rt.dst, fam)!.ipString)}`;
        if (d.kind === "route-missing") {
          r.add("peers", "PEER_ROUTE_MISSING", "error", {
            subject,
            message:
              "no route to the remote node's subnet: its containers are unreachable from here",
            expected: routeText(rt),
            found: "no route",
            fix: `${cmd({ routes: [rt] })}; or ${REPROGRAM}`,
          });
        } else {
          r.add("peers", "PEER_ROUTE_WRONG", "error", {
            subject,
            message: "the route to the remote subnet does not go where flannel sends it",
            expected: routeText(rt),
            found: routeText(d.found),
            fix: cmd({ routes: [rt] }),
          });
        }
        break;
      }
      case "neighbor-stale":
        r.add("peers", "PEER_NEIGH_STALE", "warning", {
          subject: `neighbour ${d.found.ip} on ${d.found.dev}`,
          message:
            "an ARP entry for a subnet no lease holds any more (its node left): flanneld removes it when the lease goes",
          expected: "no entry",
          found: `${d.found.ip} lladdr ${d.found.lladdr}`,
          fix: `ip neigh del ${d.found.ip} dev ${d.found.dev}`,
        });
        break;
      case "fdb-stale":
        r.add("peers", "PEER_FDB_STALE", "warning", {
          subject: `fdb ${d.found.lladdr} on ${d.found.dev}`,
          message: "an FDB entry for a VTEP no lease publishes any more",
          expected: "no entry",
          found: `${d.found.lladdr} dst ${d.found.dst}`,
          fix: `bridge fdb del ${d.found.lladdr} dev ${d.found.dev} dst ${d.found.dst} self`,
        });
        break;
      case "route-stale":
        r.add("peers", "PEER_ROUTE_STALE", "warning", {
          subject: `route ${d.found.dst}`,
          message:
            "a route to a subnet no lease holds any more: if the subnet is leased again, traffic goes to the old node",
          expected: "no route",
          found: `${d.found.dst} via ${d.found.gateway} dev ${d.found.dev}`,
          fix: `ip route del ${d.found.dst} via ${d.found.gateway} dev ${d.found.dev}`,
        });
        break;
    }
  }
  if (discrepancies.length === 0) {
    r.ok(
      "peers",
      `${plan.routes.length} remote lease(s): every ${plan.backend === "vxlan" ? "neighbour, FDB entry and route" : "route"} in place, nothing stale`,
    );
  }
}

// ---- iptables ------------------------------------------------------------------------------------

/**
 * The rules of an `iptables-save` dump, in order: `key` (`table -A …` without `--random-fully`)
 * to compare, `line` (`table -A …` as printed) to delete.
 */
function savedRules(text: string): { key: string; line: string }[] {
  const out: { key: string; line: string }[] = [];
  let table = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith("-A ")) {
      out.push({ key: `${table} ${normalizeRule(line)}`, line: `${table} ${line}` });
    }
  }
  return out;
}

/** The length of the longest common subsequence of two short lists. */
function commonInOrder(a: readonly string[], b: readonly string[]): number {
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

// `--random-fully` depends on the iptables version flanneld found; either form is flannel's rule.
function normalizeRule(rule: string): string {
  return rule.replace(/ --random-fully\b/, "").replace(/\s+/g, " ");
}

const keyOf = (e: ExpectedIptablesRule) => `${e.table} ${normalizeRule(e.rule)}`;

const MULTICAST = new Set(["224.0.0.0/4", "ff00::/8"]);
const CIDR_WORD = /^[0-9a-f:.]+\/\d+$/i;

/** A rule with its CIDRs (but the multicast ranges) numbered in order: the same rule for any network and lease. */
function ruleShape(key: string): string {
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
function matchFlavor(
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
function chainOf(rules: readonly ExpectedIptablesRule[]): string {
  const chains = rules.map((e) => `${e.table} ${e.rule.split(" ")[1]}`);
  return chains.find((c) => !/ (POSTROUTING|FORWARD)$/.test(c)) ?? chains[0] ?? "";
}

/** One family's ip-masq check: its `iptables-save` / `ip6tables-save` and its network and lease. */
interface IptablesFamily {
  readonly family: 4 | 6;
  readonly saved: NodeState["iptables"];
  /** The network and this node's lease subnet of the family, or `null` when unknown. */
  readonly network: string | null;
  readonly subnet: string | null;
}

function checkIptables(
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
    r.add("ip-masq", "IPTABLES_UNREADABLE", "warning", {
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
  const dump = savedRules(read.value);
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
      r.add("ip-masq", "IPMASQ_RULES_MISSING", "error", {
        subject: `${tag}${chainOf(want)}`,
        message: `FLANNEL_IPMASQ=true tells docker not to masquerade (--ip-masq=false), so without flannel's ${v6}rules containers reach nothing outside the overlay; checked against ${named}`,
        expected: missing.map((e) => `${tag}${e.table}: ${e.rule}`).join("\n"),
        found: `${want.length - missing.length} of ${want.length} rules present; ${whose}`,
        fix: `${RESTART}, with -ip-masq (it reinstalls the rules); or feed renderIpMasqRules({ …, flavor: "${flavor.flavor}" }).restore to ${tool}-restore --noflush`,
      });
    }
    const stale = staleOf("masq");
    if (stale.length > 0) {
      r.add("ip-masq", "IPMASQ_RULES_STALE", "warning", {
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
    r.add("ip-masq", "FORWARD_RULES_MISSING", "warning", {
      subject: `${tag}${chainOf(wantFwd)}`,
      message: `flanneld's ${v6}forward rules are missing: with docker's FORWARD policy DROP, traffic between containers of different nodes is dropped; checked against ${named}`,
      expected: missingFwd.map((e) => `${tag}${e.table}: ${e.rule}`).join("\n"),
      found: `${wantFwd.length - missingFwd.length} of ${wantFwd.length} rules present; ${whose}`,
      fix: `${RESTART} (it installs them unless -iptables-forward-rules=false)`,
    });
  }
  const staleFwd = staleOf("forward");
  if (staleFwd.length > 0) {
    r.add("ip-masq", "FORWARD_RULES_STALE", "warning", {
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
