import { FlannelError, type Lease } from "@flannel-sdk/core";
import { describe, expect, it } from "vitest";
import { LeaseKeeper, type LeaseKeeperEvent, type OwnLeaseState } from "../src/lease/keeper.js";
import { FakeClock, flush } from "./fake-clock.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const attrs = {
  publicIP: "10.0.0.1",
  publicIPv6: null,
  backendType: "vxlan",
  backendData: null,
  backendV6Data: null,
};

function leaseAt(clock: FakeClock, ttlMs: number | null): Lease {
  return {
    subnet: "10.5.1.0/24",
    ipv6Subnet: null,
    attrs,
    expiration: ttlMs === null ? null : new Date(clock.now() + ttlMs),
  };
}

function collect(keeper: LeaseKeeper): LeaseKeeperEvent[] {
  const events: LeaseKeeperEvent[] = [];
  void (async () => {
    for await (const e of keeper) events.push(e);
  })();
  return events;
}

describe("LeaseKeeper (renewal state machine, fake clock)", () => {
  it("renews at expiration minus the margin, again and again", async () => {
    const clock = new FakeClock();
    const calls: number[] = [];
    const keeper = new LeaseKeeper(
      leaseAt(clock, 24 * HOUR),
      {
        renew: async (l) => {
          calls.push(clock.now());
          return { ...l, expiration: new Date(clock.now() + 24 * HOUR) };
        },
      },
      { clock, renewMargin: HOUR },
    );
    const events = collect(keeper);
    const start = clock.now();
    await clock.advance(23 * HOUR - 1);
    expect(calls).toHaveLength(0);
    await clock.advance(1);
    expect(calls).toEqual([start + 23 * HOUR]);
    await clock.advance(23 * HOUR);
    expect(calls).toHaveLength(2);
    expect(events.map((e) => e.type)).toEqual(["renewed", "renewed"]);
    await keeper.close();
    expect(clock.pending).toBe(0);
    expect(await keeper.done).toBeNull();
  });

  it("retries every minute on error and keeps the lease when a retry succeeds in time", async () => {
    const clock = new FakeClock();
    let failures = 3;
    const keeper = new LeaseKeeper(
      leaseAt(clock, 24 * HOUR),
      {
        renew: async (l) => {
          if (failures-- > 0)
            throw new FlannelError("ETCD_UNAVAILABLE", "down", { retryable: true });
          return { ...l, expiration: new Date(clock.now() + 24 * HOUR) };
        },
      },
      { clock, renewMargin: 5 * MIN },
    );
    const events = collect(keeper);
    await clock.advance(24 * HOUR - 5 * MIN);
    await clock.advance(3 * MIN);
    expect(events.map((e) => e.type)).toEqual([
      "renewFailed",
      "renewFailed",
      "renewFailed",
      "renewed",
    ]);
    expect(events[0]).toMatchObject({ retryInMs: MIN });
    expect(keeper.lost).toBe(false);
    await keeper.close();
  });

  it("reports lost at the expiration when the server stays silent (a renewal that never answers)", async () => {
    const clock = new FakeClock();
    const aborted: boolean[] = [];
    const keeper = new LeaseKeeper(
      leaseAt(clock, 10 * MIN),
      {
        renew: (_l, signal) =>
          new Promise<Lease>((_, reject) => {
            signal.addEventListener("abort", () => {
              aborted.push(true);
              reject(new FlannelError("ABORTED", "aborted"));
            });
          }),
      },
      { clock, renewMargin: 2 * MIN },
    );
    const events = collect(keeper);
    await clock.advance(10 * MIN);
    expect(events.map((e) => e.type)).toEqual(["lost"]);
    expect(events[0]).toMatchObject({ reason: "expired" });
    expect(aborted).toEqual([true]);
    expect(await keeper.done).toMatchObject({ type: "lost", reason: "expired" });
    expect(clock.pending).toBe(0);
  });

  it("reports lost when renewal finds the lease gone", async () => {
    const clock = new FakeClock();
    const keeper = new LeaseKeeper(
      leaseAt(clock, 10 * MIN),
      {
        renew: async () => {
          throw new FlannelError("LEASE_NOT_FOUND", "lease 10.5.1.0-24 not found");
        },
      },
      { clock, renewMargin: 2 * MIN },
    );
    await clock.advance(8 * MIN);
    expect(await keeper.done).toMatchObject({ type: "lost", reason: "deleted" });
  });

  it("reports lost when the watch sees the own key deleted or taken", async () => {
    for (const [state, reason] of [
      [{ type: "absent" }, "deleted"],
      [{ type: "taken", lease: {} }, "taken"],
    ] as const) {
      const clock = new FakeClock();
      let push!: (s: OwnLeaseState) => void;
      const keeper = new LeaseKeeper(
        leaseAt(clock, 24 * HOUR),
        {
          renew: async (l) => l,
          async *watchOwn(lease) {
            yield { type: "present", lease } as OwnLeaseState;
            yield await new Promise<OwnLeaseState>((r) => {
              push = r;
            });
          },
        },
        { clock },
      );
      await flush();
      push(state as OwnLeaseState);
      expect(await keeper.done).toMatchObject({ type: "lost", reason });
    }
  });

  it("never renews a reservation, and close() ends iteration", async () => {
    const clock = new FakeClock();
    let renewals = 0;
    const keeper = new LeaseKeeper(
      leaseAt(clock, null),
      {
        renew: async (l) => {
          renewals++;
          return l;
        },
      },
      { clock },
    );
    const seen: LeaseKeeperEvent[] = [];
    const loop = (async () => {
      for await (const e of keeper) seen.push(e);
    })();
    await clock.advance(1000 * HOUR);
    expect(renewals).toBe(0);
    await keeper.close();
    await loop;
    expect(seen).toEqual([]);
  });

  it("renews at once when the margin exceeds the time left, and stops on the signal", async () => {
    const clock = new FakeClock();
    let renewals = 0;
    const ac = new AbortController();
    const keeper = new LeaseKeeper(
      leaseAt(clock, 10 * MIN),
      {
        renew: async (l) => {
          renewals++;
          return { ...l, expiration: new Date(clock.now() + 24 * HOUR) };
        },
      },
      { clock, renewMargin: HOUR, signal: ac.signal },
    );
    await clock.advance(0);
    expect(renewals).toBe(1);
    ac.abort();
    expect(await keeper.done).toBeNull();
    expect(clock.pending).toBe(0);
  });
});
