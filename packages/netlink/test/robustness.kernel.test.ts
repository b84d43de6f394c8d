/**
 * What a node agent running for days meets: the namespace agent process killed under a handle
 * or a subscription, an idle handle that must not keep the process alive, a device supervisor
 * that must outlive its notification socket, and dumps the kernel interrupts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { getEventListeners } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type FlannelError, isFlannelError } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { type LinkSupervisorEvent, openHandle, superviseLink } from "../src/index.js";
import { agentsIn, inNs, ip, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
const dirs: string[] = [];
afterAll(() => {
  nss.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The one agent a fresh handle on `ns` started. */
function onlyAgent(ns: string): number {
  const pids = agentsIn(ns);
  expect(pids).toHaveLength(1);
  return pids[0]!;
}

function expectDeadHandleError(e: unknown, pid: number): void {
  expect(isFlannelError(e, "NETLINK_ERROR"), String(e)).toBe(true);
  const err = e as FlannelError;
  expect(err.errno).toBe("ECONNRESET");
  expect(err.retryable).toBe(false);
  expect(err.details.closed).toBe(true);
  expect(err.message).toContain(`the netns agent (pid ${pid}) exited (signal SIGKILL)`);
}

describe.runIf(run)("a long-running process", () => {
  /** Pipes and processes keeping the event loop alive. */
  const alive = () =>
    process.getActiveResourcesInfo().filter((r) => r === "PipeWrap" || r === "ProcessWrap").length;

  it("is not kept alive by an idle handle, only by pending calls", async () => {
    // (first in this file: nothing of an earlier test is still winding down)
    const ns = nss.create();
    const before = alive();
    const h = await openHandle({ netns: ns });
    try {
      await h.linkList();
      expect(alive()).toBe(before);
      const pending = h.linkList();
      expect(alive()).toBeGreaterThan(before);
      await pending;
      expect(alive()).toBe(before);
    } finally {
      h.close();
    }
  });

  it("leaves no abort listener behind on a long-lived signal, nor a warning after many retries", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    await h.ensureVxlan({ name: "flannel.1", vni: 1 });
    const daemon = new AbortController(); // lives as long as the process
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      for (let round = 0; round < 3; round++) {
        let calls = 0;
        const sup = await superviseLink(h, {
          name: "flannel.1",
          signal: daemon.signal,
          minBackoffMs: 1,
          maxBackoffMs: 1,
          recreate: async () => {
            if (++calls < 30) throw new Error("not yet");
            await h.ensureVxlan({ name: "flannel.1", vni: 1 });
          },
        });
        const sub = await h.linkSubscribe({ signal: daemon.signal });
        await h.linkList({ signal: daemon.signal });
        inNs(ns, "link", "del", "flannel.1");
        await until(() => calls >= 30);
        sub.close();
        await sup.close();
      }
      await new Promise((r) => setImmediate(r));
      expect(getEventListeners(daemon.signal, "abort")).toHaveLength(0);
      expect(warnings.map((w) => w.message)).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});

describe.runIf(run)("the namespace agent dies", () => {
  it("under a handle, mid-call: every pending and later call rejects saying so; close and reopen work", async () => {
    const ns = nss.create();
    const h = await openHandle({ netns: ns });
    await h.ensureVxlan({ name: "flannel.1", vni: 1 });
    const index = (await h.linkByName("flannel.1"))!.index;
    const pid = onlyAgent(ns);
    expect(h.closed).toBe(false);

    const calls = Array.from({ length: 3000 }, (_, i) =>
      h
        .neighReplace({
          dev: index,
          ip: `10.${100 + (i >> 8)}.${i & 255}.0`,
          lladdr: "0a:58:00:00:00:05",
        })
        .then(
          () => "ok" as const,
          (e: unknown) => e,
        ),
    );
    await calls[0]; // the window is full now: kill it with requests in flight and queued
    process.kill(pid, "SIGKILL");
    const results = await Promise.all(calls);
    const failed = results.filter((r) => r !== "ok");
    expect(failed.length).toBeGreaterThan(2000);
    for (const e of failed) expectDeadHandleError(e, pid);
    expect(
      failed.some((e) => /replies to \d+ request\(s\) were lost/.test((e as Error).message)),
    ).toBe(true); // the ones in flight: their outcome is unknown

    expect(h.closed).toBe(true);
    const later = await h.linkList().catch((e: unknown) => e);
    expectDeadHandleError(later, pid);
    expect((later as Error).message).toContain("open a new one");
    expectDeadHandleError(await h.linkSubscribe().catch((e: unknown) => e), pid);
    h.close();
    await h[Symbol.asyncDispose](); // idempotent on a dead handle

    await using again = await openHandle({ netns: ns });
    expect((await again.linkByName("flannel.1"))?.kind).toBe("vxlan");
    expect(agentsIn(ns)).toHaveLength(1);
  });

  it("under a subscription: the iteration throws, the handle goes on", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    const mine = onlyAgent(ns);
    const sub = await h.linkSubscribe();
    const pid = agentsIn(ns).find((p) => p !== mine)!;
    process.kill(pid, "SIGKILL");
    const e = await (async () => {
      for await (const _ of sub) {
        // nothing happens in this namespace
      }
    })().catch((x: unknown) => x);
    expect(isFlannelError(e, "NETLINK_ERROR"), String(e)).toBe(true);
    expect((e as Error).message).toMatch(/^ip monitor link: the netns agent \(pid \d+\) exited/);
    sub.close();
    expect((await h.linkList()).map((l) => l.name)).toEqual(["lo"]);
  });

  it("under a supervisor: it says so, subscribes again, and recreates what went meanwhile and after", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    const spec = { name: "flannel.1", vni: 1, mac: "0a:58:0a:40:01:00", mtu: 1450 };
    await h.ensureVxlan(spec);
    const mine = onlyAgent(ns);
    const events: LinkSupervisorEvent[] = [];
    await using _sup = await superviseLink(h, {
      name: "flannel.1",
      minBackoffMs: 20,
      recreate: (signal) => h.ensureVxlan(spec, { signal }),
      onEvent: (e) => events.push(e),
    });
    const first = agentsIn(ns).find((p) => p !== mine)!;
    process.kill(first, "SIGKILL");
    inNs(ns, "link", "del", "flannel.1"); // while nobody listens
    await until(() => events.some((e) => e.type === "recreated"));
    expect(events[0]).toMatchObject({ type: "failed", retryInMs: 0 });
    expect((events[0] as { error: Error }).error.message).toMatch(/^ip monitor link: /);
    expect(events.slice(1).map((e) => e.type)).toEqual(["deleted", "recreated"]);
    expect(agentsIn(ns).filter((p) => p !== mine && p !== first)).toHaveLength(1);

    inNs(ns, "link", "del", "flannel.1"); // heard through the new subscription
    await until(() => events.filter((e) => e.type === "recreated").length === 2);
    expect((await h.linkByName("flannel.1"))?.mac).toBe(spec.mac);
  });
});

