/**
 * etcd tier: diagnose with the store on a real etcd — the v2/v3 trap (the config written with
 * the other API, both ways), and (with the kernel tier) a node whose leases live in etcd: clean,
 * then its lease deleted with etcdctl, then a lease close to its TTL.
 */
import { EtcdLeaseStore, EtcdV2LeaseStore } from "@flannel-sdk/etcd";
import { etcdctl, etcdctlMissingReason, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, describe, expect, it } from "vitest";
import { diagnose, formatDiagnosis } from "../src/index.js";
import { kernelMissing, Lab, PREFIX } from "./node.js";

const run = tierGate("etcd", etcdMissingReason() ?? etcdctlMissingReason());
const CONFIG = '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';

describe.runIf(run)("diagnose on a real etcd", () => {
  const etcd = etcdPerSuite({ enableV2: true });
  const lab = new Lab();
  const closers: { close(): Promise<void> }[] = [];
  afterAll(async () => {
    await lab.cleanup();
    for (const c of closers) await c.close();
  });
  const v3 = (prefix: string, more: object = {}) => {
    const s = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, ...more });
    closers.push(s);
    return s;
  };
  const v2 = (prefix: string) => {
    const s = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix });
    closers.push(s);
    return s;
  };

  it("config written with etcdctl v2 (the guide's mk), read by a v3 agent: CONFIG_WRONG_API", async () => {
    const prefix = "/diag-v2/network";
    await etcdctl(["mk", `${prefix}/config`, CONFIG], { api: 2, endpoints: [etcd.clientUrl] });
    const d = await diagnose({
      store: v3(prefix),
      netlink: null,
      iptablesSave: null,
      prefix,
      storeLabel: "etcd v3",
      otherApiStore: { label: "the etcd v2 API", store: v2(prefix) },
    });
    expect(
      d.findings.map((f) => f.code),
      formatDiagnosis(d),
    ).toEqual(["CONFIG_WRONG_API"]);
    expect(d.findings[0]!.found).toBe(
      `nothing there; ${prefix}/config exists under the etcd v2 API`,
    );
  });

  it("config written with etcdctl put (v3), read by a v2 agent (flannel ≤ 0.17): CONFIG_WRONG_API", async () => {
    const prefix = "/diag-v3/network";
    await etcdctl(["put", `${prefix}/config`, CONFIG], { api: 3, endpoints: [etcd.clientUrl] });
    const d = await diagnose({
      store: v2(prefix),
      netlink: null,
      iptablesSave: null,
      prefix,
      otherApiStore: { label: "the etcd v3 API", store: v3(prefix) },
    });
    expect(d.findings.map((f) => f.code)).toEqual(["CONFIG_WRONG_API"]);
    // and without the other API to look at, plainly missing
    const plain = await diagnose({ store: v2(prefix), netlink: null, iptablesSave: null, prefix });
    expect(plain.findings.map((f) => f.code)).toEqual(["CONFIG_NOT_FOUND"]);
  });

  it.runIf(tierGate("kernel", kernelMissing()))(
    "a node with its leases in etcd: clean; its lease deleted with etcdctl; a lease near its TTL",
    async () => {
      const store = v3(PREFIX);
      const n = await lab.node("vxlan", store);
      const opts = { store, netlink: n.handle, subnetFile: n.subnetFile, prefix: PREFIX };
      const d = await diagnose(opts);
      expect(d.findings, formatDiagnosis(d)).toEqual([]);
      expect(d.checks.find((c) => c.check === "lease")!.detail).toMatch(
        /23 h 59 min left|24 h 0 min left/,
      );

      await etcdctl(["del", `${PREFIX}/subnets/${n.own.subnet.replace("/", "-")}`], {
        api: 3,
        endpoints: [etcd.clientUrl],
      });
      expect((await diagnose(opts)).findings.map((f) => f.code)).toEqual(["LEASE_NOT_FOUND"]);

      // the node takes its lease again, with a TTL inside the renew margin (renewal is failing)
      const short = v3(PREFIX, { leaseTTL: 600 });
      await short.acquireLease(n.own.attrs, { previousSubnet: n.own.subnet });
      const e = await diagnose(opts);
      expect(e.findings.map((f) => f.code)).toEqual(["LEASE_EXPIRING"]);
      expect(e.findings[0]!.found).toMatch(/^10 min left/);
    },
  );
});
