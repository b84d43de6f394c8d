/**
 * Kernel tier: a healthy node diagnoses clean; then each check is broken on purpose in the
 * node's namespace and diagnose must name it, with a fix that works where the fix is a command.
 */
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { MemoryLeaseStore } from "@flannel-sdk/core";
import { renderIpMasqRules } from "@flannel-sdk/render";
import { tierGate } from "@flannel-sdk/testkit";
import { afterAll, describe, expect, it } from "vitest";
import {
  type DiagnoseCode,
  type DiagnoseFinding,
  type DiagnoseOptions,
  type Diagnosis,
  diagnose,
  formatDiagnosis,
} from "../src/index.js";
import {
  bridgen,
  ipn,
  iptn,
  kernelMissing,
  Lab,
  ME,
  PEERS,
  PREFIX,
  type TestNode,
} from "./node.js";

const run = tierGate("kernel", kernelMissing());
const lab = new Lab();
afterAll(() => lab.cleanup());

const opts = (n: TestNode, more: Partial<DiagnoseOptions> = {}): DiagnoseOptions => ({
  store: n.store,
  netlink: n.handle,
  subnetFile: n.subnetFile,
  prefix: PREFIX,
  storeLabel: "MemoryLeaseStore",
  ...more,
});

const codes = (d: Diagnosis) => d.findings.map((f) => f.code).sort();

/** Runs the `ip …` / `bridge …` commands of a finding's fix inside the node's namespace. */
function applyFix(n: TestNode, fix: string): void {
  for (const part of fix.split(/; (?:or )?/)) {
    const words = part.trim().split(/\s+/);
    if (words[0] !== "ip" && words[0] !== "bridge") continue;
    execFileSync(words[0], ["-n", n.ns, ...words.slice(1)], { stdio: "pipe" });
  }
}

/** Applies every finding's fix commands, in order, and expects a clean diagnosis afterwards. */
async function fixAll(n: TestNode, d: Diagnosis | readonly DiagnoseFinding[]): Promise<void> {
  for (const f of Array.isArray(d) ? d : (d as Diagnosis).findings) applyFix(n, f.fix);
  const after = await diagnose(opts(n));
  expect(codes(after), formatDiagnosis(after)).toEqual([]);
}

async function expectOnly(n: TestNode, code: DiagnoseCode, more: Partial<DiagnoseOptions> = {}) {
  const d = await diagnose(opts(n, more));
  expect(codes(d), formatDiagnosis(d)).toEqual([code]);
  return d.findings[0]!;
}

