import { FlannelError } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { type LinkSupervisorEvent, openHandle, superviseLink } from "../src/index.js";
import { inNs, ipj, type J, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.runIf(run)("superviseLink", () => {
  const spec = { name: "flannel.1", vni: 1, mac: "0a:58:0a:40:01:00", mtu: 1450 };

  it("recreates a deleted device, and again after the next deletion", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    await h.ensureVxlan(spec);
    const events: LinkSupervisorEvent[] = [];
    await using _sup = await superviseLink(h, {
      name: "flannel.1",
      recreate: async (signal) => {
        await h.ensureVxlan(spec, { signal });
        await h.addrReplace("flannel.1", "172.30.8.0/32", { signal });
      },
      onEvent: (e) => events.push(e),
    });
    inNs(ns, "link", "add", "br-other", "type", "bridge"); // other devices do not matter
    inNs(ns, "link", "del", "br-other");
    for (const round of [1, 2]) {
      inNs(ns, "link", "del", "flannel.1");
      await until(() => events.filter((e) => e.type === "recreated").length === round);
      const [link] = ipj<J[]>(ns, "addr", "show", "dev", "flannel.1");
      expect(link).toMatchObject({ ifname: "flannel.1", address: spec.mac, mtu: 1450 });
      expect(link?.addr_info?.[0]).toMatchObject({ local: "172.30.8.0", prefixlen: 32 });
    }
    expect(events.map((e) => e.type)).toEqual(["deleted", "recreated", "deleted", "recreated"]);
  });

  it("retries a failing recreate with a doubling backoff, capped", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    await h.ensureVxlan(spec);
    const events: LinkSupervisorEvent[] = [];
    let calls = 0;
    const sup = await superviseLink(h, {
      name: "flannel.1",
      minBackoffMs: 20,
      maxBackoffMs: 40,
      recreate: async () => {
        calls++;
        if (calls < 4) throw new FlannelError("NETLINK_ERROR", "not yet");
        await h.ensureVxlan(spec);
      },
      onEvent: (e) => events.push(e),
    });
    inNs(ns, "link", "del", "flannel.1");
    await until(() => events.some((e) => e.type === "recreated"));
    await sup.close();
    expect(events.flatMap((e) => (e.type === "failed" ? [e.retryInMs] : []))).toEqual([20, 40, 40]);
    expect(events.at(-1)).toMatchObject({ type: "recreated", attempts: 4 });
    expect(await h.linkByName("flannel.1")).not.toBeNull();
  });

  it("stops on close and on its signal", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    await h.ensureVxlan(spec);
    const ac = new AbortController();
    let calls = 0;
    const sup = await superviseLink(h, {
      name: "flannel.1",
      signal: ac.signal,
      recreate: async () => {
        calls++;
      },
    });
    ac.abort();
    await sup.done;
    inNs(ns, "link", "del", "flannel.1");
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(0);
    await sup.close();
  });
});
