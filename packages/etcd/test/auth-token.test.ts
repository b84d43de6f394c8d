/**
 * A token etcd stops honouring must not stop a node. etcd forgets simple tokens when it restarts
 * (`invalid auth token`); with JWT tokens, any change to its users or roles makes every token
 * issued before it old (`revision of auth store is old`), on every member, until the client
 * authenticates again. etcd's clientv3 does that on both answers; so must both transports, for
 * unary calls and for a watch that reconnects.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LeaseWatchResult } from "@flannel-sdk/core";
import {
  etcdctl,
  etcdctlMissingReason,
  etcdMissingReason,
  opensslMissingReason,
  startEtcd,
  tierGate,
} from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EtcdLeaseStore } from "../src/index.js";
import { GUIDE_CONFIG, node, TRANSPORTS, uniquePrefix } from "./helpers.js";

const run = tierGate(
  "etcd",
  etcdMissingReason() ?? etcdctlMissingReason() ?? opensslMissingReason(),
);

describe.runIf(run)("a token etcd no longer honours", () => {
  let keys = "";
  beforeAll(() => {
    keys = mkdtempSync(join(tmpdir(), "etcd-jwt-"));
    const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "ignore" });
    openssl("genrsa", "-out", join(keys, "jwt.key"), "2048");
    openssl("rsa", "-in", join(keys, "jwt.key"), "-pubout", "-out", join(keys, "jwt.pub"));
  });
  afterAll(() => rmSync(keys, { recursive: true, force: true }));

  for (const tokens of ["simple", "jwt"] as const) {
    for (const transport of TRANSPORTS) {
      it(`${tokens} tokens over ${transport}: after an auth change and an etcd restart, the watch and every call go on`, async () => {
        const jwt = `jwt,pub-key=${keys}/jwt.pub,priv-key=${keys}/jwt.key,sign-method=RS256`;
        await using etcd = await startEtcd({
          extraArgs: tokens === "jwt" ? [`--auth-token=${jwt}`] : [],
        });
        const prefix = uniquePrefix("token");
        const ctl = (...argv: string[]) =>
          etcdctl(["--user=root:rootpw", ...argv], { api: 3, endpoints: [etcd.clientUrl] });
        const setup = [
          ["user", "add", "root:rootpw"],
          ["user", "grant-role", "root", "root"],
          ["role", "add", "flannel"],
          ["role", "grant-permission", "flannel", "--prefix=true", "readwrite", `${prefix}/`],
          ["user", "add", "flannel:flannelpw"],
          ["user", "grant-role", "flannel", "flannel"],
          ["auth", "enable"],
        ];
        for (const argv of setup) await etcdctl(argv, { api: 3, endpoints: [etcd.clientUrl] });
        await ctl("put", `${prefix}/config`, GUIDE_CONFIG);

        const store = new EtcdLeaseStore({
          endpoints: [etcd.clientUrl],
          prefix,
          auth: { username: "flannel", password: "flannelpw" },
          transport,
        });
        const watch = store.watchLeases()[Symbol.asyncIterator]();
        const next = async () => (await watch.next()).value as LeaseWatchResult;
        const added = (r: LeaseWatchResult) =>
          r.type === "events" ? r.events.map((e) => `${e.type} ${e.lease.subnet}`) : r.type;
        try {
          expect(await next()).toMatchObject({ type: "snapshot", leases: [] });
          const lease = await store.acquireLease(node(1));
          expect(added(await next())).toEqual([`added ${lease.subnet}`]);

          // the token is now older than the auth store (JWT) or forgotten (simple)
          await ctl("role", "add", "unrelated");
          await etcd.restart();
          // the watch reconnects first, before any call could have renewed the token
          await ctl("put", `${prefix}/subnets/172.30.99.0-24`, '{"PublicIP":"10.0.0.9"}');
          expect(added(await next())).toEqual(["added 172.30.99.0/24"]);

          expect((await store.getNetworkConfig()).network).toBe("172.30.0.0/16");
          const renewed = await store.renewLease(lease);
          expect(added(await next())).toEqual([`added ${lease.subnet}`]);
          await ctl("role", "add", "unrelated-2");
          const second = await store.acquireLease(node(2));
          expect(added(await next())).toEqual([`added ${second.subnet}`]);
          await ctl("role", "add", "unrelated-3");
          await store.releaseLease(renewed);
          expect(added(await next())).toEqual([`removed ${lease.subnet}`]);
        } finally {
          await watch.return?.();
          await store.close();
        }
      }, 30_000);
    }
  }
});
