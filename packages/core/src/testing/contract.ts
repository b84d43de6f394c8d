/**
 * The LeaseStore contract suite: what every store (memory, etcd v3, etcd v2) must do, as tests
 * any framework can run. Nothing here imports a test framework.
 */

import { type FlannelError, isFlannelError } from "../errors.js";
import { IP4Net } from "../ip/ip4net.js";
import { IP6Net } from "../ip/ip6net.js";
import { makeSubnetKey } from "../keys/subnet-key.js";
import type { Lease, LeaseAttrs } from "../lease/types.js";
import type { LeaseStore, LeaseWatchResult } from "../store/types.js";

/**
 * The cases of the suite, by id (use the ids in {@link LeaseStoreContractHarness.skip}).
 *
 * @example
 * ```ts
 * // a store without watches yet: run everything else
 * const skip = Object.fromEntries(
 *   LEASE_STORE_CONTRACT_CASES.filter((id) => id.startsWith("watch-")).map((id) => [id, "no watch yet"]),
 * );
 * ```
 */
export const LEASE_STORE_CONTRACT_CASES = [
  "config-not-found",
  "config-put-get",
  "config-put-invalid",
  "config-stored-invalid",
  "acquire-basic",
  "acquire-unique",
  "acquire-reuse-public-ip",
  "acquire-replace-incompatible",
  "acquire-previous-free",
  "acquire-previous-held",
  "acquire-previous-incompatible",
  "acquire-out-of-subnets",
  "acquire-dual-stack",
  "renew",
  "renew-not-found",
  "release",
  "keep-renews",
  "keep-lost",
  "reserve-permanent",
  "reserve-reused-by-its-node",
  "reserve-conflict",
  "reserve-invalid",
  "expiry",
  "ttl-24h",
  "list-order-revision",
  "watch-snapshot-first",
  "watch-events",
  "watch-abort",
  "watch-close",
  "close",
  "abort",
  "concurrency",
] as const;

/** One case id of {@link LEASE_STORE_CONTRACT_CASES}. */
export type LeaseStoreContractCase = (typeof LEASE_STORE_CONTRACT_CASES)[number];

/** The test framework functions the suite registers its cases with (vitest, jest, mocha, node:test…). */
export interface ContractFramework {
  describe(name: string, fn: () => void): unknown;
  /** `timeout` (ms) is passed only when the harness sets `timeoutMs`. */
  it(name: string, fn: () => Promise<void>, timeout?: number): unknown;
  /**
   * Registers a case that will not run, with the reason. Default: a passing case titled
   * `<name> — not run: <reason>`, plus a `console.warn`, so the gap shows in every report.
   */
  skip?(name: string, reason: string): unknown;
}

/** How the suite gets stores and what time control they offer. */
export interface LeaseStoreContractHarness<S extends LeaseStore = LeaseStore> {
  /**
   * A fresh, empty store that shares nothing with any other (e.g. its own etcd prefix). When
   * `rawConfig` is given, that exact text must be in the store's config key (written raw, not
   * validated) before the store is returned. Each case closes its store.
   */
  create(options: { readonly rawConfig?: string }): S | Promise<S>;
  /** The clock the store computes expirations with, in ms. Default `Date.now`. */
  now?(): number;
  /**
   * Moves the store's clock forward (a store with an injected clock). Needed by `ttl-24h`;
   * also used by `expiry` when `expireLease` is absent.
   */
  advanceClock?(store: S, ms: number): void | Promise<void>;
  /**
   * Makes one lease expire now, exactly as its TTL running out would (etcd v3: revoke its etcd
   * lease). Used by `expiry`.
   */
  expireLease?(store: S, lease: Lease): void | Promise<void>;
  /** Cases not to run here, each with the reason. */
  skip?: Partial<Record<LeaseStoreContractCase, string>>;
  /** Concurrent acquirers in `concurrency`. Default 50. */
  concurrency?: number;
  /** Per-case timeout handed to `it`. */
  timeoutMs?: number;
  /** Allowed error on expirations, ms. Default 60 000. */
  toleranceMs?: number;
  /** How long to wait for a watch result, ms. Default 5 000. */
  watchWaitMs?: number;
}

const DAY_MS = 86_400_000;

/** The config most cases use: 255 leasable /24s, 10.5.1.0 … 10.5.255.0. */
const CONFIG = '{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}';

class ContractFailure extends Error {
  override name = "ContractFailure";
}

function fail(message: string): never {
  throw new ContractFailure(message);
}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

function show(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
}

