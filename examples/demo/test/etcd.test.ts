/**
 * etcd tier: `npm run demo -- --etcd URL` on a real etcd started for the test (and with
 * `--netns` too, when the kernel tier can run). What the demo wrote is read back with etcdctl.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { etcdctl, etcdctlMissingReason, etcdMissingReason, tierGate } from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { afterAll, describe, expect, it } from "vitest";
import { netnsMissing, runEtcdDemo } from "../src/index.js";

const run = tierGate("etcd", etcdMissingReason() ?? etcdctlMissingReason());
const tmp = mkdtempSync(join(tmpdir(), "fsdk-demo-etcd-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.runIf(run)("npm run demo -- --etcd URL", () => {
  const etcd = etcdPerSuite();
  const get = (prefix: string) =>
    etcdctl(["get", "--prefix", prefix], { api: 3, endpoints: [etcd.clientUrl] });

  it("the config and the three leases land in etcd, byte for byte flannel's; --keep leaves them", async () => {
    const lines: string[] = [];
    const r = await runEtcdDemo(etcd.clientUrl, {
      seed: 8,
      out: join(tmp, "keep"),
      keep: true,
      log: (l) => lines.push(l),
    });
    expect(r.prefix).toMatch(/^\/flannel-sdk-demo\/[0-9a-f]{6}\/network$/);
    const out = (await get(r.prefix)).trim().split("\n");
    // etcdctl get prints key, value, key, value… in key order
    const kv = new Map<string, string>();
    for (let i = 0; i < out.length; i += 2) kv.set(out[i]!, out[i + 1]!);
    expect(kv.get(`${r.prefix}/config`)).toBe(
      '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
    );
    for (const n of r.nodes) {
      expect(kv.get(n.key)).toBe(n.json);
      expect(n.json).toBe(
        `{"PublicIP":"${n.host.publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${n.vtepMAC}"}}`,
      );
    }
    expect(kv.size).toBe(4);
    expect(lines.join("\n")).toContain(`etcd v3 at ${etcd.clientUrl}`);
    expect(lines.join("\n")).toContain(`ETCDCTL_API=3 etcdctl put ${r.prefix}/config`);
  });

  it("without --keep, nothing is left under the demo's prefix", async () => {
    const r = await runEtcdDemo(etcd.clientUrl, {
      seed: 9,
      out: join(tmp, "clean"),
      log: () => {},
    });
    expect(r.nodes).toHaveLength(3);
    expect((await get(r.prefix)).trim()).toBe("");
  });

  it.runIf(tierGate("kernel", netnsMissing()))(
    "with --netns: plans from etcd leases, pings across, node1 diagnosed through etcd",
    async () => {
      const r = await runEtcdDemo(etcd.clientUrl, {
        seed: 10,
        netns: true,
        out: join(tmp, "netns"),
        log: () => {},
      });
      for (const p of r.netns!.pings) expect(p.ok).toBe(true);
      expect(r.netns!.diagnosis!.healthy.findings).toEqual([]);
      expect(r.netns!.diagnosis!.healthy.checks[0]!.detail).toContain(`${r.prefix}/config`);
      expect((await get(r.prefix)).trim()).toBe("");
    },
  );
});
