/**
 * Pure tier: diagnoseNodeState on synthetic node states — a healthy one, then one change per
 * finding code (every code is produced here; the kernel tier, diagnose.kernel.test.ts, breaks the
 * same things in a real namespace).
 */
import { type KernelState, type Lease, parseNetworkConfig } from "@flannel-sdk/core";
import { describe, expect, it } from "vitest";
import {
  DIAGNOSE_CODES,
  DIAGNOSE_FINDINGS,
  type DiagnoseCode,
  type Diagnosis,
  diagnoseNodeState,
  type ExpectedIptablesRule,
  formatDiagnosis,
  type IpMasqFlavorRules,
  type NodeState,
  type SubnetEnvValues,
} from "../src/index.js";

const NOW = Date.UTC(2025, 0, 1);
const CONFIG = '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';

function lease(subnet: string, publicIP: string, mac: string, backendType = "vxlan"): Lease {
  return {
    subnet,
    ipv6Subnet: null,
    attrs: {
      publicIP,
      publicIPv6: null,
      backendType,
      backendData: backendType === "vxlan" ? { VNI: 1, VtepMAC: mac } : null,
      backendV6Data: null,
    },
    expiration: new Date(NOW + 86_400_000),
  };
}

const OWN = lease("172.30.8.0/24", "10.0.0.1", "0e:00:00:00:00:01");
const PEER = lease("172.30.9.0/24", "10.0.0.2", "0e:00:00:00:00:02");

function kernel(): KernelState {
  return {
    links: [
      {
        index: 2,
        name: "eth0",
        kind: null,
        mtu: 1500,
        mac: "52:54:00:00:00:01",
        up: true,
        vxlan: null,
      },
      {
        index: 3,
        name: "flannel.1",
        kind: "vxlan",
        mtu: 1450,
        mac: "0e:00:00:00:00:01",
        up: true,
        vxlan: { vni: 1, local: "10.0.0.1", lowerIndex: 2 },
      },
      {
        index: 4,
        name: "docker0",
        kind: "bridge",
        mtu: 1500,
        mac: "02:42:00:00:00:01",
        up: true,
        vxlan: null,
      },
    ],
    addrs: [
      { family: 4, dev: "eth0", ip: "10.0.0.1", prefixLen: 24 },
      { family: 4, dev: "flannel.1", ip: "172.30.8.0", prefixLen: 32 },
      { family: 4, dev: "docker0", ip: "172.30.8.1", prefixLen: 24 },
    ],
    routes: [
      { family: 4, dst: "10.0.0.0/24", gateway: null, dev: "eth0", table: 254, onlink: false },
      {
        family: 4,
        dst: "172.30.9.0/24",
        gateway: "172.30.9.0",
        dev: "flannel.1",
        table: 254,
        onlink: true,
      },
    ],
    neighs: [
      {
        family: 4,
        dev: "flannel.1",
        ip: "172.30.9.0",
        lladdr: "0e:00:00:00:00:02",
        permanent: true,
      },
    ],
    fdb: [
      {
        dev: "flannel.1",
        lladdr: "0e:00:00:00:00:02",
        dst: "10.0.0.2",
        self: true,
        permanent: true,
      },
    ],
  };
}

const RULES = (network: string, subnet: string): ExpectedIptablesRule[] => [
  {
    table: "nat",
    kind: "masq",
    rule: '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
  },
  {
    table: "nat",
    kind: "masq",
    rule: `-A FLANNEL-POSTRTG -s ${subnet} -d ${network} -m comment --comment "flanneld masq" -j RETURN`,
  },
  {
    table: "nat",
    kind: "masq",
    rule: `-A FLANNEL-POSTRTG -s ${network} ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully`,
  },
  {
    table: "filter",
    kind: "forward",
    rule: '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
  },
];

/** An older flavor: plain rules in the built-in chains, no comment. */
const OLD = (network: string, subnet: string): ExpectedIptablesRule[] => [
  { table: "nat", kind: "masq", rule: `-A POSTROUTING -s ${network} -d ${network} -j RETURN` },
  { table: "nat", kind: "masq", rule: `-A POSTROUTING ! -s ${network} -d ${subnet} -j RETURN` },
  { table: "filter", kind: "forward", rule: `-A FORWARD -s ${network} -j ACCEPT` },
];

const FLAVORS = (network: string, subnet: string): IpMasqFlavorRules[] => [
  { flavor: "old", since: "v0.1.0", until: "v0.1.9", rules: OLD(network, subnet) },
  { flavor: "new", since: "v0.2.0", until: null, rules: RULES(network, subnet) },
];

