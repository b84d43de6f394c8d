// Interleaved measurement with mitata's `measure`: the machine these numbers come from is
// shared, and load comes and goes, so every library of an operation is measured in turn, round
// after round, and each keeps its best round (the median sample of a round, then the lowest
// round). Peers thus see the same load, and a burst during one library's turn does not count.
import { do_not_optimize, measure } from "mitata";

/**
 * @param {Array<{ op: string, libs: Record<string, () => unknown> }>} ops
 * @returns {Promise<Map<string, number>>} ns/op by `"op | lib"`
 */
export async function compare(ops, { rounds = 15, cpuTimeMs = 40, log = console.error } = {}) {
  const best = new Map();
  for (let r = 1; r <= rounds; r++) {
    for (const { op, libs } of ops) {
      for (const [lib, fn] of Object.entries(libs)) {
        const stats = await measure(() => do_not_optimize(fn()), {
          min_cpu_time: cpuTimeMs * 1e6,
        });
        const key = `${op} | ${lib}`;
        const ns = stats.p50;
        if (!(best.get(key) <= ns)) best.set(key, ns);
      }
    }
    log(`round ${r}/${rounds} done`);
  }
  return best;
}