describe.runIf(run)("diagnose, on a node in a network namespace", () => {
  it("a healthy node has no findings, every check ok; text and JSON output", async () => {
    const n = await lab.node();
    const d = await diagnose(opts(n));
    expect(d.findings, formatDiagnosis(d)).toEqual([]);
    expect(d.ok).toBe(true);
    expect(d.checks.map((c) => [c.check, c.status])).toEqual([
      ["config", "ok"],
      ["lease", "ok"],
      ["subnet-env", "ok"],
      ["device", "ok"],
      ["bridge", "ok"],
      ["peers", "ok"],
      ["ip-masq", "ok"],
    ]);
    expect(d.node).toEqual({
      publicIP: ME,
      subnet: n.own.subnet,
      backend: "vxlan",
      device: "flannel.1",
      bridge: "docker0",
    });
    const text = formatDiagnosis(d);
    expect(text).toContain(`flannel node ${ME}: lease ${n.own.subnet}, vxlan, flannel.1, docker0`);
    expect(text).toContain("No problems found.");
    expect(JSON.parse(formatDiagnosis(d, { format: "json" }))).toEqual(d);
  });

  it("config: missing; written with the other API; invalid", async () => {
    const n = await lab.node();
    await using empty = new MemoryLeaseStore({ prefix: PREFIX });
    const f = await expectOnly(n, "CONFIG_NOT_FOUND", { store: empty });
    expect(f.expected).toBe(`a network config at ${PREFIX}/config`);
    await using v2 = new MemoryLeaseStore({ config: { Network: "172.30.0.0/16" }, prefix: PREFIX });
    const w = await expectOnly(n, "CONFIG_WRONG_API", {
      store: empty,
      storeLabel: "etcd v3",
      otherApiStore: { label: "the etcd v2 API", store: v2 },
    });
    expect(w.found).toContain("the etcd v2 API");
    await using bad = new MemoryLeaseStore({
      config: '{"Network":"172.30.0.0/30"}',
      prefix: PREFIX,
    });
    const i = await expectOnly(n, "CONFIG_INVALID", { store: bad });
    expect(i.found).toBe("network is too small. Minimum useful network prefix is /28");
  });

  it("lease: gone; about to expire", async () => {
    const n = await lab.node();
    const exp = n.own.expiration!.getTime();
    const f = await expectOnly(n, "LEASE_EXPIRING", { now: () => exp - 10 * 60_000 });
    expect(f.found).toMatch(/^10 min left/);
    expect(f.severity).toBe("warning");
    await n.store.releaseLease(n.own);
    const g = await diagnose(opts(n));
    expect(codes(g)).toEqual(["LEASE_NOT_FOUND"]);
    expect(g.findings[0]!.fix).toContain("Restart=always");
  });

  it("subnet.env: missing; another subnet; another MTU", async () => {
    const n = await lab.node();
    const other = n.peers[0]!.subnet.replace(/0\/24$/, "1/24");
    writeFileSync(
      n.subnetFile,
      `FLANNEL_NETWORK=172.30.0.0/16\nFLANNEL_SUBNET=${other}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
    );
    // subnet.env names a subnet of another node, but -public-ip says who we are
    const s = await expectOnly(n, "SUBNET_ENV_SUBNET_MISMATCH", { publicIP: ME });
    expect(s.found).toBe(`FLANNEL_SUBNET=${other}`);
    writeFileSync(
      n.subnetFile,
      `FLANNEL_NETWORK=172.30.0.0/16\nFLANNEL_SUBNET=${n.own.subnet.replace(/0\/24$/, "1/24")}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=true\n`,
    );
    const m = await expectOnly(n, "SUBNET_ENV_MTU_MISMATCH");
    expect(m.expected).toBe("FLANNEL_MTU=1450 (underlay MTU − 50)");
    writeFileSync(
      n.subnetFile,
      `FLANNEL_NETWORK=10.0.0.0/8\nFLANNEL_SUBNET=${n.own.subnet.replace(/0\/24$/, "1/24")}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
    );
    const w = await expectOnly(n, "SUBNET_ENV_NETWORK_MISMATCH");
    expect([w.expected, w.found]).toEqual([
      "FLANNEL_NETWORK=172.30.0.0/16",
      "FLANNEL_NETWORK=10.0.0.0/8",
    ]);
    rmSync(n.subnetFile);
    // no subnet.env: the node is still found by its vxlan device; the masq check then needs -ip-masq
    expect(codes(await diagnose(opts(n, { ipMasq: true })))).toEqual(["SUBNET_ENV_MISSING"]);
  });

  it("flannel.1: down, address gone, extra address, wrong MTU, wrong MAC — the fix commands work", async () => {
    const n = await lab.node();
    // the kernel drops the device's routes and neighbours when it goes down, and when its last
    // IPv4 address goes: those are named too, each with its command
    ipn(n.ns, "link", "set", "flannel.1", "down");
    let d = await diagnose(opts(n));
    expect(codes(d)).toContain("DEVICE_DOWN");
    expect(d.findings.find((f) => f.code === "DEVICE_DOWN")!.fix).toBe("ip link set flannel.1 up");
    await fixAll(n, d);

    ipn(n.ns, "addr", "del", `${n.own.subnet.split("/")[0]}/32`, "dev", "flannel.1");
    d = await diagnose(opts(n));
    expect(codes(d)).toContain("DEVICE_ADDRESS_MISSING");
    await fixAll(n, d);

    ipn(n.ns, "addr", "add", "172.30.200.0/32", "dev", "flannel.1");
    await fixAll(n, [await expectOnly(n, "DEVICE_ADDRESS_EXTRA")]);

    ipn(n.ns, "link", "set", "flannel.1", "mtu", "1400");
    const m = await expectOnly(n, "DEVICE_MTU_MISMATCH");
    expect(m.severity).toBe("warning");
    expect(m.found).toBe("mtu 1400");
    await fixAll(n, [m]);

    ipn(n.ns, "link", "set", "flannel.1", "address", "0e:00:00:00:00:99");
    d = await diagnose(opts(n));
    const f = d.findings.find((x) => x.code === "VTEP_MAC_MISMATCH")!;
    expect(f.expected).toContain("0e:00:00:00:00:11");
    expect(f.found).toBe("MAC 0e:00:00:00:00:99");
    await fixAll(n, d);
  });

  it("flannel.1 made by something else: another port, another local address", async () => {
    const n = await lab.node();
    const remake = (...how: string[]) => {
      ipn(n.ns, "link", "del", "flannel.1");
      ipn(
        n.ns,
        "link",
        "add",
        "flannel.1",
        "address",
        "0e:00:00:00:00:11",
        "mtu",
        "1450",
        "type",
        "vxlan",
        "id",
        "1",
        "dev",
        "eth0",
        "nolearning",
        ...how,
      );
    };
    // IANA's port instead of the kernel's 8472: flanneld (Port unset) would reuse it, and the
    // other nodes' packets would never arrive
    remake("local", ME, "dstport", "4789");
    await n.handle.applyPlan(n.plan); // what a restarted flanneld does: reuses it
    const p = await expectOnly(n, "DEVICE_INCOMPATIBLE");
    expect(p.found).toBe("dstport 4789");
    expect(p.expected).toBe(`vxlan id 1 local ${ME} dev eth0 dstport 8472`);
    // the fix: delete it, then let flanneld make it again (here: apply the plan)
    applyFix(n, p.fix);
    await n.handle.applyPlan(n.plan);
    expect(codes(await diagnose(opts(n)))).toEqual([]);

    // (flanneld would recreate this one at its next start; until then, the peers' traffic is lost)
    remake("local", "172.16.97.99", "dstport", "0");
    ipn(n.ns, "addr", "add", `${n.own.subnet.split("/")[0]}/32`, "dev", "flannel.1");
    ipn(n.ns, "link", "set", "flannel.1", "up");
    await n.handle.applyPlan({ ...n.plan, link: null });
    // (the device's local address no longer identifies the node: -public-ip does)
    const l = await expectOnly(n, "DEVICE_INCOMPATIBLE", { publicIP: ME });
    expect(l.found).toBe("local 172.16.97.99");
  });

  it("the kernel cannot be read (a closed handle): one finding, the other checks still run", async () => {
    const n = await lab.node();
    const { openHandle } = await import("@flannel-sdk/netlink");
    const h = await openHandle({ netns: n.ns });
    h.close();
    const d = await diagnose(opts(n, { netlink: h, iptablesSave: null }));
    expect(codes(d)).toEqual(["KERNEL_UNREADABLE"]);
    expect(d.findings[0]!.found).toMatch(/^HANDLE_CLOSED: /);
    expect(d.checks.find((c) => c.check === "lease")!.status).toBe("ok");
  });

  it("MTU: the underlay's MTU dropped under flannel.1's (jumbo frames gone, a tunnel added)", async () => {
    const n = await lab.node();
    ipn(n.ns, "link", "set", "eth0", "mtu", "1400");
    const d = await diagnose(opts(n));
    expect(codes(d)).toEqual(["DEVICE_MTU_MISMATCH", "SUBNET_ENV_MTU_MISMATCH"]);
    const dev = d.findings.find((f) => f.code === "DEVICE_MTU_MISMATCH")!;
    expect(dev.severity).toBe("error");
    expect(dev.expected).toBe("mtu 1350 (eth0 1400 − 50)");
    expect(d.findings.find((f) => f.code === "SUBNET_ENV_MTU_MISMATCH")!.found).toBe(
      "FLANNEL_MTU=1450",
    );
  });

  it("flannel.1 deleted: the device and every peer entry are missing", async () => {
    const n = await lab.node();
    ipn(n.ns, "link", "del", "flannel.1");
    // without the device the node is found through subnet.env's subnet
    const d = await diagnose(opts(n));
    expect([...new Set(codes(d))]).toEqual([
      "DEVICE_MISSING",
      "PEER_FDB_MISSING",
      "PEER_NEIGH_MISSING",
      "PEER_ROUTE_MISSING",
    ]);
    expect(d.node.publicIP).toBe(ME);
  });

  it("docker0: outside FLANNEL_SUBNET (the guide's 172.17.0.1/16); another prefix; missing", async () => {
    const n = await lab.node();
    ipn(n.ns, "addr", "flush", "dev", "docker0");
    ipn(n.ns, "addr", "add", "172.17.0.1/16", "dev", "docker0");
    const f = await expectOnly(n, "BRIDGE_OUTSIDE_SUBNET");
    expect(f.found).toBe("172.17.0.1/16");
    expect(f.expected).toBe(`${n.own.subnet.replace(/0\/24$/, "1/24")} (FLANNEL_SUBNET)`);
    // inside the subnet, but with the Network's prefix: the guide's --bip typed by hand
    ipn(n.ns, "addr", "flush", "dev", "docker0");
    ipn(n.ns, "addr", "add", `${n.own.subnet.replace(/0\/24$/, "1")}/16`, "dev", "docker0");
    const p = await expectOnly(n, "BRIDGE_PREFIX_MISMATCH");
    expect(p.severity).toBe("warning");
    applyFix(n, p.fix);
    expect(codes(await diagnose(opts(n)))).toEqual([]);
    ipn(n.ns, "link", "del", "docker0");
    expect((await expectOnly(n, "BRIDGE_MISSING")).severity).toBe("warning");
  });

  it("peers: a missing route, neighbour and FDB entry; wrong ones — each fix command works", async () => {
    const n = await lab.node();
    const p = n.peers[0]!;
    const [pip] = p.subnet.split("/");
    ipn(n.ns, "route", "del", p.subnet);
    const r = await expectOnly(n, "PEER_ROUTE_MISSING");
    expect(r.subject).toBe(`route ${p.subnet} (node ${PEERS[0]!.ip})`);
    applyFix(n, r.fix);
    ipn(n.ns, "neigh", "del", pip!, "dev", "flannel.1");
    applyFix(n, (await expectOnly(n, "PEER_NEIGH_MISSING")).fix);
    bridgen(n.ns, "fdb", "del", PEERS[0]!.mac, "dev", "flannel.1", "dst", PEERS[0]!.ip, "self");
    applyFix(n, (await expectOnly(n, "PEER_FDB_MISSING")).fix);
    expect(codes(await diagnose(opts(n)))).toEqual([]);

    ipn(
      n.ns,
      "neigh",
      "replace",
      pip!,
      "lladdr",
      "0e:00:00:00:00:77",
      "dev",
      "flannel.1",
      "nud",
      "permanent",
    );
    applyFix(n, (await expectOnly(n, "PEER_NEIGH_WRONG")).fix);
    bridgen(
      n.ns,
      "fdb",
      "replace",
      PEERS[0]!.mac,
      "dev",
      "flannel.1",
      "dst",
      "172.16.97.99",
      "self",
      "permanent",
    );
    applyFix(n, (await expectOnly(n, "PEER_FDB_WRONG")).fix);
    ipn(n.ns, "route", "replace", p.subnet, "via", "172.16.97.12", "dev", "eth0");
    applyFix(n, (await expectOnly(n, "PEER_ROUTE_WRONG")).fix);
    expect(codes(await diagnose(opts(n)))).toEqual([]);
  });

  it("peers: the entries of a lease that is gone remain (stale)", async () => {
    const n = await lab.node();
    await n.store.releaseLease(n.peers[1]!);
    const d = await diagnose(opts(n));
    expect(codes(d)).toEqual(["PEER_FDB_STALE", "PEER_NEIGH_STALE", "PEER_ROUTE_STALE"]);
    for (const f of d.findings) expect(f.severity).toBe("warning");
    await fixAll(n, d);
  });

  it("what diagnose finds on the device's addresses and the peers, one applyPlan clears: the same comparison", async () => {
    const n = await lab.node();
    const [ip0, ip1] = n.peers.map((p) => p.subnet.split("/")[0]!);
    const junk = [
      "ip addr add 172.30.77.0/32 dev flannel.1", // a previous lease's address
      `ip neigh replace ${ip0} lladdr 0e:00:00:00:00:77 dev flannel.1 nud permanent`,
      "ip neigh replace 172.30.99.0 lladdr 0e:00:00:00:00:99 dev flannel.1 nud permanent",
      "bridge fdb append 0e:00:00:00:00:99 dev flannel.1 dst 172.16.97.99 self permanent",
      "ip route add 172.30.99.0/24 via 172.30.99.0 dev flannel.1 onlink",
      // a planned destination also at another metric
      `ip route add ${n.peers[1]!.subnet} via ${ip1} dev flannel.1 onlink metric 100`,
    ];
    for (const line of junk) {
      const [tool, ...args] = line.split(" ");
      (tool === "ip" ? ipn : bridgen)(n.ns, ...args);
    }
    const before = await diagnose(opts(n));
    expect(codes(before), formatDiagnosis(before)).toEqual([
      "DEVICE_ADDRESS_EXTRA",
      "PEER_FDB_STALE",
      "PEER_NEIGH_STALE",
      "PEER_NEIGH_WRONG",
      "PEER_ROUTE_STALE",
      "PEER_ROUTE_STALE",
    ]);
    expect((await n.handle.applyPlan(n.plan)).changes.length).toBeGreaterThan(0);
    const after = await diagnose(opts(n));
    expect(codes(after), formatDiagnosis(after)).toEqual([]);
    expect((await n.handle.applyPlan(n.plan)).changes).toEqual([]);
  });

  it("ip-masq: rules gone; a stale rule of another subnet; forward rules gone", async () => {
    const n = await lab.node();
    iptn(n.ns, "-t", "nat", "-F", "FLANNEL-POSTRTG");
    const f = await expectOnly(n, "IPMASQ_RULES_MISSING");
    // the POSTROUTING jump is still there; v0.21.0 – v0.21.2 differ only in where the jump goes
    expect(f.found).toBe(
      '1 of 7 rules present; the node has the rules of flavor "current" (flannel v0.21.0 and later)',
    );
    expect(f.expected).toContain(`-A FLANNEL-POSTRTG -s ${n.own.subnet} -d 172.30.0.0/16`);
    // with FLANNEL_IPMASQ=false nothing is expected
    expect(codes(await diagnose(opts(n, { ipMasq: false })))).toEqual([]);
    // the rules back, plus one of a previous lease
    const rules = renderIpMasqRules({ network: "172.30.0.0/16", subnet: n.own.subnet });
    const stale = `-A FLANNEL-POSTRTG ! -s 172.30.0.0/16 -d 172.30.99.0/24 -m comment --comment "flanneld masq" -j RETURN`;
    execFileSync("ip", ["netns", "exec", n.ns, "iptables-restore", "--noflush"], {
      input: `${rules.restore}*nat\n${stale}\nCOMMIT\n`,
    });
    const d = await diagnose(opts(n));
    expect(codes(d)).toEqual(["IPMASQ_RULES_STALE"]);
    expect(d.findings[0]!.fix).toBe(`iptables -t nat ${stale.replace("-A", "-D")}`);
    iptn(n.ns, "-F", "FLANNEL-FWD");
    expect(codes(await diagnose(opts(n, { ipMasq: false })))).toEqual(["FORWARD_RULES_MISSING"]);
  });

  it("host-gw: healthy, then a missing route", async () => {
    const n = await lab.node("host-gw");
    const d = await diagnose(opts(n));
    expect(d.findings, formatDiagnosis(d)).toEqual([]);
    expect(d.node.device).toBeNull();
    ipn(n.ns, "route", "del", n.peers[0]!.subnet);
    const r = await expectOnly(n, "PEER_ROUTE_MISSING");
    expect(r.expected).toBe(`${n.peers[0]!.subnet} via ${PEERS[0]!.ip} dev eth0`);
    applyFix(n, r.fix);
    expect(codes(await diagnose(opts(n)))).toEqual([]);
  });
});
