/**
 * Where real flanneld v0.20.2 (etcd v3) goes wrong and flanneld-ts must not: several leases in
 * one watch response, a lease written right after the agent's watch starts, SIGTERM while a watch
 * is open. One real node and one flanneld-ts node side by side on the interop fixture; the
 * leases of other nodes are written straight to etcd (its JSON gateway), as their agents would.
 */
import { RealFlannel, tierGate } from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Cluster, eventually, type Host, interopMissing, ipj, PREFIX } from "./cluster.js";

const run = tierGate("interop", interopMissing());
const CONFIG = '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
const b64 = (s: string) => Buffer.from(s).toString("base64");

/** The lease another node's agent would write for subnet 172.30.<n>.0/24 (no TTL: it stays). */
function fakeLease(n: number): { key: string; value: string } {
  const attrs = {
    PublicIP: `10.99.0.${n}`,
    PublicIPv6: null,
    BackendType: "vxlan",
    BackendData: { VNI: 1, VtepMAC: `0a:58:ac:1e:${n.toString(16).padStart(2, "0")}:00` },
  };
  return { key: `${PREFIX}/subnets/172.30.${n}.0-24`, value: JSON.stringify(attrs) };
}

/** Routes this host's flannel.1 has for `subnets` (CIDRs). */
function routed(h: Host, subnets: readonly string[]): string[] {
  const dsts = new Set(ipj(h.ns, "route", "show", "dev", "flannel.1").map((r) => r.dst as string));
  return subnets.filter((s) => dsts.has(s));
}

describe.runIf(run).sequential("where real flanneld v0.20.2 fails, flanneld-ts does not", () => {
  let c: Cluster;
  let bins: RealFlannel;
  let real: Host;
  let ts: Host;
  /** One etcd txn: every put lands at one revision, so a watcher gets them in one response. */
  const txnPut = async (leases: readonly { key: string; value: string }[]) => {
    const r = await fetch(`${c.etcd.clientUrl}/v3/kv/txn`, {
      method: "POST",
      body: JSON.stringify({
        success: leases.map((l) => ({ requestPut: { key: b64(l.key), value: b64(l.value) } })),
      }),
    });
    expect(r.status).toBe(200);
  };

  beforeAll(async () => {
    bins = new RealFlannel();
    c = await Cluster.start(2, { enableV2: false });
    [real, ts] = c.hosts as [Host, Host];
    await c.etcdctl(3, "put", `${PREFIX}/config`, CONFIG);
    real.startReal(bins.flanneld("v0.20.2"));
    await eventually("real flanneld to watch", () =>
      real.agent!.stderr.includes("watching for new subnet leases"),
    );
    await ts.start([]).ready();
  }, 120_000);
  afterAll(async () => {
    await c?.close();
    bins?.close();
  });

  it("several leases in one watch response: flanneld-ts programs all of them, v0.20.2 only the first", async () => {
    const subnets = ["172.30.201.0/24", "172.30.202.0/24", "172.30.203.0/24"];
    await c.watchesOpen(2); // both agents listen
    await txnPut([201, 202, 203].map(fakeLease));
    await eventually("flanneld-ts to route all three", () => routed(ts, subnets).length === 3);
    // routed, so real flanneld is done with that response (it closes a watch before it hands on
    // the event): the watches counted next are its new ones
    await eventually("real flanneld to route the first", () => routed(real, subnets).length > 0);
    // a later lease it routes shows it read past the batch: what it has not routed, it never will
    await c.watchesOpen(2);
    await txnPut([fakeLease(210)]);
    await eventually(
      "real flanneld to route a later lease",
      () => routed(real, ["172.30.210.0/24"]).length === 1,
    );
    expect(routed(real, subnets)).toEqual(subnets.slice(0, 1));
  });

  it("a lease written the moment the watch starts: flanneld-ts routes it", async () => {
    ts.agent!.kill("SIGKILL");
    await ts.agent!.exited;
    const agent = ts.start([]);
    // written as soon as the agent holds its lease, i.e. while its watch is being set up
    await eventually("the restarted agent's lease", () => agent.stderr.includes("Lease acquired"));
    await txnPut([fakeLease(204)]);
    await agent.ready();
    await txnPut([fakeLease(205)]);
    await eventually(
      "flanneld-ts to route both",
      () => routed(ts, ["172.30.204.0/24", "172.30.205.0/24"]).length === 2,
    );
  });

  it("SIGTERM while the watch is open: flanneld-ts exits 0, v0.20.2 panics (flannel #1714)", async () => {
    expect(await ts.agent!.stop()).toBe(0);
    expect(ts.agent!.stderr).toContain("Exiting cleanly...");
    const code = await real.agent!.stop();
    expect(real.agent!.stderr).toMatch(/panic: runtime error: index out of range/);
    expect(code).toBe(2);
  });
});