function checkEqual(actual: unknown, expected: unknown, what: string): void {
  if (show(actual) !== show(expected)) {
    fail(`${what}: expected ${show(expected)}, got ${show(actual)}`);
  }
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  what: string,
): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    if (isFlannelError(e, code)) return e;
    fail(
      `${what}: expected FlannelError ${code}, got ${e instanceof Error ? `${e.name} ${(e as { code?: string }).code ?? ""}: ${e.message}` : String(e)}`,
    );
  }
  return fail(`${what}: expected FlannelError ${code}, but it resolved`);
}

/** Attributes of test node `n` (1–254): PublicIP 192.0.2.n (TEST-NET-1, data only). */
function node(n: number, macLast = n): LeaseAttrs {
  const h = (x: number): string => (x & 255).toString(16).padStart(2, "0");
  return {
    publicIP: `192.0.2.${n}`,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: `02:42:c0:00:${h(n >> 8)}:${h(macLast)}` },
    backendV6Data: null,
  };
}

function inRange(lease: Lease, network: string, len: number): boolean {
  const net = IP4Net.parse(network);
  const sub = IP4Net.parse(lease.subnet);
  return sub.prefixLen === len && net.contains(sub) && !sub.equals(net.subnetAt(0, len));
}

/**
 * Registers the LeaseStore contract suite with your test framework. Every case creates its own
 * store through the harness and closes it. Cases that need time control the harness does not
 * offer are registered as not run, with the reason (see {@link ContractFramework.skip}).
 *
 * Cases (ids in {@link LEASE_STORE_CONTRACT_CASES}): config get/put/invalid/missing
 * (`CONFIG_NOT_FOUND`, `CONFIG_INVALID`); acquire (in range, unique, reuse by PublicIP with the
 * new attrs, an incompatible lease replaced, previous subnet reused when free and not when held
 * or incompatible, `OUT_OF_SUBNETS`, dual stack); renew (`LEASE_NOT_FOUND` once released);
 * release (by lease and by key, idempotent); reservations (never expire, reused by their node and
 * still permanent, `LEASE_CONFLICT`, `CONFIG_INVALID`); expiry (gone from the list, watchers get
 * `removed`, the subnet is free again); 24 h TTL; list order and `bigint` revisions; watch
 * (snapshot first, added/removed, ends on abort and on close); close (idempotent, then
 * `STORE_CLOSED`); an aborted signal rejects every call with `ABORTED`; concurrent acquires
 * get distinct subnets.
 *
 * @example
 * ```ts
 * // vitest, against an etcd store with a fresh prefix per case:
 * import { describe, it } from "vitest";
 * import { describeLeaseStoreContract } from "@flannel-sdk/core/testing";
 *
 * describeLeaseStoreContract("EtcdLeaseStore", { describe, it }, {
 *   async create({ rawConfig }) {
 *     const prefix = `/test-${crypto.randomUUID()}`;
 *     if (rawConfig !== undefined) await client.put(`${prefix}/config`).value(rawConfig);
 *     return new EtcdLeaseStore({ endpoints, prefix });
 *   },
 *   expireLease: (store, lease) => revokeEtcdLeaseOf(store, lease),
 *   skip: { "ttl-24h": "a real etcd cannot skip 24 hours" },
 *   timeoutMs: 20_000,
 * });
 * ```
 */
