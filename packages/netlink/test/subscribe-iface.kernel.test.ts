import { isFlannelError } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { type LinkEvent, openHandle, selectInterface } from "../src/index.js";
import { inNs, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

describe.runIf(run)("linkSubscribe", () => {
  it("sees a deleted vxlan device, so the consumer can recreate it as flanneld does", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    const spec = { name: "flannel.1", vni: 1, mac: "0a:58:0a:40:01:00", mtu: 1450 };
    await h.ensureVxlan(spec);
    await using sub = await h.linkSubscribe();
    inNs(ns, "link", "del", "flannel.1"); // someone deletes it
    let seen: LinkEvent | undefined;
    for await (const ev of sub) {
      if (ev.type === "del" && ev.link.name === "flannel.1") {
        seen = ev;
        const again = await h.ensureVxlan(spec);
        expect(again.action).toBe("created");
        break;
      }
    }
    expect(seen).toMatchObject({ type: "del", link: { name: "flannel.1", kind: "vxlan" } });
    expect((await h.linkByName("flannel.1"))?.mac).toBe(spec.mac);
  });

  it("ends when its signal aborts", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    const ac = new AbortController();
    const sub = await h.linkSubscribe({ signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const events: LinkEvent[] = [];
    for await (const ev of sub) events.push(ev);
    expect(events).toEqual([]);
  });
});

describe.runIf(run)("selectInterface (flanneld's LookupExtIface)", () => {
  async function node() {
    const ns = nss.create();
    inNs(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
    inNs(ns, "link", "add", "eth1", "type", "veth", "peer", "name", "peer1");
    inNs(ns, "link", "set", "eth1", "mtu", "9001");
    inNs(ns, "addr", "add", "10.250.0.10/24", "dev", "eth0");
    inNs(ns, "addr", "add", "10.251.0.10/24", "dev", "eth1");
    inNs(ns, "addr", "add", "10.251.0.11/24", "dev", "eth1"); // secondary
    for (const d of ["eth0", "eth1", "peer0", "peer1"]) inNs(ns, "link", "set", d, "up");
    inNs(ns, "route", "add", "default", "via", "10.250.0.1", "dev", "eth0");
    return { ns, h: await openHandle({ netns: ns }) };
  }

  it("defaults to the default route's interface, with its MTU and first address", async () => {
    const { h } = await node();
    await using _ = h;
    expect(await selectInterface(h)).toMatchObject({
      name: "eth0",
      mtu: 1500,
      address: "10.250.0.10",
      publicIP: "10.250.0.10",
    });
  });

  it("takes --iface by name or address, then --iface-regex, then --iface-can-reach", async () => {
    const { h } = await node();
    await using _ = h;
    expect(await selectInterface(h, { iface: ["eth1"] })).toMatchObject({
      name: "eth1",
      mtu: 9001,
      address: "10.251.0.10",
    });
    expect(await selectInterface(h, { iface: ["10.251.0.11"] })).toMatchObject({
      name: "eth1",
      address: "10.251.0.11",
    });
    expect(await selectInterface(h, { iface: ["nope", "eth0"] })).toMatchObject({ name: "eth0" });
    expect(await selectInterface(h, { ifaceRegex: ["^10\\.251\\.0\\.11$"] })).toMatchObject({
      name: "eth1",
      address: "10.251.0.11",
    });
    expect(await selectInterface(h, { ifaceRegex: ["^eth1$"] })).toMatchObject({
      name: "eth1",
      address: "10.251.0.10",
    });
    expect(await selectInterface(h, { ifaceCanReach: "10.251.0.99" })).toMatchObject({
      name: "eth1",
      address: "10.251.0.10",
    });
    expect(await selectInterface(h, { iface: ["eth1"], publicIP: "203.0.113.9" })).toMatchObject({
      name: "eth1",
      publicIP: "203.0.113.9",
    });
  });

  it("uses --public-ip alone to find the interface, and fails like flanneld under NAT", async () => {
    const { h } = await node();
    await using _ = h;
    expect(await selectInterface(h, { publicIP: "10.251.0.11" })).toMatchObject({
      name: "eth1",
      address: "10.251.0.11",
    });
    const e = await selectInterface(h, { publicIP: "203.0.113.9" }).catch((x) => x);
    expect(isFlannelError(e, "INTERFACE_NOT_FOUND")).toBe(true);
    expect(e.message).toBe(
      "error looking up interface 203.0.113.9: no interface with given IP found",
    );
    const none = await selectInterface(h, { iface: ["nope"], ifaceRegex: ["^wlan"] }).catch(
      (x) => x,
    );
    expect(none.message).toBe(
      "Failed to find interface to use that matches the interfaces and/or regexes provided",
    );
  });

  it("fails without a default route", async () => {
    const ns = nss.create();
    await using h = await openHandle({ netns: ns });
    const e = await selectInterface(h).catch((x) => x);
    expect(isFlannelError(e, "INTERFACE_NOT_FOUND")).toBe(true);
    expect(e.message).toBe("unable to find default route");
  });

  it("IPv6 and dual stack in flanneld v0.20.2's order", async () => {
    const { ns, h } = await node();
    await using _ = h;
    inNs(ns, "addr", "add", "fd99::10/64", "dev", "eth0", "nodad");
    inNs(ns, "addr", "add", "fd98::10/64", "dev", "eth1", "nodad");
    const v6 = { enableIPv4: false, enableIPv6: true } as const;
    const both = { enableIPv6: true } as const;
    // default route: the v6 one alone, then both, which must leave by the same interface
    const noV6Default = await selectInterface(h, v6).catch((e) => e);
    expect(noV6Default.message).toBe("unable to find default v6 route");
    inNs(ns, "-6", "route", "add", "default", "via", "fd98::1", "dev", "eth1");
    expect(await selectInterface(h, v6)).toMatchObject({
      name: "eth1",
      address: null,
      publicIP: "0.0.0.0",
      address6: "fd98::10",
      publicIPv6: "fd98::10",
    });
    const split = await selectInterface(h, both).catch((e) => e);
    expect(split.message).toBe(
      "v6 default route interface eth1 must be the same with v4 default route interface eth0",
    );
    // -iface with an IPv6 address; the other family from the same interface
    expect(await selectInterface(h, { ...both, iface: ["fd99::10"] })).toMatchObject({
      name: "eth0",
      address: "10.250.0.10",
      address6: "fd99::10",
    });
    // -iface-regex: in dual stack one address of each family on one interface
    expect(await selectInterface(h, { ...both, ifaceRegex: ["^(10\\.251|fd98)"] })).toMatchObject({
      name: "eth1",
      address: "10.251.0.10",
      address6: "fd98::10",
    });
    // -iface-can-reach with an IPv6 address
    expect(await selectInterface(h, { ...v6, ifaceCanReach: "fd98::99" })).toMatchObject({
      name: "eth1",
      address6: "fd98::10",
    });
    // -public-ipv6 alone selects the interface holding it; -public-ipv6 overrides the identity
    expect(await selectInterface(h, { ...v6, publicIPv6: "fd99::10" })).toMatchObject({
      name: "eth0",
      publicIPv6: "fd99::10",
    });
    expect(
      await selectInterface(h, { ...both, iface: ["eth1"], publicIPv6: "2001:db8::9" }),
    ).toMatchObject({ name: "eth1", address6: "fd98::10", publicIPv6: "2001:db8::9" });
    const mismatch = await selectInterface(h, {
      ...both,
      iface: ["10.251.0.10"],
      publicIPv6: "fd99::10",
    }).catch((e) => e);
    expect(mismatch.message).toBe("v6 interface eth0 must be the same with v4 interface eth1");
  });
});