function saved(subnet = "172.30.8.0/24", rules = RULES("172.30.0.0/16", subnet)): string {
  const nat = rules
    .filter((r) => r.table === "nat")
    .map((r) => r.rule.replace(" --random-fully", ""));
  const filter = rules.filter((r) => r.table === "filter").map((r) => r.rule);
  return `*nat\n${nat.join("\n")}\nCOMMIT\n*filter\n${filter.join("\n")}\nCOMMIT\n`;
}

function healthy(): NodeState {
  return {
    now: NOW,
    configKey: "/kube-centos/network/config",
    storeLabel: "etcd v3",
    config: { value: parseNetworkConfig(CONFIG) },
    leases: { value: { leases: [OWN, PEER], skipped: [] } },
    subnetEnv: {
      path: "/run/flannel/subnet.env",
      content: {
        value: { network: "172.30.0.0/16", subnet: "172.30.8.1/24", mtu: 1450, ipMasq: true },
      },
    },
    kernel: { value: kernel() },
    iptables: { value: saved() },
    ipMasqFlavors: FLAVORS,
    masqFlavor: "new",
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
function with_(
  f: (
    s: Mutable<NodeState>,
    k: Mutable<KernelState> & { [K in keyof KernelState]: KernelState[K][number][] },
  ) => void,
): NodeState {
  const s = healthy() as Mutable<NodeState>;
  const k = kernel() as never;
  s.kernel = { value: k };
  f(s, k);
  return s;
}

const codes = (d: Diagnosis) => d.findings.map((f) => f.code);
const seen = new Set<DiagnoseCode>();
/** A dual-stack node's IPv6 side (fd99::1 / fd42:0:0:8::/64), its peer fd99::2 at fd42:0:0:9::/64. */
function ipv6Side(
  k: Mutable<KernelState> & { [K in keyof KernelState]: KernelState[K][number][] },
): void {
  k.links.push({
    index: 5,
    name: "flannel-v6.1",
    kind: "vxlan",
    mtu: 1430,
    mac: "0e:00:00:00:06:01",
    up: true,
    vxlan: { vni: 1, local: "fd99::1", lowerIndex: 2 },
  });
  k.addrs.push({ family: 6, dev: "flannel-v6.1", ip: "fd42:0:0:8::", prefixLen: 128 });
  k.routes.push({
    family: 6,
    dst: "fd42:0:0:9::/64",
    gateway: "fd42:0:0:9::",
    dev: "flannel-v6.1",
    table: 254,
    onlink: true,
  });
  k.neighs.push({
    family: 6,
    dev: "flannel-v6.1",
    ip: "fd42:0:0:9::",
    lladdr: "0e:00:00:00:06:02",
    permanent: true,
  });
  k.fdb.push({
    dev: "flannel-v6.1",
    lladdr: "0e:00:00:00:06:02",
    dst: "fd99::2",
    self: true,
    permanent: true,
  });
}

function expectCodes(state: NodeState, want: DiagnoseCode[]): Diagnosis {
  const d = diagnoseNodeState(state);
  expect(codes(d), formatDiagnosis(d)).toEqual(want);
  for (const c of want) seen.add(c);
  for (const f of d.findings) {
    // the catalogue says which check reports the code and how bad it is
    const kind = DIAGNOSE_FINDINGS[f.code];
    if (f.code !== "STORE_UNREACHABLE") expect(f.check, f.code).toBe(kind.check);
    if (kind.escalates === null) expect(f.severity, f.code).toBe(kind.severity);
    expect(f.expected).not.toBe("");
    expect(f.found).not.toBe("");
    expect(f.fix).not.toBe("");
  }
  return d;
}

describe("diagnoseNodeState", () => {
  it("a healthy node: no findings, every check ok, JSON round trip", () => {
    const d = expectCodes(healthy(), []);
    expect(d.ok).toBe(true);
    expect(d.checks.every((c) => c.status === "ok")).toBe(true);
    expect(d.node).toEqual({
      publicIP: "10.0.0.1",
      subnet: "172.30.8.0/24",
      backend: "vxlan",
      device: "flannel.1",
      bridge: "docker0",
    });
    expect(JSON.parse(formatDiagnosis(d, { format: "json" }))).toEqual(d);
    expect(formatDiagnosis(d)).toMatch(
      /^flannel node 10\.0\.0\.1: lease 172\.30\.8\.0\/24, vxlan, flannel\.1, docker0\n {2}ok {4}config /,
    );
  });

  it("config and store", () => {
    expectCodes(
      with_((s) => {
        s.config = { error: { code: "CONFIG_NOT_FOUND", message: "flannel config not found" } };
      }),
      ["CONFIG_NOT_FOUND"],
    );
    const w = expectCodes(
      with_((s) => {
        s.config = { error: { code: "CONFIG_NOT_FOUND", message: "not found" } };
        s.configElsewhere = { label: "the etcd v2 API", found: true };
      }),
      ["CONFIG_WRONG_API"],
    );
    expect(w.checks.filter((c) => c.status === "skipped")).toHaveLength(6);
    expectCodes(
      with_((s) => {
        s.config = {
          error: { code: "CONFIG_INVALID", message: "SubnetLen must be less than /31" },
        };
      }),
      ["CONFIG_INVALID"],
    );
    expectCodes(
      with_((s) => {
        s.config = { error: { code: "STORE_CLOSED", message: "closed" } };
      }),
      ["STORE_UNREACHABLE"],
    );
    expectCodes(
      with_((s) => {
        s.leases = { error: { code: "UNAVAILABLE", message: "no leader" } };
      }),
      ["STORE_UNREACHABLE"],
    );
    // Backend left out: flannel runs udp (its docs say vxlan)
    const udp = diagnoseNodeState(
      with_((s) => {
        s.config = { value: parseNetworkConfig('{"Network":"172.30.0.0/16"}') };
      }),
    );
    expect(codes(udp)[0]).toBe("BACKEND_UNSUPPORTED");
    expect(udp.findings[0]!.message).toContain("udp is what flannel runs when Backend is left out");
    seen.add("BACKEND_UNSUPPORTED");
  });

  it("lease", () => {
    expectCodes(
      with_((s) => {
        s.leases = { value: { leases: [PEER], skipped: [] } };
      }),
      ["LEASE_NOT_FOUND"],
    );
    const exp = expectCodes(
      with_((s) => {
        s.now = NOW + 86_400_000 - 30 * 60_000;
      }),
      ["LEASE_EXPIRING"],
    );
    expect(exp.findings[0]!.severity).toBe("warning");
    const gone = expectCodes(
      with_((s) => {
        s.now = NOW + 86_400_000 + 1;
      }),
      ["LEASE_EXPIRING"],
    );
    expect(gone.findings[0]!.severity).toBe("error");
    // a reservation never expires
    expectCodes(
      with_((s) => {
        s.leases = { value: { leases: [{ ...OWN, expiration: null }, PEER], skipped: [] } };
        s.now = NOW + 10 * 86_400_000;
      }),
      [],
    );
    expectCodes(
      with_((s) => {
        s.renewMarginMinutes = 24 * 60 + 1;
      }),
      ["LEASE_EXPIRING"],
    );
    const hostgw = { ...OWN, attrs: { ...OWN.attrs, backendType: "host-gw" } };
    expectCodes(
      with_((s) => {
        s.leases = { value: { leases: [hostgw, PEER], skipped: [] } };
      }),
      ["LEASE_BACKEND_MISMATCH"],
    );
    const narrow = { ...OWN, subnet: "172.30.8.0/25" };
    const d = diagnoseNodeState(
      with_((s) => {
        s.leases = { value: { leases: [narrow, PEER], skipped: [] } };
      }),
    );
    expect(codes(d)).toContain("LEASE_INCOMPATIBLE");
    seen.add("LEASE_INCOMPATIBLE");
    expectCodes(
      with_((s) => {
        s.leases = {
          value: {
            leases: [OWN, PEER],
            skipped: [
              {
                key: "/kube-centos/network/subnets/garbage",
                error: { code: "SUBNET_KEY_INVALID", message: "bad key" },
              },
            ],
          },
        };
      }),
      ["LEASE_UNREADABLE"],
    );
    const bad = lease("172.30.10.0/24", "10.0.0.3", "0e:00:00:00:00:03", "udp");
    expectCodes(
      with_((s) => {
        s.leases = { value: { leases: [OWN, PEER, bad], skipped: [] } };
      }),
      ["REMOTE_LEASE_IGNORED"],
    );
  });

  it("identifies the node by -public-ip, the vxlan device, or subnet.env", () => {
    expect(
      diagnoseNodeState(
        with_((s) => {
          s.publicIP = "10.0.0.1";
        }),
      ).node.publicIP,
    ).toBe("10.0.0.1");
    // no device: subnet.env's subnet names the lease
    const noDev = diagnoseNodeState(
      with_((_s, k) => {
        k.links = k.links.filter((l) => l.name !== "flannel.1");
      }),
    );
    expect(noDev.node.publicIP).toBe("10.0.0.1");
    expect(codes(noDev)).toContain("DEVICE_MISSING");
    seen.add("DEVICE_MISSING");
    expectCodes(
      with_((s, k) => {
        k.links = k.links.filter((l) => l.name !== "flannel.1");
        s.subnetEnv = { path: "/run/flannel/subnet.env", content: { value: null } };
      }),
      ["NODE_UNKNOWN", "SUBNET_ENV_MISSING"],
    );
  });

  it("subnet.env", () => {
    const env = (v: object | null) => ({
      path: "/run/flannel/subnet.env",
      content: {
        value:
          v === null
            ? null
            : { network: "172.30.0.0/16", subnet: "172.30.8.1/24", mtu: 1450, ipMasq: true, ...v },
      },
    });
    expectCodes(
      with_((s) => {
        s.subnetEnv = env(null);
      }),
      ["SUBNET_ENV_MISSING"],
    );
    expectCodes(
      with_((s) => {
        s.subnetEnv = { path: "/x", content: { error: { code: "ENV_SYNTAX", message: "bad" } } };
      }),
      ["SUBNET_ENV_INVALID"],
    );
    expectCodes(
      with_((s) => {
        s.subnetEnv = env({ network: "172.31.0.0/16" });
      }),
      ["SUBNET_ENV_NETWORK_MISMATCH"],
    );
    expectCodes(
      with_((s) => {
        s.subnetEnv = env({ subnet: "172.30.9.1/24" });
        s.publicIP = "10.0.0.1";
      }),
      ["SUBNET_ENV_SUBNET_MISMATCH"],
    );
    expectCodes(
      with_((s) => {
        s.subnetEnv = env({ mtu: 1500 });
      }),
      ["SUBNET_ENV_MTU_MISMATCH"],
    );
  });

  it("device", () => {
    const dev = (f: (l: Record<string, unknown>) => void) =>
      with_((_s, k) => {
        const l = { ...k.links[1]! } as Record<string, unknown>;
        f(l);
        k.links[1] = l as never;
      });
    expectCodes(
      dev((l) => {
        l.up = false;
      }),
      ["DEVICE_DOWN"],
    );
    expectCodes(
      dev((l) => {
        l.mac = "0e:00:00:00:00:99";
      }),
      ["VTEP_MAC_MISMATCH"],
    );
    expectCodes(
      dev((l) => {
        l.mtu = 1400;
      }),
      ["DEVICE_MTU_MISMATCH"],
    );
    expectCodes(
      dev((l) => {
        l.vxlan = { vni: 2, local: "10.0.0.1", lowerIndex: 2 };
      }),
      ["DEVICE_INCOMPATIBLE"],
    );
    // the port and GBP are compared when the kernel state carries them (netlink's Link does)
    expectCodes(
      dev((l) => {
        l.vxlan = { vni: 1, local: "10.0.0.1", lowerIndex: 2, port: 8472, gbp: false };
      }),
      [],
    );
    expectCodes(
      dev((l) => {
        l.vxlan = { vni: 1, local: "10.0.0.1", lowerIndex: 2, port: 4789, gbp: false };
      }),
      ["DEVICE_INCOMPATIBLE"],
    );
    expectCodes(
      dev((l) => {
        l.vxlan = { vni: 1, local: "10.0.0.1", lowerIndex: 2, port: 8472, gbp: true };
      }),
      ["DEVICE_INCOMPATIBLE"],
    );
    expectCodes(
      with_((_s, k) => {
        k.addrs = k.addrs.filter((a) => a.dev !== "flannel.1");
      }),
      ["DEVICE_ADDRESS_MISSING"],
    );
    expectCodes(
      with_((_s, k) => {
        k.addrs.push({ family: 4, dev: "flannel.1", ip: "172.30.7.0", prefixLen: 32 });
      }),
      ["DEVICE_ADDRESS_EXTRA"],
    );
    expectCodes(
      with_((s) => {
        s.kernel = { error: { code: "NETLINK_ERROR", message: "EPERM" } };
      }),
      ["KERNEL_UNREADABLE"],
    );
    // no interface with the public IP and no device: MTUs are guessed from subnet.env
    expectCodes(
      with_((s, k) => {
        k.links = k.links.filter((l) => l.name !== "flannel.1");
        k.addrs = k.addrs.filter((a) => a.dev !== "eth0");
        s.publicIP = "10.0.0.1";
      }),
      ["DEVICE_MISSING", "EXTERNAL_INTERFACE_UNKNOWN"],
    );
    // own VtepMAC not a MAC: nothing can be planned
    const badMac = {
      ...OWN,
      attrs: { ...OWN.attrs, backendData: { VNI: 1, VtepMAC: "01:00:5e:00:00:01" } },
    };
    expect(
      codes(
        diagnoseNodeState(
          with_((s) => {
            s.leases = { value: { leases: [badMac, PEER], skipped: [] } };
          }),
        ),
      ),
    ).toContain("PLAN_INVALID");
    seen.add("PLAN_INVALID");
  });

  it("bridge", () => {
    expectCodes(
      with_((_s, k) => {
        k.links = k.links.filter((l) => l.name !== "docker0");
      }),
      ["BRIDGE_MISSING"],
    );
    expectCodes(
      with_((_s, k) => {
        k.addrs = k.addrs.map((a) =>
          a.dev === "docker0" ? { ...a, ip: "172.17.0.1", prefixLen: 16 } : a,
        );
      }),
      ["BRIDGE_OUTSIDE_SUBNET"],
    );
    expectCodes(
      with_((_s, k) => {
        k.addrs = k.addrs.map((a) => (a.dev === "docker0" ? { ...a, prefixLen: 25 } : a));
      }),
      ["BRIDGE_PREFIX_MISMATCH"],
    );
    // cni0 instead of docker0
    const cni = diagnoseNodeState(
      with_((_s, k) => {
        k.links = k.links.map((l) => (l.name === "docker0" ? { ...l, name: "cni0" } : l));
        k.addrs = k.addrs.map((a) => (a.dev === "docker0" ? { ...a, dev: "cni0" } : a));
      }),
    );
    expect(cni.node.bridge).toBe("cni0");
    expect(cni.findings).toEqual([]);
  });

  it("peers", () => {
    expectCodes(
      with_((_s, k) => {
        k.neighs = [];
      }),
      ["PEER_NEIGH_MISSING"],
    );
    expectCodes(
      with_((_s, k) => {
        k.neighs = [{ ...k.neighs[0]!, lladdr: "0e:00:00:00:00:77" }];
      }),
      ["PEER_NEIGH_WRONG"],
    );
    expectCodes(
      with_((_s, k) => {
        k.fdb = [];
      }),
      ["PEER_FDB_MISSING"],
    );
    expectCodes(
      with_((_s, k) => {
        k.fdb = [{ ...k.fdb[0]!, dst: "10.0.0.9" }];
      }),
      ["PEER_FDB_WRONG"],
    );
    expectCodes(
      with_((_s, k) => {
        k.routes = k.routes.filter((r) => r.dev !== "flannel.1");
      }),
      ["PEER_ROUTE_MISSING"],
    );
    expectCodes(
      with_((_s, k) => {
        k.routes = k.routes.map((r) => (r.dev === "flannel.1" ? { ...r, onlink: false } : r));
      }),
      ["PEER_ROUTE_WRONG"],
    );
    expectCodes(
      with_((s) => {
        s.leases = { value: { leases: [OWN], skipped: [] } };
      }),
      ["PEER_NEIGH_STALE", "PEER_FDB_STALE", "PEER_ROUTE_STALE"],
    );
  });

  it("ip-masq", () => {
    expectCodes(
      with_((s) => {
        s.iptables = { value: "*nat\nCOMMIT\n*filter\nCOMMIT\n" };
        s.ipMasq = false;
      }),
      ["FORWARD_RULES_MISSING"],
    );
    const m = expectCodes(
      with_((s) => {
        s.iptables = { value: saved().replace(/-A FLANNEL-POSTRTG.*\n/g, "") };
      }),
      ["IPMASQ_RULES_MISSING"],
    );
    expect(m.findings[0]!.found).toBe(
      '1 of 3 rules present; the node has the rules of flavor "new" (flannel v0.2.0 and later)',
    );
    expectCodes(
      with_((s) => {
        s.iptables = { value: saved() + saved("172.30.99.0/24") };
      }),
      ["IPMASQ_RULES_STALE"],
    );
  });

  it("ip-masq flavors: checks against the one on the node, else the agent's", () => {
    const old = saved("172.30.8.0/24", OLD("172.30.0.0/16", "172.30.8.0/24"));
    const clean = expectCodes(
      with_((s) => {
        s.iptables = { value: old };
      }),
      [],
    );
    expect(clean.checks.find((c) => c.check === "ip-masq")!.detail).toBe(
      'flavor "old" (flannel v0.1.0 – v0.1.9): 2 masquerade rules for 172.30.8.0/24 and 1 forward rules present',
    );
    const one = expectCodes(
      with_((s) => {
        s.iptables = { value: old.replace(/^-A POSTROUTING ! -s.*\n/m, "") };
      }),
      ["IPMASQ_RULES_MISSING"],
    );
    expect(one.findings[0]).toMatchObject({
      subject: "nat POSTROUTING",
      expected: "nat: -A POSTROUTING ! -s 172.30.0.0/16 -d 172.30.8.0/24 -j RETURN",
      found:
        '1 of 2 rules present; the node has the rules of flavor "old" (flannel v0.1.0 – v0.1.9)',
    });
    // nothing of flannel's: the agent's flavor is expected
    const none = expectCodes(
      with_((s) => {
        s.iptables = { value: "*nat\nCOMMIT\n*filter\nCOMMIT\n" };
        s.masqFlavor = "old";
      }),
      ["IPMASQ_RULES_MISSING", "FORWARD_RULES_MISSING"],
    );
    expect(none.findings[0]!.found).toBe(
      '0 of 2 rules present; no flannel rule found; expected flavor "old" (flannel v0.1.0 – v0.1.9), what this node\'s agent installs',
    );
    // a tie goes to the agent's flavor: only the forward rule is checked, and both flavors have one
    expect(
      diagnoseNodeState(
        with_((s) => {
          s.ipMasq = false;
          s.iptables = { value: old };
          s.ipMasqFlavors = (n, l) => [
            { ...FLAVORS(n, l)[0]!, flavor: "older", since: "v0.0.1", until: "v0.0.9" },
            ...FLAVORS(n, l),
          ];
          s.masqFlavor = "old";
        }),
      ).checks.find((c) => c.check === "ip-masq")!.detail,
    ).toBe(
      'flavor "old" (flannel v0.0.1 – v0.1.9): FLANNEL_IPMASQ=false: no masquerade rules expected and 1 forward rules present',
    );
    // an old flavor's leftovers next to the new rules are stale; a hand-written rule is not
    const stale = expectCodes(
      with_((s) => {
        s.iptables = {
          value: `${saved()}${old}*nat\n-A POSTROUTING -s 10.0.0.0/8 -d 10.0.0.0/8 -j RETURN\nCOMMIT\n`,
        };
      }),
      ["IPMASQ_RULES_STALE", "FORWARD_RULES_STALE"],
    );
    expect(stale.findings.map((f) => f.fix)).toEqual([
      "iptables -t nat -D POSTROUTING -s 172.30.0.0/16 -d 172.30.0.0/16 -j RETURN\niptables -t nat -D POSTROUTING ! -s 172.30.0.0/16 -d 172.30.8.0/24 -j RETURN",
      "iptables -t filter -D FORWARD -s 172.30.0.0/16 -j ACCEPT",
    ]);
  });

  it("ip-masq: unreadable, skipped", () => {
    expectCodes(
      with_((s) => {
        s.iptables = { error: { code: "IPTABLES_FAILED", message: "not found" } };
      }),
      ["IPTABLES_UNREADABLE"],
    );
    const skipped = diagnoseNodeState(
      with_((s) => {
        s.iptables = null;
      }),
    );
    expect(skipped.checks.find((c) => c.check === "ip-masq")!.status).toBe("skipped");
  });

  it("host-gw: a route via the peer's public IP on the external interface", () => {
    const cfg = parseNetworkConfig(
      '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"host-gw"}}',
    );
    const own = lease("172.30.8.0/24", "10.0.0.1", "", "host-gw");
    const peer = lease("172.30.9.0/24", "10.0.0.2", "", "host-gw");
    const state = with_((s, k) => {
      s.config = { value: cfg };
      s.leases = { value: { leases: [own, peer], skipped: [] } };
      s.subnetEnv = {
        path: "/run/flannel/subnet.env",
        content: {
          value: { network: "172.30.0.0/16", subnet: "172.30.8.1/24", mtu: 1500, ipMasq: true },
        },
      };
      s.publicIP = "10.0.0.1";
      k.links = k.links.filter((l) => l.name !== "flannel.1");
      k.neighs = [];
      k.fdb = [];
      k.routes = [
        {
          family: 4,
          dst: "172.30.9.0/24",
          gateway: "10.0.0.2",
          dev: "eth0",
          table: 254,
          onlink: false,
        },
      ];
    });
    expectCodes(state, []);
  });

  it("dual stack: the IPv6 side (flannel-v6.1, its /128, neighbour, FDB, route) is checked like the IPv4 one", () => {
    const v6 = (l: Lease, sn: string, ip6: string, mac: string): Lease => ({
      ...l,
      ipv6Subnet: sn,
      attrs: { ...l.attrs, publicIPv6: ip6, backendV6Data: { VNI: 1, VtepMAC: mac } },
    });
    const dual = (
      k: Mutable<KernelState> & { [K in keyof KernelState]: KernelState[K][number][] },
      s: Mutable<NodeState>,
    ) => {
      s.config = {
        value: parseNetworkConfig(
          '{"Network":"172.30.0.0/16","SubnetLen":24,"EnableIPv6":true,"IPv6Network":"fd42::/56","Backend":{"Type":"vxlan"}}',
        ),
      };
      s.leases = {
        value: {
          leases: [
            v6(OWN, "fd42:0:0:8::/64", "fd99::1", "0e:00:00:00:06:01"),
            v6(PEER, "fd42:0:0:9::/64", "fd99::2", "0e:00:00:00:06:02"),
          ],
          skipped: [],
        },
      };
      ipv6Side(k);
    };
    expectCodes(
      with_((s, k) => dual(k, s)),
      [],
    );
    const broken = expectCodes(
      with_((s, k) => {
        dual(k, s);
        k.neighs.pop();
        k.routes.pop();
        k.addrs.pop();
      }),
      ["DEVICE_ADDRESS_MISSING", "PEER_NEIGH_MISSING", "PEER_ROUTE_MISSING"],
    );
    expect(broken.findings.map((f) => f.subject)).toEqual([
      "flannel-v6.1",
      "neighbour fd42:0:0:9:: on flannel-v6.1 (node fd99::2)",
      "route fd42:0:0:9::/64 (node fd99::2)",
    ]);
    expect(broken.findings[2]!.fix).toContain(
      "ip -6 route replace fd42:0:0:9::/64 via fd42:0:0:9:: dev flannel-v6.1 onlink",
    );
    // docker0's IPv6 address: FLANNEL_IPV6_SUBNET's first host, with its prefix
    const bridge6 = (ip: string, prefixLen: number) =>
      with_((s, k) => {
        dual(k, s);
        k.addrs.push({ family: 6, dev: "docker0", ip: "fe80::1", prefixLen: 64 });
        if (ip !== "") k.addrs.push({ family: 6, dev: "docker0", ip, prefixLen });
      });
    const ok6 = expectCodes(bridge6("fd42:0:0:8::1", 64), []);
    expect(ok6.checks.find((c) => c.check === "bridge")!.detail).toBe(
      "docker0: 172.30.8.1/24 in 172.30.8.0/24; fd42:0:0:8::1/64 in fd42:0:0:8::/64",
    );
    // docker without --ipv6 (mk-docker-opts never passes it): only link-local, not judged
    expectCodes(bridge6("", 0), []);
    const outside = expectCodes(bridge6("fd42:0:0:7::1", 64), ["BRIDGE_OUTSIDE_SUBNET"]);
    expect(outside.findings[0]).toMatchObject({
      subject: "docker0 IPv6",
      expected: "fd42:0:0:8::1/64 (FLANNEL_IPV6_SUBNET)",
      found: "fd42:0:0:7::1/64",
    });
    const prefix = expectCodes(bridge6("fd42:0:0:8::1", 80), ["BRIDGE_PREFIX_MISMATCH"]);
    expect(prefix.findings[0]!.fix).toBe("ip -6 addr replace fd42:0:0:8::1/64 dev docker0");
  });

  it("IPv6-only: flannel-v6.<VNI>, its peers, FLANNEL_IPV6_* and ip6tables, like a dual-stack node's IPv6 side", () => {
    const v6only = (
      k: Mutable<KernelState> & { [K in keyof KernelState]: KernelState[K][number][] },
      s: Mutable<NodeState>,
    ) => {
      const only6 = (l: Lease, sn: string, ip6: string, mac: string): Lease => ({
        ...l,
        subnet: "0.0.0.0/0",
        ipv6Subnet: sn,
        attrs: {
          ...l.attrs,
          publicIP: "0.0.0.0",
          publicIPv6: ip6,
          backendData: null,
          backendV6Data: { VNI: 1, VtepMAC: mac },
        },
      });
      s.config = {
        value: parseNetworkConfig(
          '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd42::/56","Backend":{"Type":"vxlan"}}',
        ),
      };
      s.leases = {
        value: {
          leases: [
            only6(OWN, "fd42:0:0:8::/64", "fd99::1", "0e:00:00:00:06:01"),
            only6(PEER, "fd42:0:0:9::/64", "fd99::2", "0e:00:00:00:06:02"),
          ],
          skipped: [],
        },
      };
      s.subnetEnv = {
        path: "/run/flannel/subnet.env",
        content: {
          value: {
            network: null,
            subnet: null,
            ipv6Network: "fd42::/56",
            ipv6Subnet: "fd42:0:0:8::1/64",
            mtu: 1450,
            ipMasq: true,
          },
        },
      };
      s.ip6tables = { value: saved("fd42:0:0:8::/64", RULES("fd42::/56", "fd42:0:0:8::/64")) };
      // only eth0 and the IPv6 side: no flannel.1, no IPv4 peer entries
      k.links.splice(0, k.links.length, ...k.links.filter((l) => l.name === "eth0"));
      k.addrs.splice(0, k.addrs.length);
      k.routes.splice(0, k.routes.length);
      k.neighs.splice(0, k.neighs.length);
      k.fdb.splice(0, k.fdb.length);
      k.addrs.push({ family: 6, dev: "eth0", ip: "fd99::1", prefixLen: 64 });
      ipv6Side(k);
    };
    const clean = expectCodes(
      with_((s, k) => v6only(k, s)),
      [],
    );
    expect(clean.node).toMatchObject({
      publicIP: "fd99::1",
      subnet: "fd42:0:0:8::/64",
      device: "flannel-v6.1",
    });
    const status = Object.fromEntries(clean.checks.map((c) => [c.check, c.status]));
    expect(status).toEqual({
      config: "ok",
      lease: "ok",
      "subnet-env": "ok",
      device: "ok",
      bridge: "skipped",
      peers: "ok",
      "ip-masq": "ok",
    });
    expect(clean.checks.find((c) => c.check === "subnet-env")!.detail).toContain(
      "FLANNEL_IPV6_SUBNET=fd42:0:0:8::1/64",
    );
    expect(clean.checks.find((c) => c.check === "ip-masq")!.detail).toMatch(/^ip6tables flavor/);

    const broken = expectCodes(
      with_((s, k) => {
        v6only(k, s);
        k.neighs.pop();
        k.addrs.pop();
        const env = (s.subnetEnv.content as { value: SubnetEnvValues }).value;
        s.subnetEnv = {
          ...s.subnetEnv,
          content: { value: { ...env, ipv6Subnet: "fd42:0:0:7::1/64" } },
        };
        s.ip6tables = { value: "*nat\nCOMMIT\n*filter\nCOMMIT\n" };
      }),
      [
        "SUBNET_ENV_SUBNET_MISMATCH",
        "DEVICE_ADDRESS_MISSING",
        "PEER_NEIGH_MISSING",
        "IPMASQ_RULES_MISSING",
        "FORWARD_RULES_MISSING",
      ],
    );
    expect(broken.findings.map((f) => f.subject)).toEqual([
      "/run/flannel/subnet.env FLANNEL_IPV6_SUBNET",
      "flannel-v6.1",
      "neighbour fd42:0:0:9:: on flannel-v6.1 (node fd99::2)",
      "ip6tables nat FLANNEL-POSTRTG",
      "ip6tables filter FORWARD",
    ]);
    // found by subnet.env when the device is gone, and told by its PublicIPv6
    const gone = expectCodes(
      with_((s, k) => {
        v6only(k, s);
        k.links.splice(
          k.links.findIndex((l) => l.name === "flannel-v6.1"),
          1,
        );
        k.addrs.pop();
        k.routes.pop();
        k.neighs.pop();
        k.fdb.pop();
      }),
      ["DEVICE_MISSING", "PEER_NEIGH_MISSING", "PEER_FDB_MISSING", "PEER_ROUTE_MISSING"],
    );
    expect(gone.node.publicIP).toBe("fd99::1");
    // -public-ipv6 names the node, before the device's address
    const named = with_((s, k) => {
      v6only(k, s);
      s.publicIPv6 = "fd99::3";
    });
    expect(diagnoseNodeState(named).findings.map((f) => [f.code, f.subject])).toEqual([
      ["LEASE_NOT_FOUND", "lease of fd99::3"],
    ]);
    expect(diagnoseNodeState({ ...named, publicIPv6: "fd99::1" }).findings).toEqual([]);
  });

  it("every finding code is produced by one of these cases", () => {
    expect(DIAGNOSE_CODES.filter((c) => !seen.has(c))).toEqual([]);
  });

  it("the catalogue keeps every code, in check order", () => {
    // codes are contracts: this list only grows
    expect(DIAGNOSE_CODES).toEqual([
      "STORE_UNREACHABLE",
      "CONFIG_NOT_FOUND",
      "CONFIG_WRONG_API",
      "CONFIG_INVALID",
      "BACKEND_UNSUPPORTED",
      "NODE_UNKNOWN",
      "LEASE_NOT_FOUND",
      "LEASE_EXPIRING",
      "LEASE_INCOMPATIBLE",
      "LEASE_BACKEND_MISMATCH",
      "LEASE_UNREADABLE",
      "REMOTE_LEASE_IGNORED",
      "SUBNET_ENV_MISSING",
      "SUBNET_ENV_INVALID",
      "SUBNET_ENV_NETWORK_MISMATCH",
      "SUBNET_ENV_SUBNET_MISMATCH",
      "SUBNET_ENV_MTU_MISMATCH",
      "KERNEL_UNREADABLE",
      "EXTERNAL_INTERFACE_UNKNOWN",
      "PLAN_INVALID",
      "DEVICE_MISSING",
      "DEVICE_INCOMPATIBLE",
      "DEVICE_DOWN",
      "DEVICE_ADDRESS_MISSING",
      "DEVICE_ADDRESS_EXTRA",
      "VTEP_MAC_MISMATCH",
      "DEVICE_MTU_MISMATCH",
      "BRIDGE_MISSING",
      "BRIDGE_OUTSIDE_SUBNET",
      "BRIDGE_PREFIX_MISMATCH",
      "PEER_NEIGH_MISSING",
      "PEER_NEIGH_WRONG",
      "PEER_FDB_MISSING",
      "PEER_FDB_WRONG",
      "PEER_ROUTE_MISSING",
      "PEER_ROUTE_WRONG",
      "PEER_NEIGH_STALE",
      "PEER_FDB_STALE",
      "PEER_ROUTE_STALE",
      "IPTABLES_UNREADABLE",
      "IPMASQ_RULES_MISSING",
      "IPMASQ_RULES_STALE",
      "FORWARD_RULES_MISSING",
      "FORWARD_RULES_STALE",
    ]);
  });
});
