import { describe, it } from "vitest";
import { MemoryLeaseStore } from "../src/index.js";
import {
  describeLeaseStoreContract,
  type LeaseStoreContractHarness,
} from "../src/testing/index.js";

// Cases run one after another, so the clock of the store created last is the one in use.
const start = Date.UTC(2026, 0, 1);
let clock = { now: start };
const clocks = new WeakMap<MemoryLeaseStore, { now: number }>();

const injectedClock: LeaseStoreContractHarness<MemoryLeaseStore> = {
  create({ rawConfig }) {
    const own = { now: start };
    clock = own;
    const store = new MemoryLeaseStore({
      clock: () => own.now,
      ...(rawConfig === undefined ? {} : { config: rawConfig }),
    });
    clocks.set(store, own);
    return store;
  },
  now: () => clock.now,
  advanceClock(store, ms) {
    clocks.get(store)!.now += ms;
    store.collectExpired();
  },
  concurrency: 200,
};

describeLeaseStoreContract("MemoryLeaseStore (injected clock)", { describe, it }, injectedClock);

// The default clock: time cannot be moved, so the 24 h case is left to the run above.
describeLeaseStoreContract(
  "MemoryLeaseStore (real clock)",
  { describe, it },
  {
    create: ({ rawConfig }) =>
      new MemoryLeaseStore(rawConfig === undefined ? {} : { config: rawConfig }),
    skip: {
      "ttl-24h": "needs a day of real time; covered by the injected-clock run",
      expiry: "needs a day of real time; covered by the injected-clock run",
    },
  },
);
