import type { LeaseWatchResult } from "@flannel-sdk/core";
import {
  etcdctlMissingReason,
  etcdMissingReason,
  makeTestCertificates,
  opensslMissingReason,
  startEtcd,
  tierGate,
} from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";
import { EtcdV2LeaseStore } from "../src/index.js";
import { codeOf, GUIDE_CONFIG, node, tlsEtcdctl } from "./helpers.js";

const run = tierGate(
  "etcd",
  etcdMissingReason() ?? etcdctlMissingReason() ?? opensslMissingReason(),
);

describe.runIf(run)("EtcdV2LeaseStore with TLS and basic auth (the guide's setup)", () => {
  it("works over mTLS with a v2 role limited to the prefix, and is refused outside it", async () => {
    const certs = await makeTestCertificates({ clients: ["kubernetes"] });
    try {
      await using etcd = await startEtcd({
        enableV2: true,
        tls: { caFile: certs.caFile, ...certs.server },
      });
      const client = certs.clients.kubernetes!;
      const tls = { ca: certs.caFile, cert: client.certFile, key: client.keyFile };
      const prefix = "/kube-centos/network";
      const ctl = tlsEtcdctl(2, etcd.clientUrl, certs.caFile, client);
      // the guide's commands, over TLS
      await ctl(["mkdir", prefix]);
      await ctl(["mk", `${prefix}/config`, GUIDE_CONFIG]);

      const wrongCa = new EtcdV2LeaseStore({
        endpoints: [etcd.clientUrl],
        prefix,
        tls: { ...tls, ca: certs.otherCaFile },
      });
      expect(await codeOf(wrongCa.getNetworkConfig())).toBe("ETCD_TLS");
      await wrongCa.close();

      // v2 auth: root, a role with read-write on the prefix only, a user with it
      await ctl(["user", "add", "root:rootpw"]);
      await ctl(["auth", "enable"]);
      await ctl(["role", "add", "flannel"], "root:rootpw");
      await ctl(
        ["role", "grant", "--path", `${prefix}/*`, "--readwrite", "flannel"],
        "root:rootpw",
      );
      await ctl(["user", "add", "flannel:flannelpw"], "root:rootpw");
      await ctl(["user", "grant", "--roles", "flannel", "flannel"], "root:rootpw");
      await ctl(["role", "revoke", "--path", "/*", "--readwrite", "guest"], "root:rootpw").catch(
        () => undefined,
      );

      const auth = { username: "flannel", password: "flannelpw" };
      const inside = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix, tls, auth });
      const outside = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], tls, auth });
      const badPassword = new EtcdV2LeaseStore({
        endpoints: [etcd.clientUrl],
        prefix,
        tls,
        auth: { ...auth, password: "nope" },
      });
      try {
        const lease = await inside.acquireLease(node(3));
        const it = inside.watchLeases()[Symbol.asyncIterator]();
        const first = (await it.next()).value as LeaseWatchResult;
        expect(first.type === "snapshot" && first.leases.map((l) => l.subnet)).toEqual([
          lease.subnet,
        ]);
        await it.return?.();
        await inside.renewLease(lease);
        expect(await ctl(["ls", `${prefix}/subnets`], "flannel:flannelpw")).toBe(
          `${prefix}/subnets/${lease.subnet.replace("/", "-")}\n`,
        );
        // v2 answers "outside the role" and "wrong password" alike (401, code 110)
        const outsideErr = await outside.putNetworkConfig(GUIDE_CONFIG).catch((e) => e);
        expect(outsideErr.code).toBe("ETCD_AUTH_FAILED");
        expect(outsideErr.message).toMatch(/roles do not cover this key/);
        expect(await codeOf(badPassword.getNetworkConfig())).toBe("ETCD_AUTH_FAILED");
        await inside.releaseLease(lease);
      } finally {
        await inside.close();
        await outside.close();
        await badPassword.close();
      }
    } finally {
      certs.remove();
    }
  });
});
