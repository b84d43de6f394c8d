/**
 * The findings catalogue: every code diagnose can report, with the check that reports it, its
 * severity, what it means and the usual fix. Codes are contracts (tools match on them); the
 * findings themselves carry the node's own values (subject, expected, found, the exact fix).
 * `docs/findings.md` is generated from this (`npm run docs:api`).
 */
/** How bad a finding is: `error` breaks traffic or will soon; `warning` may. */
export type DiagnoseSeverity = "error" | "warning";

/** The checks, in the order they run (the install guide's 验证 and debug sections). */
export type DiagnoseCheck =
  | "config"
  | "lease"
  | "subnet-env"
  | "device"
  | "bridge"
  | "peers"
  | "ip-masq";

/** One kind of finding, as the catalogue describes it. */
export interface FindingKind {
  /** The check that reports it (the first, when several do). */
  readonly check: DiagnoseCheck;
  /** Its severity; `escalates` says when it is the other one. */
  readonly severity: DiagnoseSeverity;
  /** When the severity differs from `severity`, or `null`. */
  readonly escalates: string | null;
  /** What it means and what it breaks. */
  readonly meaning: string;
  /** The usual fix (each finding names the exact command). */
  readonly fix: string;
}

const RESTART = "`systemctl restart flanneld`";

const kind = (
  check: DiagnoseCheck,
  severity: DiagnoseSeverity,
  meaning: string,
  fix: string,
  escalates: string | null = null,
): FindingKind => ({ check, severity, escalates, meaning, fix });

/**
 * Every finding code, in check order, with its check, severity, meaning and usual fix.
 *
 * @example
 * ```ts
 * DIAGNOSE_FINDINGS.VTEP_MAC_MISMATCH.severity; // "error"
 * DIAGNOSE_FINDINGS.PEER_ROUTE_STALE.check; // "peers"
 * ```
 */
