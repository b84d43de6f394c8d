import { describe, expect, it } from "vitest";
import { Backoff, sleep } from "../src/clock.js";
import { FakeClock } from "./fake-clock.js";

describe("Backoff", () => {
  it("doubles from 100 ms to 5 s with jitter in [d/2, d], and resets", () => {
    const b = new Backoff({ random: () => 0.999999 });
    expect([1, 2, 3, 4, 5, 6, 7, 8].map(() => b.next())).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
    b.reset();
    expect(b.next()).toBe(100);
    const low = new Backoff({ random: () => 0 });
    expect([low.next(), low.next()]).toEqual([50, 100]);
  });

  it("sleep waits on the given clock and rejects ABORTED on abort", async () => {
    const clock = new FakeClock();
    let done = false;
    const p = sleep(1000, { clock }).then(() => {
      done = true;
    });
    await clock.advance(999);
    expect(done).toBe(false);
    await clock.advance(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const q = sleep(1000, { clock, signal: ac.signal });
    ac.abort();
    await expect(q).rejects.toMatchObject({ code: "ABORTED" });
  });
});