export function describeLeaseStoreContract<S extends LeaseStore>(
  name: string,
  framework: ContractFramework,
  harness: LeaseStoreContractHarness<S>,
): void {
  const now = (): number => (harness.now ? harness.now() : Date.now());
  const tolerance = harness.toleranceMs ?? 60_000;
  const waitMs = harness.watchWaitMs ?? 5_000;

  const skip =
    framework.skip?.bind(framework) ??
    ((title: string, reason: string): unknown => {
      console.warn(`[lease store contract] ${name}: ${title} — not run: ${reason}`);
      return framework.it(`${title} — not run: ${reason}`, async () => {});
    });

  const withStore = async (
    rawConfig: string | undefined,
    body: (store: S) => Promise<void>,
  ): Promise<void> => {
    const store = await harness.create(rawConfig === undefined ? {} : { rawConfig });
    try {
      await body(store);
    } finally {
      await store.close();
    }
  };

  const expire = async (store: S, lease: Lease): Promise<void> => {
    if (harness.expireLease) await harness.expireLease(store, lease);
    else if (harness.advanceClock) {
      const left = lease.expiration === null ? DAY_MS : lease.expiration.getTime() - now();
      await harness.advanceClock(store, Math.max(0, left) + 1);
    }
  };

  const checkExpiration = (lease: Lease, what: string): void => {
    check(lease.expiration instanceof Date, `${what}: expiration must be a Date`);
    const delta = lease.expiration.getTime() - (now() + DAY_MS);
    check(
      Math.abs(delta) <= tolerance,
      `${what}: expiration ${lease.expiration.toISOString()} is not 24 h from now (off by ${delta} ms)`,
    );
  };

  type Case = {
    id: LeaseStoreContractCase;
    title: string;
    needs?: "clock" | "expire";
    rawConfig?: string;
    run: (store: S) => Promise<void>;
  };

  const cases: Case[] = [
    {
      id: "config-not-found",
      title: "getNetworkConfig and acquireLease reject CONFIG_NOT_FOUND on an empty store",
      async run(store) {
        await rejectsWith(store.getNetworkConfig(), "CONFIG_NOT_FOUND", "getNetworkConfig");
        await rejectsWith(store.acquireLease(node(1)), "CONFIG_NOT_FOUND", "acquireLease");
      },
    },
    {
      id: "config-put-get",
      title:
        "putNetworkConfig validates, returns the parsed config (which it also accepts); getNetworkConfig reads it back",
      async run(store) {
        const put = await store.putNetworkConfig(CONFIG);
        checkEqual(
          [put.network, put.subnetLen, put.subnetMin, put.subnetMax, put.backend.type],
          ["10.5.0.0/16", 24, "10.5.1.0", "10.5.255.0", "vxlan"],
          "parsed config",
        );
        checkEqual(await store.getNetworkConfig(), put, "config read back");
        const second = await store.putNetworkConfig({ Network: "10.6.0.0/16", SubnetLen: 20 });
        checkEqual([second.network, second.subnetLen], ["10.6.0.0/16", 20], "object config");
        checkEqual(await store.getNetworkConfig(), second, "replaced config");
        // What getNetworkConfig returned goes back in as it is (one networkConfigText for all stores).
        checkEqual(await store.putNetworkConfig(put), put, "parsed config put back");
        checkEqual(await store.getNetworkConfig(), put, "parsed config read back");
      },
    },
    {
      id: "config-put-invalid",
      title: "putNetworkConfig rejects an invalid config with CONFIG_INVALID and writes nothing",
      async run(store) {
        await rejectsWith(
          store.putNetworkConfig('{"Network":"10.0.0.0/30"}'),
          "CONFIG_INVALID",
          "put /30",
        );
        await rejectsWith(store.getNetworkConfig(), "CONFIG_NOT_FOUND", "after a refused put");
        const good = await store.putNetworkConfig(CONFIG);
        await rejectsWith(store.putNetworkConfig("{not json"), "CONFIG_INVALID", "put bad JSON");
        checkEqual(await store.getNetworkConfig(), good, "config kept");
      },
    },
    {
      id: "config-stored-invalid",
      title: "a stored config that is invalid is reported as CONFIG_INVALID",
      rawConfig: '{"Network":"10.0.0.0/30"}',
      async run(store) {
        await rejectsWith(store.getNetworkConfig(), "CONFIG_INVALID", "getNetworkConfig");
        await rejectsWith(store.acquireLease(node(1)), "CONFIG_INVALID", "acquireLease");
      },
    },
    {
      id: "acquire-basic",
      title: "acquireLease gives a /SubnetLen inside [SubnetMin, SubnetMax] with a 24 h expiration",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        check(inRange(lease, "10.5.0.0/16", 24), `subnet ${lease.subnet} out of range`);
        checkEqual(lease.ipv6Subnet, null, "ipv6Subnet");
        checkEqual(lease.attrs, node(1), "attrs");
        checkExpiration(lease, "new lease");
        const { leases } = await store.listLeases();
        checkEqual(
          leases.map((l) => [l.subnet, l.attrs.publicIP]),
          [[lease.subnet, "192.0.2.1"]],
          "listed",
        );
      },
    },
    {
      id: "acquire-unique",
      title: "acquireLease gives different nodes different subnets",
      rawConfig: CONFIG,
      async run(store) {
        const subnets = new Set<string>();
        for (let i = 1; i <= 12; i++) subnets.add((await store.acquireLease(node(i))).subnet);
        checkEqual(subnets.size, 12, "distinct subnets");
      },
    },
    {
      id: "acquire-reuse-public-ip",
      title: "acquireLease reuses the lease of the same PublicIP and writes the new attrs",
      rawConfig: CONFIG,
      async run(store) {
        const first = await store.acquireLease(node(1));
        await store.acquireLease(node(2));
        const again = await store.acquireLease(node(1, 99), { previousSubnet: "10.5.250.0/24" });
        checkEqual(again.subnet, first.subnet, "reused subnet");
        checkEqual(again.attrs, node(1, 99), "new attrs returned");
        checkExpiration(again, "reused lease");
        const mine = (await store.listLeases()).leases.filter(
          (l) => l.attrs.publicIP === "192.0.2.1",
        );
        checkEqual(
          mine.map((l) => [l.subnet, l.attrs]),
          [[first.subnet, node(1, 99)]],
          "stored lease",
        );
      },
    },
    {
      id: "acquire-replace-incompatible",
      title:
        "acquireLease deletes the node's lease that no longer fits the config and allocates anew",
      rawConfig: CONFIG,
      async run(store) {
        const old = await store.acquireLease(node(1));
        await store.putNetworkConfig('{"Network":"10.8.0.0/16","Backend":{"Type":"vxlan"}}');
        const lease = await store.acquireLease(node(1));
        check(inRange(lease, "10.8.0.0/16", 24), `subnet ${lease.subnet} not in the new network`);
        const subnets = (await store.listLeases()).leases.map((l) => l.subnet);
        checkEqual(subnets, [lease.subnet], `leases after replacing ${old.subnet}`);
      },
    },
    {
      id: "acquire-previous-free",
      title: "acquireLease reuses the previous subnet when nobody holds it (host bits masked)",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1), { previousSubnet: "10.5.77.1/24" });
        checkEqual(lease.subnet, "10.5.77.0/24", "subnet");
      },
    },
    {
      id: "acquire-previous-held",
      title: "acquireLease does not take a previous subnet another node holds (v0.18+ rule)",
      rawConfig: CONFIG,
      async run(store) {
        const a = await store.acquireLease(node(1), { previousSubnet: "10.5.77.0/24" });
        checkEqual(a.subnet, "10.5.77.0/24", "first node's subnet");
        const b = await store.acquireLease(node(2), { previousSubnet: "10.5.77.0/24" });
        check(b.subnet !== "10.5.77.0/24", "second node took a held subnet");
        const holders = (await store.listLeases()).leases
          .filter((l) => l.subnet === "10.5.77.0/24")
          .map((l) => l.attrs.publicIP);
        checkEqual(holders, ["192.0.2.1"], "holder of 10.5.77.0/24");
      },
    },
    {
      id: "acquire-previous-incompatible",
      title: "acquireLease ignores a previous subnet that does not fit the config",
      rawConfig: CONFIG,
      async run(store) {
        for (const previousSubnet of ["10.9.1.0/24", "10.5.0.0/24", "10.5.7.0/25"]) {
          const lease = await store.acquireLease(node(1), { previousSubnet });
          check(inRange(lease, "10.5.0.0/16", 24), `${previousSubnet} gave ${lease.subnet}`);
          check(lease.subnet !== "10.5.0.0/24", "the network's first subnet is never leased");
          await store.releaseLease(lease);
        }
      },
    },
    {
      id: "acquire-out-of-subnets",
      title: "acquireLease rejects OUT_OF_SUBNETS when every subnet is held",
      rawConfig: '{"Network":"10.6.0.0/28"}',
      async run(store) {
        const got = [];
        for (let i = 1; i <= 3; i++) got.push((await store.acquireLease(node(i))).subnet);
        checkEqual(got.sort(), ["10.6.0.12/30", "10.6.0.4/30", "10.6.0.8/30"], "the three subnets");
        const e = await rejectsWith(store.acquireLease(node(4)), "OUT_OF_SUBNETS", "fourth node");
        checkEqual((e as Error).message, "out of subnets", "message");
        const again = await store.acquireLease(node(2));
        check(got.includes(again.subnet), "a holder still gets its own lease");
      },
    },
    {
      id: "acquire-dual-stack",
      title: "acquireLease on a dual-stack network gives an IPv4 and an IPv6 subnet",
      rawConfig:
        '{"Network":"10.7.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:7::/48","Backend":{"Type":"vxlan"}}',
      async run(store) {
        const attrs = { ...node(1), publicIPv6: "fd00:1::1" };
        const lease = await store.acquireLease(attrs);
        check(inRange(lease, "10.7.0.0/16", 24), `subnet ${lease.subnet}`);
        check(lease.ipv6Subnet !== null, "ipv6Subnet missing");
        const v6 = IP6Net.parse(lease.ipv6Subnet);
        const net6 = IP6Net.parse("fd00:7::/48");
        check(
          v6.prefixLen === 64 && net6.contains(v6) && !v6.equals(net6.subnetAt(0, 64)),
          `ipv6Subnet ${lease.ipv6Subnet}`,
        );
        const b = await store.acquireLease({ ...node(2), publicIPv6: "fd00:1::2" });
        check(b.ipv6Subnet !== lease.ipv6Subnet, "IPv6 subnets must differ");
        const again = await store.acquireLease(attrs);
        checkEqual([again.subnet, again.ipv6Subnet], [lease.subnet, lease.ipv6Subnet], "reuse");
      },
    },
    {
      id: "renew",
      title: "renewLease keeps the subnet and sets a fresh 24 h expiration",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        if (harness.advanceClock) await harness.advanceClock(store, 3_600_000);
        const renewed = await store.renewLease(lease);
        checkEqual([renewed.subnet, renewed.ipv6Subnet], [lease.subnet, null], "subnet");
        checkExpiration(renewed, "renewed lease");
        check(renewed.expiration!.getTime() >= lease.expiration!.getTime(), "expiration went back");
        const listed = (await store.listLeases()).leases.find((l) => l.subnet === lease.subnet);
        check(listed !== undefined, "renewed lease not listed");
        checkExpiration(listed, "listed renewed lease");
      },
    },
    {
      id: "renew-not-found",
      title: "renewLease rejects LEASE_NOT_FOUND once the lease is gone or another node's",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        await store.releaseLease(lease);
        await rejectsWith(store.renewLease(lease), "LEASE_NOT_FOUND", "renew a released lease");
        checkEqual((await store.listLeases()).leases.length, 0, "renew must not recreate it");
        // Taken by another node meanwhile: still LEASE_NOT_FOUND, naming the holder (a keeper
        // reports that as lost "taken").
        const other = await store.reserveSubnet(lease.subnet, node(2));
        const taken = (await rejectsWith(
          store.renewLease(lease),
          "LEASE_NOT_FOUND",
          "renew a lease another node holds",
        )) as FlannelError;
        checkEqual(taken.details.holder, other.attrs.publicIP, "details.holder");
      },
    },
    {
      id: "keep-renews",
      title: "keepLease renews when the margin is reached, reports renewed, and stops on close",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        // A margin of a whole TTL: the renewal is due at once.
        const keeper = store.keepLease(lease, { renewMargin: DAY_MS });
        const iterator = keeper[Symbol.asyncIterator]();
        const first = await within(iterator.next(), waitMs, "no keeper event");
        check(!first.done, "the keeper ended without an event");
        checkEqual(first.value.type, "renewed", "first keeper event");
        checkEqual(first.value.lease.subnet, lease.subnet, "renewed subnet");
        checkExpiration(first.value.lease, "renewed lease");
        checkEqual(keeper.lease.subnet, lease.subnet, "keeper.lease");
        await keeper.close();
        checkEqual(await within(keeper.done, waitMs, "close did not end the keeper"), null, "done");
        checkEqual((await iterator.next()).done, true, "iteration ends after close");
        check(!keeper.lost, "a closed keeper has not lost its lease");
        const listed = (await store.listLeases()).leases.map((l) => l.subnet);
        check(listed.includes(lease.subnet), "closing a keeper must leave the lease alone");
      },
    },
    {
      id: "keep-lost",
      title: "keepLease reports lost (deleted) when the lease is released under it",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        const keeper = store.keepLease(lease);
        await store.releaseLease(makeSubnetKey(lease.subnet, lease.ipv6Subnet));
        const lost = await within(keeper.done, waitMs, "the keeper did not report the release");
        check(lost !== null && lost.type === "lost", "done must carry the lost event");
        checkEqual(lost.reason, "deleted", "lost reason");
        check(keeper.lost, "keeper.lost");
        await keeper.close();
      },
    },
    {
      id: "release",
      title: "releaseLease deletes by lease or by subnet key; releasing again is not an error",
      rawConfig: CONFIG,
      async run(store) {
        const a = await store.acquireLease(node(1));
        const b = await store.acquireLease(node(2));
        await store.releaseLease(a);
        await store.releaseLease(a);
        checkEqual(
          (await store.listLeases()).leases.map((l) => l.subnet),
          [b.subnet],
          "after release",
        );
        await store.releaseLease(makeSubnetKey(b.subnet, b.ipv6Subnet));
        checkEqual((await store.listLeases()).leases.length, 0, "after release by key");
        const c = await store.acquireLease(node(3), { previousSubnet: a.subnet });
        checkEqual(c.subnet, a.subnet, "a released subnet is free");
      },
    },
    {
      id: "reserve-permanent",
      title: "reserveSubnet writes a lease that never expires",
      rawConfig: CONFIG,
      async run(store) {
        const r = await store.reserveSubnet("10.5.200.0/24", node(1));
        checkEqual(
          [r.subnet, r.ipv6Subnet, r.expiration, r.attrs.publicIP],
          ["10.5.200.0/24", null, null, "192.0.2.1"],
          "reservation",
        );
        const listed = (await store.listLeases()).leases;
        checkEqual(
          listed.map((l) => [l.subnet, l.expiration]),
          [["10.5.200.0/24", null]],
          "listed",
        );
        const other = await store.acquireLease(node(2), { previousSubnet: "10.5.200.0/24" });
        check(other.subnet !== "10.5.200.0/24", "another node took the reserved subnet");
      },
    },
    {
      id: "reserve-reused-by-its-node",
      title: "the reserved node's acquireLease and renewLease keep the reservation permanent",
      rawConfig: CONFIG,
      async run(store) {
        await store.reserveSubnet("10.5.200.0/24", {
          ...node(1),
          backendType: "",
          backendData: null,
        });
        const lease = await store.acquireLease(node(1, 42));
        checkEqual(
          [lease.subnet, lease.expiration, lease.attrs],
          ["10.5.200.0/24", null, node(1, 42)],
          "acquired reservation",
        );
        const renewed = await store.renewLease(lease);
        checkEqual(
          [renewed.subnet, renewed.expiration],
          ["10.5.200.0/24", null],
          "renewed reservation",
        );
        const listed = (await store.listLeases()).leases;
        checkEqual(
          listed.map((l) => [l.subnet, l.expiration, l.attrs]),
          [["10.5.200.0/24", null, node(1, 42)]],
          "stored reservation",
        );
      },
    },
    {
      id: "reserve-conflict",
      title: "reserveSubnet rejects LEASE_CONFLICT when another node holds the subnet",
      rawConfig: CONFIG,
      async run(store) {
        await store.acquireLease(node(2), { previousSubnet: "10.5.201.0/24" });
        await rejectsWith(
          store.reserveSubnet("10.5.201.0/24", node(1)),
          "LEASE_CONFLICT",
          "reserve",
        );
        const holders = (await store.listLeases()).leases.map((l) => [l.subnet, l.attrs.publicIP]);
        checkEqual(holders, [["10.5.201.0/24", "192.0.2.2"]], "holder unchanged");
        const own = await store.reserveSubnet("10.5.201.0/24", node(2));
        checkEqual(own.expiration, null, "the holder itself may turn its lease into a reservation");
      },
    },
    {
      id: "reserve-invalid",
      title: "reserveSubnet rejects CONFIG_INVALID for a subnet that does not fit the config",
      rawConfig: CONFIG,
      async run(store) {
        for (const subnet of ["10.9.0.0/24", "10.5.1.0/25", "10.5.0.0/24", "not a subnet"]) {
          await rejectsWith(store.reserveSubnet(subnet, node(1)), "CONFIG_INVALID", subnet);
        }
        checkEqual((await store.listLeases()).leases.length, 0, "nothing written");
      },
    },
    {
      id: "expiry",
      title: "an expired lease leaves the list, watchers get removed, and its subnet is free",
      needs: "expire",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        const kept = await store.reserveSubnet("10.5.200.0/24", node(2));
        const abort = new AbortController();
        const watch = store.watchLeases({ signal: abort.signal })[Symbol.asyncIterator]();
        try {
          const first = await nextWithin(watch, waitMs, "snapshot");
          check(first.type === "snapshot", "first result must be a snapshot");
          await expire(store, lease);
          const removed = await findEvent(watch, waitMs, "removed", lease.subnet);
          checkEqual(removed.attrs.publicIP, "192.0.2.1", "removed lease attrs");
          const subnets = (await store.listLeases()).leases.map((l) => l.subnet);
          checkEqual(subnets, [kept.subnet], "leases after expiry");
          const b = await store.acquireLease(node(3), { previousSubnet: lease.subnet });
          checkEqual(b.subnet, lease.subnet, "expired subnet reused");
        } finally {
          abort.abort();
          await watch.return?.();
        }
      },
    },
    {
      id: "ttl-24h",
      title: "a lease lives 24 h unless renewed; a reservation never expires",
      needs: "clock",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        await store.reserveSubnet("10.5.200.0/24", node(2));
        await harness.advanceClock!(store, DAY_MS - 60_000);
        checkEqual((await store.listLeases()).leases.length, 2, "both alive before 24 h");
        const renewed = await store.renewLease(lease);
        await harness.advanceClock!(store, DAY_MS - 60_000);
        checkEqual((await store.listLeases()).leases.length, 2, "renewed lease alive");
        await harness.advanceClock!(store, 120_000);
        const left = (await store.listLeases()).leases.map((l) => [l.subnet, l.expiration]);
        checkEqual(left, [["10.5.200.0/24", null]], `after ${renewed.subnet} expired`);
        await rejectsWith(store.renewLease(renewed), "LEASE_NOT_FOUND", "renew after expiry");
      },
    },
    {
      id: "list-order-revision",
      title: "listLeases returns leases in key order with a bigint revision that grows with writes",
      rawConfig: CONFIG,
      async run(store) {
        const before = await store.listLeases();
        check(typeof before.revision === "bigint", "revision must be a bigint");
        checkEqual([before.leases.length, before.skipped.length], [0, 0], "empty store");
        for (const [i, previousSubnet] of [
          "10.5.9.0/24",
          "10.5.100.0/24",
          "10.5.10.0/24",
        ].entries()) {
          await store.acquireLease(node(i + 1), { previousSubnet });
        }
        const after = await store.listLeases();
        check(after.revision > before.revision, "revision must grow with writes");
        checkEqual(
          after.leases.map((l) => l.subnet),
          ["10.5.10.0/24", "10.5.100.0/24", "10.5.9.0/24"],
          "key (byte) order",
        );
        const again = await store.listLeases();
        checkEqual(again.revision, after.revision, "revision without writes");
      },
    },
    {
      id: "watch-snapshot-first",
      title: "watchLeases yields a snapshot of every lease first",
      rawConfig: CONFIG,
      async run(store) {
        const a = await store.acquireLease(node(1));
        const r = await store.reserveSubnet("10.5.200.0/24", node(2));
        const { revision } = await store.listLeases();
        const abort = new AbortController();
        const watch = store.watchLeases({ signal: abort.signal })[Symbol.asyncIterator]();
        try {
          const first = await nextWithin(watch, waitMs, "snapshot");
          check(first.type === "snapshot", `first result is ${first.type}`);
          check(
            typeof first.revision === "bigint" && first.revision >= revision,
            "snapshot revision",
          );
          const got = first.leases.map((l) => [l.subnet, l.attrs.publicIP, l.expiration === null]);
          const want = [
            [a.subnet, "192.0.2.1", false],
            [r.subnet, "192.0.2.2", true],
          ].sort((x, y) => (keyOfCidr(x[0] as string) < keyOfCidr(y[0] as string) ? -1 : 1));
          checkEqual(got, want, "snapshot leases");
        } finally {
          abort.abort();
          await watch.return?.();
        }
      },
    },
    {
      id: "watch-events",
      title: "watchLeases then yields added and removed events (removed with the lease's attrs)",
      rawConfig: CONFIG,
      async run(store) {
        const abort = new AbortController();
        const watch = store.watchLeases({ signal: abort.signal })[Symbol.asyncIterator]();
        try {
          const first = await nextWithin(watch, waitMs, "snapshot");
          checkEqual(
            [first.type, first.type === "snapshot" ? first.leases.length : -1],
            ["snapshot", 0],
            "empty snapshot",
          );
          const lease = await store.acquireLease(node(1));
          const added = await findEvent(watch, waitMs, "added", lease.subnet);
          checkEqual(added.attrs, node(1), "added attrs");
          await store.releaseLease(lease);
          const removed = await findEvent(watch, waitMs, "removed", lease.subnet);
          checkEqual(removed.attrs.publicIP, "192.0.2.1", "removed lease carries its attrs");
        } finally {
          abort.abort();
          await watch.return?.();
        }
      },
    },
    {
      id: "watch-abort",
      title: "aborting the signal ends the watch",
      rawConfig: CONFIG,
      async run(store) {
        const abort = new AbortController();
        const seen: string[] = [];
        const loop = (async () => {
          for await (const result of store.watchLeases({ signal: abort.signal })) {
            seen.push(result.type);
            if (seen.length === 1) queueMicrotask(() => abort.abort());
          }
        })();
        await within(loop, waitMs, "the watch did not end after abort");
        checkEqual(seen[0], "snapshot", "first result");
        const pre = new AbortController();
        pre.abort();
        const none: LeaseWatchResult[] = [];
        await within(
          (async () => {
            for await (const r of store.watchLeases({ signal: pre.signal })) none.push(r);
          })(),
          waitMs,
          "a watch with an aborted signal did not end",
        );
      },
    },
    {
      id: "watch-close",
      title: "closing the store ends its watches",
      rawConfig: CONFIG,
      async run(store) {
        let started!: () => void;
        const snapshot = new Promise<void>((resolve) => {
          started = resolve;
        });
        const loop = (async () => {
          for await (const result of store.watchLeases()) if (result.type === "snapshot") started();
        })();
        await within(snapshot, waitMs, "no snapshot");
        await store.close();
        await within(loop, waitMs, "the watch did not end when the store closed");
      },
    },
    {
      id: "close",
      title: "close is idempotent; afterwards every call rejects STORE_CLOSED",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        await store.close();
        await store.close();
        await store[Symbol.asyncDispose]();
        const calls: [string, () => Promise<unknown>][] = [
          ["getNetworkConfig", () => store.getNetworkConfig()],
          ["putNetworkConfig", () => store.putNetworkConfig(CONFIG)],
          ["acquireLease", () => store.acquireLease(node(2))],
          ["renewLease", () => store.renewLease(lease)],
          ["releaseLease", () => store.releaseLease(lease)],
          ["reserveSubnet", () => store.reserveSubnet("10.5.200.0/24", node(3))],
          ["listLeases", () => store.listLeases()],
          ["watchLeases", () => store.watchLeases()[Symbol.asyncIterator]().next()],
        ];
        for (const [what, call] of calls) await rejectsWith(call(), "STORE_CLOSED", what);
      },
    },
    {
      id: "abort",
      title: "every call rejects ABORTED when its signal has fired",
      rawConfig: CONFIG,
      async run(store) {
        const lease = await store.acquireLease(node(1));
        const ac = new AbortController();
        ac.abort();
        const signal = ac.signal;
        const calls: [string, () => Promise<unknown>][] = [
          ["getNetworkConfig", () => store.getNetworkConfig({ signal })],
          ["putNetworkConfig", () => store.putNetworkConfig(CONFIG, { signal })],
          ["acquireLease", () => store.acquireLease(node(2), { signal })],
          ["renewLease", () => store.renewLease(lease, { signal })],
          ["releaseLease", () => store.releaseLease(lease, { signal })],
          ["reserveSubnet", () => store.reserveSubnet("10.5.200.0/24", node(3), { signal })],
          ["listLeases", () => store.listLeases({ signal })],
        ];
        for (const [what, call] of calls) await rejectsWith(call(), "ABORTED", what);
        checkEqual(
          (await store.listLeases()).leases.map((l) => l.subnet),
          [lease.subnet],
          "aborted calls changed nothing",
        );
      },
    },
    {
      id: "concurrency",
      title: "concurrent acquireLease calls from many nodes get distinct subnets",
      rawConfig: CONFIG,
      async run(store) {
        const n = Math.min(harness.concurrency ?? 50, 200);
        const leases = await Promise.all(
          Array.from({ length: n }, (_, i) => store.acquireLease(node(i + 1))),
        );
        checkEqual(new Set(leases.map((l) => l.subnet)).size, n, "distinct subnets");
        const listed = (await store.listLeases()).leases;
        checkEqual(listed.length, n, "listed leases");
        checkEqual(new Set(listed.map((l) => l.attrs.publicIP)).size, n, "one lease per node");
      },
    },
  ];

  framework.describe(`LeaseStore contract: ${name}`, () => {
    for (const c of cases) {
      const title = `${c.id}: ${c.title}`;
      const reason =
        harness.skip?.[c.id] ??
        (c.needs === "clock" && !harness.advanceClock
          ? "the harness cannot advance the store's clock (advanceClock)"
          : c.needs === "expire" && !harness.expireLease && !harness.advanceClock
            ? "the harness can neither expire a lease nor advance the clock"
            : undefined);
      if (reason !== undefined) {
        skip(title, reason);
        continue;
      }
      const body = (): Promise<void> => withStore(c.rawConfig, c.run);
      if (harness.timeoutMs === undefined) framework.it(title, body);
      else framework.it(title, body, harness.timeoutMs);
    }
  });
}

function keyOfCidr(cidr: string): string {
  return makeSubnetKey(cidr, null);
}

async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ContractFailure(`${message} (waited ${ms} ms)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function nextWithin(
  it: AsyncIterator<LeaseWatchResult>,
  ms: number,
  what: string,
): Promise<LeaseWatchResult> {
  const r = await within(it.next(), ms, `no watch result (${what})`);
  if (r.done) fail(`the watch ended while waiting for ${what}`);
  return r.value;
}

/** Reads results until an event of this type for this subnet; returns its lease. */
async function findEvent(
  it: AsyncIterator<LeaseWatchResult>,
  ms: number,
  type: "added" | "removed",
  subnet: string,
): Promise<Lease> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) fail(`no ${type} event for ${subnet} within ${ms} ms`);
    const result = await nextWithin(it, left, `${type} ${subnet}`);
    if (result.type === "snapshot") continue;
    const event = result.events.find((e) => e.type === type && e.lease.subnet === subnet);
    if (event !== undefined) return event.lease;
  }
}