describe.runIf(run)("dumps the kernel interrupts (NLM_F_DUMP_INTR)", () => {
  it("returns what the kernel sent and says it was interrupted; a snapshot reads again", async () => {
    const ns = nss.create();
    const dir = mkdtempSync(join(tmpdir(), "nl-intr-"));
    dirs.push(dir);
    // 4,000 addresses: their dump spans dozens of datagrams, each a chance for a change between
    const many = join(dir, "many.batch");
    const lines: string[] = [];
    for (let i = 0; i < 4000; i++)
      lines.push(`addr add 10.${100 + (i >> 8)}.${i & 255}.1/32 dev lo`);
    writeFileSync(many, `${lines.join("\n")}\n`);
    ip("-n", ns, "-batch", many);
    const churn = join(dir, "churn.batch");
    writeFileSync(
      churn,
      "addr add 10.200.0.1/32 dev lo\naddr del 10.200.0.1/32 dev lo\n".repeat(200),
    );

    await using h = await openHandle({ netns: ns });
    let churner: ChildProcess | null = null;
    try {
      // another process adds and removes one address, over and over, while we read
      churner = spawn("sh", ["-c", `while :; do ip -n ${ns} -batch ${churn}; done`], {
        stdio: "ignore",
        detached: true,
      });
      let interrupted: number | null = null;
      for (let i = 0; i < 200 && interrupted === null; i++) {
        const addrs = await h.addrList({ family: 4 });
        if (addrs.interrupted) interrupted = addrs.length;
      }
      expect(interrupted, "no dump was interrupted in 200 tries").not.toBeNull();
      expect(interrupted).toBeGreaterThan(3000); // what the kernel sent is there
    } finally {
      if (churner?.pid !== undefined) process.kill(-churner.pid, "SIGKILL"); // its process group
    }
    await new Promise((r) => setTimeout(r, 50));
    const quiet = await h.snapshot({ family: 4 });
    expect(quiet.interrupted).toBe(false);
    expect(quiet.addrs.filter((a) => a.dev === "lo").length).toBeGreaterThanOrEqual(4001);
  });
});
