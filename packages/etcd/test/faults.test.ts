/**
 * The six faults of issue 4, each against real etcd processes.
 */

import type { LeaseKeeperEvent } from "@flannel-sdk/core";
import { type Lease, LeaseWatcher, type LeaseWatchResult } from "@flannel-sdk/core";
import {
  etcdctl,
  etcdctlMissingReason,
  etcdMissingReason,
  makeTestCertificates,
  opensslMissingReason,
  startEtcd,
  startEtcdCluster,
  startTcpProxy,
  tierGate,
} from "@flannel-sdk/testkit";
import { describe, expect, it } from "vitest";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "../src/index.js";
import {
  codeOf,
  expectNoLeakedGrants,
  GUIDE_CONFIG,
  node,
  TRANSPORTS,
  tlsEtcdctl,
  uniquePrefix,
} from "./helpers.js";

const run = tierGate(
  "etcd",
  etcdMissingReason() ?? etcdctlMissingReason() ?? opensslMissingReason(),
);

/** Applies watch results to a subnet → PublicIP map. */
function apply(state: Map<string, string>, r: LeaseWatchResult): void {
  if (r.type === "snapshot") {
    state.clear();
    for (const l of r.leases) state.set(l.subnet, l.attrs.publicIP);
    return;
  }
  for (const ev of r.events) {
    if (ev.type === "added") state.set(ev.lease.subnet, ev.lease.attrs.publicIP);
    else state.delete(ev.lease.subnet);
  }
}

async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Consumes a watch in the background into `state`, counting snapshots. */
function follow(iterable: AsyncIterable<LeaseWatchResult>) {
  const state = new Map<string, string>();
  const seen: LeaseWatchResult[] = [];
  const done = (async () => {
    for await (const r of iterable) {
      seen.push(r);
      apply(state, r);
    }
  })();
  return { state, seen, done };
}

