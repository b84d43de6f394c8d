// Lease model costs: lease JSON next to JSON.parse / JSON.stringify (the floor any reader pays),
// the watcher's snapshot diff, and MemoryLeaseStore acquisitions.
// Run: npx turbo run build --filter=@flannel-sdk/core && node bench/src/lease.mjs
import {
  formatLeaseAttrs,
  LeaseWatcher,
  MemoryLeaseStore,
  parseLeaseAttrs,
} from "@flannel-sdk/core";
import { bench, do_not_optimize, group, run, summary } from "mitata";

const json =
  '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
const attrs = parseLeaseAttrs(json);
const plain = JSON.parse(json);

group("lease value (HEAD vxlan)", () => {
  summary(() => {
    bench("parseLeaseAttrs", () => do_not_optimize(parseLeaseAttrs(json)));
    bench("JSON.parse (no validation, floor)", () => do_not_optimize(JSON.parse(json)));
  });
  summary(() => {
    bench("formatLeaseAttrs", () => do_not_optimize(formatLeaseAttrs(attrs)));
    bench("JSON.stringify (floor)", () => do_not_optimize(JSON.stringify(plain)));
  });
});

function leases(n, mac = 0) {
  const out = [];
  for (let i = 1; i <= n; i++) {
    out.push({
      subnet: `10.${i >> 8}.${i & 255}.0/24`,
      ipv6Subnet: null,
      attrs: {
        publicIP: `192.0.${i >> 8}.${i & 255}`,
        publicIPv6: null,
        backendType: "vxlan",
        backendData: {
          VNI: 1,
          VtepMAC: `02:00:00:00:${(i >> 8).toString(16).padStart(2, "0")}:${((i + mac) & 255).toString(16).padStart(2, "0")}`,
        },
        backendV6Data: null,
      },
      expiration: new Date(0),
    });
  }
  return out;
}
const snap1000 = { type: "snapshot", leases: leases(1000), revision: 1n, skipped: [] };
const snap1000b = { type: "snapshot", leases: leases(1000, 1), revision: 2n, skipped: [] };

group("LeaseWatcher, 1000 remote leases", () => {
  bench("first snapshot (1000 added)", () => {
    const w = new LeaseWatcher({ ownLease: null });
    do_not_optimize(w.apply(snap1000));
  });
  bench("resync snapshot, nothing changed", function* () {
    const w = new LeaseWatcher({ ownLease: null });
    w.apply(snap1000);
    yield () => do_not_optimize(w.apply(snap1000));
  });
  bench("resync snapshot, every VtepMAC changed", function* () {
    yield {
      0() {
        const w = new LeaseWatcher({ ownLease: null });
        w.apply(snap1000);
        return w;
      },
      bench(w) {
        do_not_optimize(w.apply(snap1000b));
      },
    };
  });
});

const config = '{"Network":"10.0.0.0/8","Backend":{"Type":"vxlan"}}';
function node(i) {
  return {
    publicIP: `198.51.${i >> 8}.${i & 255}`,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "02:00:00:00:00:01" },
    backendV6Data: null,
  };
}

group("MemoryLeaseStore on 10.0.0.0/8", () => {
  for (const n of [100, 1000]) {
    bench(`${n} acquires one after another`, async () => {
      const store = new MemoryLeaseStore({ config });
      for (let i = 0; i < n; i++) await store.acquireLease(node(i));
      await store.close();
    });
  }
  // flannel's random strategy lets about 100 racers win per round, so beyond ~900 simultaneous
  // first acquisitions some run out of retries; hashed spreads them.
  for (const [n, strategy] of [
    [100, "random"],
    [500, "random"],
    [1000, "hashed"],
  ]) {
    bench(`${n} concurrent acquires (${strategy}, lost races retried)`, async () => {
      const store = new MemoryLeaseStore({ config, strategy });
      await Promise.all(Array.from({ length: n }, (_, i) => store.acquireLease(node(i))));
      await store.close();
    });
  }
});

await run();
