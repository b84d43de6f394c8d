import {
  etcdctl,
  etcdMissingReason,
  makeTestCertificates,
  opensslMissingReason,
  startEtcd,
  startEtcdCluster,
  startTcpProxy,
  tierGate,
} from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";

const run = tierGate("etcd", etcdMissingReason() ?? opensslMissingReason());

describe.runIf(run)("etcd test harness", () => {
  it("starts one member, serves v2 and v3, and removes its data dir", async () => {
    const etcd = await startEtcd({ enableV2: true });
    const { existsSync } = await import("node:fs");
    try {
      await etcdctl(["put", "/a", "1"], { api: 3, endpoints: [etcd.clientUrl] });
      expect(
        await etcdctl(["get", "--print-value-only", "/a"], { api: 3, endpoints: [etcd.clientUrl] }),
      ).toBe("1\n");
      await etcdctl(["mk", "/b", "2"], { api: 2, endpoints: [etcd.clientUrl] });
      expect(await etcdctl(["get", "/b"], { api: 2, endpoints: [etcd.clientUrl] })).toBe("2\n");
      expect(await etcd.metric("etcd_server_is_leader")).toBe(1);
    } finally {
      await etcd.close();
    }
    expect(existsSync(etcd.dataDir)).toBe(false);
    expect(etcd.running).toBe(false);
  });

  it("starts a 3-member cluster with one leader", async () => {
    await using cluster = await startEtcdCluster({ size: 3 });
    const leader = await cluster.leader();
    expect(cluster.members.filter((m) => m === leader)).toHaveLength(1);
    await leader.kill();
    const next = await cluster.leader();
    expect(next).not.toBe(leader);
  });

  it("serves mTLS with openssl-made certificates, through a pausable proxy", async () => {
    const certs = await makeTestCertificates();
    try {
      await using etcd = await startEtcd({ tls: { caFile: certs.caFile, ...certs.server } });
      await using proxy = await startTcpProxy({ targetPort: etcd.ports.client });
      const tls = { caFile: certs.caFile, ...certs.clients.client! };
      await etcdctl(["put", "/x", "y"], { api: 3, endpoints: [proxy.url(true)], ...tls });
      proxy.pause();
      await expect(
        etcdctl(["get", "/x"], { api: 3, endpoints: [proxy.url(true)], ...tls, timeoutMs: 1500 }),
      ).rejects.toThrow();
      proxy.resume();
      expect(
        await etcdctl(["get", "--print-value-only", "/x"], {
          api: 3,
          endpoints: [proxy.url(true)],
          ...tls,
        }),
      ).toBe("y\n");
    } finally {
      certs.remove();
    }
  });
});