describe.runIf(run)("faults (issue 4)", () => {
  for (const transport of TRANSPORTS) {
    describe(`v3 over ${transport}`, () => {
      it("1. 50 agents race for 15 leasable subnets: 15 win, 35 get OUT_OF_SUBNETS, no subnet twice", async () => {
        await using etcd = await startEtcd();
        const prefix = uniquePrefix("race");
        // 10.10.0.0/20 by /24: SubnetMin 10.10.1.0 … SubnetMax 10.10.15.0 = 15 subnets.
        const stores = Array.from(
          { length: 10 },
          () => new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport }),
        );
        try {
          await stores[0]!.putNetworkConfig({
            Network: "10.10.0.0/20",
            SubnetLen: 24,
            Backend: { Type: "vxlan" },
          });
          const results = await Promise.allSettled(
            Array.from({ length: 50 }, (_, i) => stores[i % 10]!.acquireLease(node(i))),
          );
          const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
          const codes = results.flatMap((r) =>
            r.status === "rejected" ? [(r.reason as { code?: string }).code] : [],
          );
          expect(won).toHaveLength(15);
          expect(new Set(won.map((l) => l.subnet)).size).toBe(15);
          expect(codes).toEqual(Array(35).fill("OUT_OF_SUBNETS"));
          const list = await stores[0]!.listLeases();
          expect(list.leases.map((l) => `${l.subnet} ${l.attrs.publicIP}`).sort()).toEqual(
            won.map((l) => `${l.subnet} ${l.attrs.publicIP}`).sort(),
          );
        } finally {
          for (const s of stores) await s.close();
        }
        // The 35 losers' grants (and any shared grant nobody used) are revoked, even by the
        // stores closed right after.
        await expectNoLeakedGrants(etcd.clientUrl);
      });

      it("2. the leader of a 3-member cluster dies during 200 concurrent acquires: no subnet twice, every client ends", async () => {
        await using cluster = await startEtcdCluster({ size: 3 });
        const prefix = uniquePrefix("leader");
        const stores = Array.from(
          { length: 8 },
          () =>
            new EtcdLeaseStore({
              endpoints: cluster.endpoints,
              prefix,
              requestTimeoutMs: 3000,
              transport,
            }),
        );
        try {
          await stores[0]!.putNetworkConfig({
            Network: "10.20.0.0/16",
            SubnetLen: 24,
            Backend: { Type: "vxlan" },
          });
          const leader = await cluster.leader();
          const acquiring = Promise.allSettled(
            Array.from({ length: 200 }, (_, i) => stores[i % 8]!.acquireLease(node(i))),
          );
          await new Promise((r) => setTimeout(r, 30));
          await leader.kill();
          const results = await acquiring;
          const won = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
          const errors = results.flatMap((r) => (r.status === "rejected" ? [r.reason] : []));
          for (const e of errors) {
            expect(e.name).toBe("FlannelError");
            expect(["ETCD_UNAVAILABLE", "MAX_RETRIES"]).toContain(e.code);
          }
          expect(new Set(won.map((l) => l.subnet)).size).toBe(won.length);
          expect(won.length).toBeGreaterThan(100);
          // what etcd holds agrees: one key per subnet, and every won lease is there with its node
          const survivor = new EtcdLeaseStore({
            endpoints: cluster.endpoints.filter((_, i) => cluster.members[i] !== leader),
            prefix,
            transport,
          });
          try {
            const list = await survivor.listLeases();
            const held = new Map(list.leases.map((l) => [l.subnet, l.attrs.publicIP]));
            expect(held.size).toBe(list.leases.length);
            for (const l of won) expect(held.get(l.subnet)).toBe(l.attrs.publicIP);
            const owners = list.leases.map((l) => l.attrs.publicIP);
            expect(new Set(owners).size).toBe(owners.length);
          } finally {
            await survivor.close();
          }
        } finally {
          for (const s of stores) await s.close();
        }
      });

      it("3. a watcher cut off while etcd is compacted past its revision ends with exactly the live set", async () => {
        await using etcd = await startEtcd();
        await using proxy = await startTcpProxy({ targetPort: etcd.ports.client });
        const prefix = uniquePrefix("compact");
        const writer = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], prefix, transport });
        const watcherStore = new EtcdLeaseStore({ endpoints: [proxy.url()], prefix, transport });
        const statuses: string[] = [];
        const ac = new AbortController();
        try {
          await writer.putNetworkConfig(GUIDE_CONFIG);
          const early: Lease[] = [];
          for (let i = 0; i < 5; i++) early.push(await writer.acquireLease(node(i)));
          const w = follow(
            watcherStore.watchLeases({ signal: ac.signal, onStatus: (s) => statuses.push(s.type) }),
          );
          await waitFor(() => w.state.size === 5);
          proxy.refuse();
          for (const l of early.slice(0, 3)) await writer.releaseLease(l);
          for (let i = 10; i < 17; i++) await writer.acquireLease(node(i));
          const { revision } = await writer.listLeases();
          await writer.connection.compact(revision);
          proxy.resume();
          const live = await writer.listLeases();
          const want = new Map(live.leases.map((l) => [l.subnet, l.attrs.publicIP]));
          await waitFor(
            () => w.state.size === want.size && [...want].every(([k, v]) => w.state.get(k) === v),
          );
          expect(statuses).toContain("compacted");
          expect(w.seen.filter((r) => r.type === "snapshot")).toHaveLength(2);
          expect([...w.state].sort()).toEqual([...want].sort());
          ac.abort();
          await w.done;
        } finally {
          await watcherStore.close();
          await writer.close();
        }
      });

      it("4a. etcd down for less than the renew margin: the lease is renewed, never lost", async () => {
        await using etcd = await startEtcd();
        const prefix = uniquePrefix("down-short");
        const store = new EtcdLeaseStore({
          endpoints: [etcd.clientUrl],
          prefix,
          leaseTTL: 8,
          requestTimeoutMs: 800,
          transport,
        });
        try {
          await store.putNetworkConfig(GUIDE_CONFIG);
          const lease = await store.acquireLease(node(1));
          const events: LeaseKeeperEvent[] = [];
          // renew 6 s before the 8 s expiration, i.e. 2 s in; retry every 300 ms
          const keeper = store.keepLease(lease, {
            renewMargin: 6000,
            retryInterval: 300,
            onEvent: (e) => events.push(e),
          });
          await new Promise((r) => setTimeout(r, 1500));
          await etcd.kill();
          await new Promise((r) => setTimeout(r, 2000));
          await etcd.restart();
          await waitFor(() => events.some((e) => e.type === "renewed"), 10_000);
          await new Promise((r) => setTimeout(r, 4000));
          expect(events.some((e) => e.type === "renewFailed")).toBe(true);
          expect(events.filter((e) => e.type === "lost")).toEqual([]);
          expect(keeper.lost).toBe(false);
          const list = await store.listLeases();
          expect(list.leases.map((l) => l.subnet)).toEqual([lease.subnet]);
          await keeper.close();
        } finally {
          await store.close();
        }
      });

      it("4b. etcd silent for longer than the renew margin: lost is reported on time", async () => {
        await using etcd = await startEtcd();
        const prefix = uniquePrefix("down-long");
        const store = new EtcdLeaseStore({
          endpoints: [etcd.clientUrl],
          prefix,
          leaseTTL: 6,
          requestTimeoutMs: 800,
          transport,
        });
        try {
          await store.putNetworkConfig(GUIDE_CONFIG);
          const lease = await store.acquireLease(node(2));
          const events: LeaseKeeperEvent[] = [];
          const keeper = store.keepLease(lease, {
            renewMargin: 3000,
            retryInterval: 300,
            onEvent: (e) => events.push(e),
          });
          await new Promise((r) => setTimeout(r, 1000));
          etcd.pause(); // SIGSTOP: connections stay open, nothing answers
          const lost = await keeper.done;
          const at = Date.now();
          etcd.resume();
          expect(lost).toMatchObject({ type: "lost", reason: "expired" });
          expect(Math.abs(at - lease.expiration!.getTime())).toBeLessThan(1000);
          expect(events.some((e) => e.type === "renewFailed")).toBe(true);
        } finally {
          etcd.resume();
          await store.close();
        }
      });

      it("5. TLS with the wrong CA fails clearly; a user whose role covers only the prefix works there and is refused elsewhere", async () => {
        const certs = await makeTestCertificates({ clients: ["flannel"] });
        try {
          // gRPC: mutual TLS and RBAC together. HTTP: etcd's gateway refuses a client certificate
          // with a CommonName while RBAC is on, so there the server only proves itself (TLS) and
          // the user name and password (a token from /v3/auth/authenticate) say who calls.
          const mutual = transport === "grpc";
          await using etcd = await startEtcd({
            tls: { caFile: certs.caFile, ...certs.server, clientCertAuth: mutual },
            // simple tokens expire after 1 s idle: the stores must authenticate again
            extraArgs: ["--auth-token-ttl=1"],
          });
          const client = certs.clients.flannel!;
          const clientCert = { cert: client.certFile, key: client.keyFile };
          const tls = mutual ? { ca: certs.caFile, ...clientCert } : { ca: certs.caFile };
          const wrong = new EtcdLeaseStore({
            endpoints: [etcd.clientUrl],
            tls: { ...tls, ca: certs.otherCa },
            requestTimeoutMs: 3000,
            transport,
          });
          const err = await wrong.getNetworkConfig().catch((e) => e);
          await wrong.close();
          expect(err.code).toBe("ETCD_TLS");
          expect(err.message).toMatch(/TLS|certificate/i);

          const prefix = "/kube-centos/network";
          const ctl = tlsEtcdctl(3, etcd.clientUrl, certs.caFile, client);
          await ctl(["user", "add", "root:rootpw"]);
          await ctl(["role", "add", "flannel"]);
          await ctl([
            "role",
            "grant-permission",
            "flannel",
            "--prefix=true",
            "readwrite",
            `${prefix}/`,
          ]);
          await ctl(["user", "add", "flannel:flannelpw"]);
          await ctl(["user", "grant-role", "flannel", "flannel"]);
          await ctl(["auth", "enable"]);
          await ctl(["put", `${prefix}/config`, GUIDE_CONFIG], "root:rootpw");

          const auth = { username: "flannel", password: "flannelpw" };
          const inside = new EtcdLeaseStore({
            endpoints: [etcd.clientUrl],
            prefix,
            tls,
            auth,
            transport,
          });
          const outside = new EtcdLeaseStore({ endpoints: [etcd.clientUrl], tls, auth, transport });
          const badPassword = new EtcdLeaseStore({
            endpoints: [etcd.clientUrl],
            prefix,
            tls,
            auth: { username: "flannel", password: "nope" },
            transport,
          });
          try {
            expect(inside.connection.transport).toBe(transport);
            const lease = await inside.acquireLease(node(1));
            expect((await inside.listLeases()).leases).toHaveLength(1);
            const renewed = await inside.renewLease(lease);
            const it = inside.watchLeases()[Symbol.asyncIterator]();
            expect(((await it.next()).value as LeaseWatchResult).type).toBe("snapshot");
            await it.return?.();
            await inside.releaseLease(renewed);
            await new Promise((r) => setTimeout(r, 2500)); // the token expires
            expect((await inside.getNetworkConfig()).network).toBe("172.30.0.0/16");
            expect(await codeOf(outside.getNetworkConfig())).toBe("ETCD_PERMISSION_DENIED");
            expect(await codeOf(outside.listLeases())).toBe("ETCD_PERMISSION_DENIED");
            expect(await codeOf(outside.putNetworkConfig(GUIDE_CONFIG))).toBe(
              "ETCD_PERMISSION_DENIED",
            );
            const denied = outside.watchLeases()[Symbol.asyncIterator]();
            expect(await codeOf(denied.next())).toBe("ETCD_PERMISSION_DENIED");
            expect(await codeOf(badPassword.getNetworkConfig())).toBe("ETCD_AUTH_FAILED");
            if (mutual) {
              // The combination the gateway refuses: the default picks gRPC for it, and forcing
              // HTTP says why it fails and what to do.
              const defaulted = new EtcdLeaseStore({
                endpoints: [etcd.clientUrl],
                prefix,
                tls,
                auth,
              });
              const forced = new EtcdLeaseStore({
                endpoints: [etcd.clientUrl],
                prefix,
                tls,
                auth,
                transport: "http",
              });
              try {
                expect(defaulted.connection.transport).toBe("grpc");
                expect((await defaulted.getNetworkConfig()).network).toBe("172.30.0.0/16");
                await expect(forced.getNetworkConfig()).rejects.toThrow(
                  /CommonName.*transport "grpc"/,
                );
              } finally {
                await defaulted.close();
                await forced.close();
              }
            }
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
  }

  it("6. garbage under subnets/ never breaks listing or watching (v3 over both wires, and v2)", async () => {
    await using etcd = await startEtcd({ enableV2: true });
    const endpoints = [etcd.clientUrl];
    const stores = [
      ...TRANSPORTS.map(
        (transport) =>
          new EtcdLeaseStore({ endpoints, prefix: uniquePrefix("garbage"), transport }),
      ),
      new EtcdV2LeaseStore({ endpoints, prefix: uniquePrefix("garbage") }),
    ];
    try {
      for (const store of stores) {
        const prefix = store.keys.prefix;
        const ac = new AbortController();
        await store.putNetworkConfig(GUIDE_CONFIG);
        const good = await store.acquireLease(node(1));
        const put = (k: string, v: string) =>
          store instanceof EtcdLeaseStore
            ? etcdctl(["put", `${prefix}/subnets/${k}`, v], { api: 3, endpoints: [etcd.clientUrl] })
            : etcdctl(["set", `${prefix}/subnets/${k}`, v], {
                api: 2,
                endpoints: [etcd.clientUrl],
              });
        await put("10.1.2.3", "{}");
        await put("172.30.60.0-24", "{not json");
        await put(
          "172.30.61.0-24",
          '{"PublicIP":"172.27.128.149","BackendType":"vxlan","BackendData":{"VtepMAC":"1e:38:19:e2:7e:3a"}}',
        );
        const list = await store.listLeases();
        expect(list.leases.map((l) => l.subnet).sort()).toEqual(
          [good.subnet, "172.30.61.0/24"].sort(),
        );
        expect(list.skipped).toHaveLength(2);

        const watcher = new LeaseWatcher({ ownLease: null });
        const w = follow(store.watchLeases({ signal: ac.signal }));
        await waitFor(() => w.state.size === 2);
        await put("zzz", "garbage");
        await put("172.30.62.0-24", "[]");
        const other = await store.acquireLease(node(2));
        await waitFor(() => w.state.size === 3);
        expect([...w.state.keys()].sort()).toEqual(
          [good.subnet, other.subnet, "172.30.61.0/24"].sort(),
        );
        const skippedKeys = w.seen.flatMap((r) => r.skipped.map((s) => s.key));
        expect(skippedKeys).toEqual(
          expect.arrayContaining([`${prefix}/subnets/zzz`, `${prefix}/subnets/172.30.62.0-24`]),
        );
        // a watch result with only garbage never removes anything through core's LeaseWatcher
        let removed = 0;
        for (const r of w.seen)
          removed += watcher.apply(r).events.filter((e) => e.type === "removed").length;
        expect(removed).toBe(0);
        ac.abort();
        await w.done;
        await store.releaseLease(good);
        await store.releaseLease(other);
      }
    } finally {
      for (const store of stores) await store.close();
    }
  });
});