export const DIAGNOSE_FINDINGS = {
  STORE_UNREACHABLE: kind(
    "config",
    "error",
    "The store (etcd) could not be read: neither the network config nor the leases can be checked. Reported by `config`, or by `lease` when only listing the leases fails.",
    "Check the store's endpoints, TLS files and credentials (flanneld's `-etcd-*` flags).",
  ),
  CONFIG_NOT_FOUND: kind(
    "config",
    "error",
    "No network config under the prefix: flanneld waits, logging `Couldn't fetch network config` every second.",
    "Write it: `etcdctl put <prefix>/config '{\"Network\":…}'` (v2 API: `etcdctl mk`).",
  ),
  CONFIG_WRONG_API: kind(
    "config",
    "error",
    "The config exists only through the other etcd API (v2 vs v3): data written with one is invisible to the other, and flanneld retries forever.",
    "Write the config with the API flanneld uses (v0.18+: v3; v0.11: v2), or run the agent with `-etcd-api` matching where it is.",
  ),
  CONFIG_INVALID: kind(
    "config",
    "error",
    "The network config does not parse by flannel's rules; flanneld retries every second and never starts.",
    "Correct the JSON (SubnetLen ≤ 30, at least four subnets, SubnetMin/Max inside Network and aligned).",
  ),
  BACKEND_UNSUPPORTED: kind(
    "config",
    "warning",
    "The backend is neither vxlan nor host-gw: diagnose does not check its data plane (udp is what flannel runs when Backend is left out).",
    'Set `"Backend":{"Type":"vxlan"}` and restart flanneld on every node.',
  ),
  NODE_UNKNOWN: kind(
    "lease",
    "error",
    "Nothing identifies the node: no `-public-ip` given, no vxlan device, no subnet.env.",
    "Pass the node's `-public-ip` (flanneld's identity in the store).",
  ),
  LEASE_NOT_FOUND: kind(
    "lease",
    "error",
    "The node holds no lease: flanneld is not running, cannot reach the store, or its lease expired and it exited (or its subnet is now leased to another node).",
    `${RESTART}; use \`Restart=always\`: a flanneld that exits 0 on "Lease has been revoked" is not restarted by \`Restart=on-failure\`.`,
  ),
  LEASE_EXPIRING: kind(
    "lease",
    "warning",
    "The lease is inside the renew margin, so renewal is failing; when it expires the other nodes drop their routes to this node.",
    `Look for "Error renewing lease" in flanneld's log and check that it reaches the store; ${RESTART} (it reuses the lease).`,
    "an error once the lease has expired",
  ),
  LEASE_INCOMPATIBLE: kind(
    "lease",
    "error",
    "The lease does not fit the network config (changed since it was taken); flanneld deletes it and takes another at its next start.",
    `${RESTART}, then \`systemctl restart docker\` (its \`--bip\` changes).`,
  ),
  LEASE_BACKEND_MISMATCH: kind(
    "lease",
    "error",
    "The lease was written by a flanneld of another backend; the other nodes ignore it.",
    `${RESTART} (it rewrites its lease).`,
  ),
  LEASE_UNREADABLE: kind(
    "lease",
    "warning",
    "An entry under `subnets/` cannot be read; flannel v0.28 drops every remote route when it meets one in a watch.",
    "Inspect it (`etcdctl get <key>`) and delete it if it is garbage.",
  ),
  REMOTE_LEASE_IGNORED: kind(
    "peers",
    "warning",
    "A remote lease gets no route (or no IPv6 route): its node is unreachable from here as the lease stands.",
    "Fix or delete that lease; its node's flanneld rewrites it when it restarts.",
  ),
  SUBNET_ENV_MISSING: kind(
    "subnet-env",
    "error",
    "No subnet.env: flanneld writes it once it holds a lease; without it mk-docker-opts, docker and the CNI plugin fail.",
    `${RESTART}, and check that its \`-subnet-file\` is the path the other tools read.`,
  ),
  SUBNET_ENV_INVALID: kind(
    "subnet-env",
    "error",
    "subnet.env cannot be read; docker and the CNI plugin read their subnet from it.",
    `${RESTART} (it rewrites the file).`,
  ),
  SUBNET_ENV_NETWORK_MISMATCH: kind(
    "subnet-env",
    "error",
    "`FLANNEL_NETWORK` (or `FLANNEL_IPV6_NETWORK`) was written for another network config.",
    `${RESTART} (it rewrites the file).`,
  ),
  SUBNET_ENV_SUBNET_MISMATCH: kind(
    "subnet-env",
    "error",
    "`FLANNEL_SUBNET` (or `FLANNEL_IPV6_SUBNET`) does not match the lease: docker's `--bip` comes from it, so containers get addresses the other nodes route elsewhere.",
    `${RESTART}, then \`systemctl restart docker\`.`,
  ),
  SUBNET_ENV_MTU_MISMATCH: kind(
    "subnet-env",
    "warning",
    "`FLANNEL_MTU` is not what the overlay carries (underlay MTU − 50 for vxlan); a larger value drops large packets.",
    `${RESTART}, then \`systemctl restart docker\`.`,
  ),
  KERNEL_UNREADABLE: kind(
    "device",
    "error",
    "The kernel state could not be read, so the device, bridge and peer checks did not run.",
    "Run diagnose as root in the node's network namespace.",
  ),
  EXTERNAL_INTERFACE_UNKNOWN: kind(
    "peers",
    "warning",
    "No interface holds the public IP (a NAT address needs `-iface` too); the expected MTUs are guessed.",
    "Pass `-iface` (and `-public-ip`) to flanneld.",
  ),
  PLAN_INVALID: kind(
    "peers",
    "error",
    "The node's own lease or interface cannot be planned (its BackendData, VtepMAC or IPv6 side is unusable).",
    `Check the lease's BackendData and the external interface; ${RESTART} (it registers both families).`,
  ),
  DEVICE_MISSING: kind(
    "device",
    "error",
    "There is no `flannel.<VNI>` (or `flannel-v6.<VNI>`): nothing carries traffic to the other nodes.",
    `${RESTART} (it programs every lease at start); the flanneld-ts agent also recreates a deleted device by itself.`,
  ),
  DEVICE_INCOMPATIBLE: kind(
    "device",
    "error",
    "The vxlan device is not the one flanneld would make (kind, VNI, local address, lower device, port or GBP differ); remote nodes address this node on the config's VNI and port.",
    `\`ip link del flannel.<VNI>\`, then ${RESTART}.`,
  ),
  DEVICE_DOWN: kind(
    "device",
    "error",
    "The vxlan device is down: no overlay traffic in or out.",
    "`ip link set flannel.<VNI> up`.",
  ),
  DEVICE_ADDRESS_MISSING: kind(
    "device",
    "error",
    "The vxlan device lacks the lease's network address (/32, /128): replies to other subnets leave with the wrong source.",
    "`ip addr add <subnet address>/32 dev flannel.<VNI>`.",
  ),
  DEVICE_ADDRESS_EXTRA: kind(
    "device",
    "warning",
    "The vxlan device holds other addresses inside the network (a previous lease); flanneld removes them.",
    "`ip addr del <address> dev flannel.<VNI>`.",
  ),
  VTEP_MAC_MISMATCH: kind(
    "device",
    "error",
    "The device's MAC is not the VtepMAC the lease publishes: the other nodes address this node's traffic to a MAC it drops.",
    `\`ip link set flannel.<VNI> address <VtepMAC>\`, or ${RESTART} (it publishes the device's MAC).`,
  ),
  DEVICE_MTU_MISMATCH: kind(
    "device",
    "warning",
    "The device's MTU is not what flanneld sets (the external interface's − 50, − 70 for IPv6).",
    "`ip link set flannel.<VNI> mtu <MTU>`.",
    "an error when the MTU is above it: large packets are dropped",
  ),
  BRIDGE_MISSING: kind(
    "bridge",
    "warning",
    "No container bridge (docker0 / cni0) yet: containers on this node have no network.",
    "Start docker with `$DOCKER_NETWORK_OPTIONS` from /run/flannel/docker (`--bip=FLANNEL_SUBNET`).",
  ),
  BRIDGE_OUTSIDE_SUBNET: kind(
    "bridge",
    "error",
    "The bridge is not in this node's flannel subnet (the guide's docker0 with 172.17.0.1/16), or on a dual-stack node its IPv6 address is not in the flannel IPv6 subnet: containers get addresses the other nodes do not route here.",
    "Give the bridge `FLANNEL_SUBNET` (`ip addr replace`), then restart docker so `--bip` agrees; its IPv6 address `FLANNEL_IPV6_SUBNET` (`ip -6 addr replace`, docker's `--fixed-cidr-v6`).",
  ),
  BRIDGE_PREFIX_MISMATCH: kind(
    "bridge",
    "warning",
    "The bridge's prefix (IPv4, or IPv6 on a dual-stack node) differs from the lease's: containers think addresses outside the subnet are local, or the reverse.",
    "`ip addr replace <FLANNEL_SUBNET> dev docker0` (`ip -6 addr replace <FLANNEL_IPV6_SUBNET> dev docker0`).",
  ),
  PEER_NEIGH_MISSING: kind(
    "peers",
    "error",
    "A remote lease's ARP / NDP entry is missing: the kernel cannot address the remote subnet's gateway on the overlay.",
    `\`ip neigh replace <subnet address> lladdr <VtepMAC> dev flannel.<VNI> nud permanent\`, or ${RESTART}.`,
  ),
  PEER_NEIGH_WRONG: kind(
    "peers",
    "error",
    "A remote lease's ARP entry does not carry its VtepMAC (or is not permanent): its vxlan device drops what this node sends.",
    "`ip neigh replace … nud permanent` with the lease's VtepMAC.",
  ),
  PEER_FDB_MISSING: kind(
    "peers",
    "error",
    "A remote VtepMAC has no FDB entry: the vxlan device does not know which host to send its frames to.",
    `\`bridge fdb replace <VtepMAC> dev flannel.<VNI> dst <public IP> self permanent\`, or ${RESTART}.`,
  ),
  PEER_FDB_WRONG: kind(
    "peers",
    "error",
    "A remote VtepMAC's FDB entry sends its frames to another host (or is not permanent).",
    "`bridge fdb replace … self permanent` with the lease's public IP.",
  ),
  PEER_ROUTE_MISSING: kind(
    "peers",
    "error",
    "No route to a remote lease's subnet: its containers are unreachable from here.",
    `\`ip route replace <subnet> via <subnet address> dev flannel.<VNI> onlink\` (host-gw: \`via <public IP>\`), or ${RESTART}.`,
  ),
  PEER_ROUTE_WRONG: kind(
    "peers",
    "error",
    "The route to a remote subnet does not go where flannel sends it (gateway, device or `onlink` differ).",
    "`ip route replace …` as flannel plans it.",
  ),
  PEER_NEIGH_STALE: kind(
    "peers",
    "warning",
    "An ARP entry for a subnet no lease holds any more (its node left): flanneld removes it when the lease goes.",
    "`ip neigh del <address> dev flannel.<VNI>`.",
  ),
  PEER_FDB_STALE: kind(
    "peers",
    "warning",
    "An FDB entry for a VTEP no lease publishes any more.",
    "`bridge fdb del <MAC> dev flannel.<VNI> dst <address> self`.",
  ),
  PEER_ROUTE_STALE: kind(
    "peers",
    "warning",
    "A route to a subnet no lease holds any more: if the subnet is leased again, traffic goes to the old node.",
    "`ip route del <subnet> via <gateway> dev <device>`.",
  ),
  IPTABLES_UNREADABLE: kind(
    "ip-masq",
    "warning",
    "`iptables-save` (or `ip6tables-save`) could not run: the ip-masq rules were not checked.",
    "Run diagnose as root; `apt-get install -y iptables`.",
  ),
  IPMASQ_RULES_MISSING: kind(
    "ip-masq",
    "error",
    "With `FLANNEL_IPMASQ=true` docker does not masquerade (`--ip-masq=false`), and flannel's masquerade rules (of the flavor the node has) are missing: containers reach nothing outside the overlay.",
    `${RESTART} with \`-ip-masq\` (it reinstalls them), or feed \`renderIpMasqRules(…).restore\` to \`iptables-restore --noflush\`.`,
  ),
  IPMASQ_RULES_STALE: kind(
    "ip-masq",
    "warning",
    "Masquerade rules of another network, subnet or flannel version remain (a previous lease, or a flannel replaced without a reboot).",
    "`iptables -t nat -D …` for each rule the finding lists.",
  ),
  FORWARD_RULES_MISSING: kind(
    "ip-masq",
    "warning",
    "flanneld's forward rules are missing: with docker's FORWARD policy DROP, traffic between containers of different nodes is dropped.",
    `${RESTART} (it installs them unless \`-iptables-forward-rules=false\`).`,
  ),
  FORWARD_RULES_STALE: kind(
    "ip-masq",
    "warning",
    "Forward rules of another network or flannel version remain.",
    "`iptables -t filter -D …` for each rule the finding lists.",
  ),
} as const satisfies Record<string, FindingKind>;

/** A finding code: what {@link DiagnoseFinding} `code` can be. */
export type DiagnoseCode = keyof typeof DIAGNOSE_FINDINGS;

/**
 * Every finding code, in check order.
 *
 * @example
 * ```ts
 * DIAGNOSE_CODES.length; // one per kind of finding
 * ```
 */
export const DIAGNOSE_CODES = Object.keys(DIAGNOSE_FINDINGS) as readonly DiagnoseCode[];
