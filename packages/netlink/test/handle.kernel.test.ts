import { isFlannelError } from "@flannel-sdk/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NetlinkHandle as Handle } from "../src/handle.js";
import { type NetlinkHandle, openHandle } from "../src/index.js";
import { Connection } from "../src/transport/connection.js";
import { openNetnsChannel } from "../src/transport/netns-channel.js";
import { bridgej, inNs, ipj, type J, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

/** A namespace with an underlay veth (ul0 10.250.0.1/16, up) and a handle on it. */
async function host(): Promise<{ ns: string; h: NetlinkHandle }> {
  const ns = nss.create();
  inNs(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  inNs(ns, "addr", "add", "10.250.0.1/16", "dev", "ul0");
  inNs(ns, "link", "set", "ul0", "up");
  inNs(ns, "link", "set", "ul1", "up");
  return { ns, h: await openHandle({ netns: ns }) };
}

describe.runIf(run)("NetlinkHandle in a namespace (observed with ip -j / bridge -j)", () => {
  let ns: string;
  let h: NetlinkHandle;
  beforeAll(async () => {
    ({ ns, h } = await host());
  });
  afterAll(() => h?.close());

  it("lists links and gets them by name and index", async () => {
    const links = await h.linkList();
    expect(links.interrupted).toBe(false);
    const seen = ipj<J[]>(ns, "link", "show").map((l) => [l.ifindex, l.ifname, l.mtu, l.address]);
    expect(links.map((l) => [l.index, l.name, l.mtu, l.mac ?? "00:00:00:00:00:00"])).toEqual(seen);
    const ul0 = await h.linkByName("ul0");
    expect(ul0?.kind).toBe("veth");
    expect((await h.linkByIndex(ul0!.index))?.name).toBe("ul0");
    expect(await h.linkByName("nope0")).toBeNull();
    expect(await h.linkByIndex(99999)).toBeNull();
  });

  it("creates, reuses and recreates a vxlan device by flannel's rule", async () => {
    const spec = {
      name: "flannel.1",
      vni: 1,
      local: "10.250.0.1",
      lowerDevice: "ul0",
      mtu: 1450,
      mac: "0a:58:0a:fa:00:01",
    };
    const a = await h.ensureVxlan(spec);
    expect(a.action).toBe("created");
    const seen = ipj<J[]>(ns, "-d", "link", "show", "flannel.1")[0]!;
    expect(seen.linkinfo.info_kind).toBe("vxlan");
    expect(seen.linkinfo.info_data).toMatchObject({
      id: 1,
      local: "10.250.0.1",
      link: "ul0",
      port: 8472,
      learning: false,
    });
    expect([seen.mtu, seen.address]).toEqual([1450, "0a:58:0a:fa:00:01"]);
    expect(a.link.vxlan.port).toBe(8472);

    // MTU, MAC and learning are not compared: reused unchanged
    const b = await h.ensureVxlan({ ...spec, mtu: 1400, mac: "0a:58:0a:fa:00:99", learning: true });
    expect(b.action).toBe("reused");
    expect(b.link.index).toBe(a.link.index);
    expect(ipj<J[]>(ns, "link", "show", "flannel.1")[0]!.mtu).toBe(1450);

    const c = await h.ensureVxlan({ ...spec, port: 4789 });
    expect(c).toMatchObject({ action: "recreated", reason: "port: 4789 vs 8472" });
    expect(ipj<J[]>(ns, "-d", "link", "show", "flannel.1")[0]!.linkinfo.info_data.port).toBe(4789);
    const d = await h.ensureVxlan({ ...spec, vni: 7 });
    expect(d).toMatchObject({ action: "recreated", reason: "vni: 7 vs 1" });
    await h.ensureVxlan({ ...spec, gbp: true, port: 4789 });
    expect(ipj<J[]>(ns, "-d", "link", "show", "flannel.1")[0]!.linkinfo.info_data.gbp).toBe(true);
    await h.linkDel("flannel.1");
    expect(await h.linkByName("flannel.1")).toBeNull();
  });

  it("refuses, without looping, a vxlan device whose VNI and port another device holds", async () => {
    inNs(ns, "link", "add", "vx-other", "type", "vxlan", "id", "42", "dstport", "0");
    try {
      const e = await h.ensureVxlan({ name: "flannel.42", vni: 42 }).catch((x) => x);
      expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
      expect(e.errno).toBe("EEXIST");
      expect(e.message).toContain("another vxlan device already uses VNI 42 and port 8472");
      expect(e.syscall).toMatch(/^ip -n \S+ link add flannel\.42 type vxlan id 42 dstport 0/);
      // another port is another socket: allowed
      expect((await h.ensureVxlan({ name: "flannel.42", vni: 42, port: 4789 })).action).toBe(
        "created",
      );
    } finally {
      inNs(ns, "link", "del", "vx-other");
      await h.linkDel("flannel.42").catch(() => {});
    }
  });

  it("ensures a bridge and refuses a non-bridge of that name", async () => {
    const a = await h.ensureBridge({ name: "cni0", mtu: 1450 });
    expect(a.action).toBe("created");
    expect(ipj<J[]>(ns, "-d", "link", "show", "cni0")[0]!.linkinfo.info_kind).toBe("bridge");
    expect((await h.ensureBridge({ name: "cni0" })).action).toBe("reused");
    const e = await h.ensureBridge({ name: "ul0" }).catch((x) => x);
    expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
    expect(e.errno).toBe("EEXIST");
  });

  it("sets MTU, MAC, up and down", async () => {
    await h.ensureBridge({ name: "br9" });
    await h.linkSetMtu("br9", 1400);
    await h.linkSetHardwareAddr("br9", "02:00:00:00:00:09");
    await h.linkSetUp("br9");
    let seen = ipj<J[]>(ns, "link", "show", "br9")[0]!;
    expect([seen.mtu, seen.address, seen.flags.includes("UP")]).toEqual([
      1400,
      "02:00:00:00:00:09",
      true,
    ]);
    await h.linkSetDown("br9");
    seen = ipj<J[]>(ns, "link", "show", "br9")[0]!;
    expect(seen.flags.includes("UP")).toBe(false);
    const e = await h.linkSetMtu("br9", 10).catch((x) => x);
    expect(e.errno).toBe("EINVAL");
    expect(e.message).toContain("ip -n");
    await h.linkDel("br9");
    const gone = await h.linkSetUp("br9").catch((x) => x);
    expect(gone.errno).toBe("ENODEV");
  });

  it("adds, replaces, lists and deletes addresses; EEXIST and EADDRNOTAVAIL surface as errno", async () => {
    await h.ensureBridge({ name: "br1" });
    await h.addrAdd("br1", "10.64.1.1/24");
    const e = await h.addrAdd("br1", "10.64.1.1/24").catch((x) => x);
    expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
    expect([e.errno, e.syscall]).toEqual(["EEXIST", `ip -n ${ns} addr add 10.64.1.1/24 dev br1`]);
    await h.addrReplace("br1", "10.64.1.1/24"); // exists: replace keeps it
    await h.addrDel("br1", "10.64.1.1/24");
    // (the kernel's replace of an existing address updates lifetimes and flags, not the broadcast)
    await h.addrReplace("br1", "10.64.1.1/24", { broadcast: "10.64.1.255" });
    const seen = ipj<J[]>(ns, "-4", "addr", "show", "dev", "br1")[0]!.addr_info;
    expect(seen.map((a: J) => [a.local, a.prefixlen, a.broadcast])).toEqual([
      ["10.64.1.1", 24, "10.64.1.255"],
    ]);
    const mine = await h.addrList({ dev: "br1", family: 4 });
    expect(mine.map((a) => [a.cidr, a.broadcast, a.label])).toEqual([
      ["10.64.1.1/24", "10.64.1.255", "br1"],
    ]);
    await h.addrDel("br1", "10.64.1.1/24");
    expect((await h.addrDel("br1", "10.64.1.1/24").catch((x) => x)).errno).toBe("EADDRNOTAVAIL");
  });

  it("keeps exactly one address inside the Network on flannel.N (EnsureV4AddressOnLink)", async () => {
    await h.ensureVxlan({ name: "flannel.1", vni: 1, local: "10.250.0.1", lowerDevice: "ul0" });
    inNs(ns, "addr", "add", "10.64.7.0/32", "dev", "flannel.1");
    inNs(ns, "addr", "add", "10.64.9.5/24", "dev", "flannel.1");
    inNs(ns, "addr", "add", "192.168.200.1/32", "dev", "flannel.1"); // outside Network: stays
    const r = await h.addrEnsureExclusive("flannel.1", "10.64.8.0/32", "10.64.0.0/16");
    expect(r.added).toBe(true);
    expect(r.removed.sort()).toEqual(["10.64.7.0/32", "10.64.9.5/24"]);
    const seen = ipj<J[]>(ns, "-4", "addr", "show", "dev", "flannel.1")[0]!.addr_info.map(
      (a: J) => `${a.local}/${a.prefixlen}`,
    );
    expect(seen.sort()).toEqual(["10.64.8.0/32", "192.168.200.1/32"]);
    expect(await h.addrEnsureExclusive("flannel.1", "10.64.8.0/32", "10.64.0.0/16")).toEqual({
      added: false,
      removed: [],
    });
  });

  it("does the install guide's `ifconfig docker0 $FLANNEL_SUBNET`", async () => {
    await h.ensureBridge({ name: "docker0" });
    inNs(ns, "addr", "add", "172.17.0.1/16", "dev", "docker0");
    inNs(ns, "addr", "add", "172.18.5.5/16", "label", "docker0:1", "dev", "docker0");
    const r = await h.ifconfigAddress("docker0", "172.30.8.1/24");
    expect(r).toEqual({ changed: true, removed: ["172.17.0.1/16"] });
    const d = ipj<J[]>(ns, "-4", "addr", "show", "dev", "docker0")[0]!;
    expect(d.flags).toContain("UP");
    expect(
      d.addr_info.map((a: J) => [a.local, a.prefixlen, a.broadcast ?? null, a.label]).sort(),
    ).toEqual([
      ["172.18.5.5", 16, null, "docker0:1"],
      ["172.30.8.1", 24, "172.30.8.255", "docker0"],
    ]);
    expect(await h.ifconfigAddress("docker0", "172.30.8.1/24")).toEqual({
      changed: false,
      removed: [],
    });
  });

  it("replaces, lists and deletes routes (onlink, via, dev, table)", async () => {
    await h.ensureVxlan({ name: "flannel.1", vni: 1, local: "10.250.0.1", lowerDevice: "ul0" });
    await h.linkSetUp("flannel.1");
    await h.routeReplace({
      dst: "10.64.2.0/24",
      gateway: "10.64.2.0",
      dev: "flannel.1",
      onlink: true,
    });
    await h.routeReplace({ dst: "10.64.3.0/24", gateway: "10.250.0.3", dev: "ul0" });
    await h.routeReplace({ dst: "10.64.4.0/24", gateway: "10.250.0.4" });
    await h.routeReplace({ dst: "10.64.5.0/24", dev: "ul0", table: 1000 });
    const main = ipj<J[]>(ns, "route", "show");
    expect(main).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          dst: "10.64.2.0/24",
          gateway: "10.64.2.0",
          dev: "flannel.1",
          flags: ["onlink"],
        }),
        expect.objectContaining({ dst: "10.64.3.0/24", gateway: "10.250.0.3", dev: "ul0" }),
        expect.objectContaining({ dst: "10.64.4.0/24", gateway: "10.250.0.4", dev: "ul0" }),
      ]),
    );
    expect(ipj<J[]>(ns, "route", "show", "table", "1000")).toEqual([
      expect.objectContaining({ dst: "10.64.5.0/24", dev: "ul0", scope: "link" }),
    ]);
    const mine = await h.routeList({ family: 4, table: 254 });
    expect(mine.find((r) => r.dst === "10.64.2.0/24")).toMatchObject({
      gateway: "10.64.2.0",
      dev: "flannel.1",
      onlink: true,
      protocol: 3,
    });
    expect((await h.routeList({ family: 4, table: 1000 })).map((r) => r.dst)).toEqual([
      "10.64.5.0/24",
    ]);
    const unreachable = await h
      .routeReplace({ dst: "10.64.6.0/24", gateway: "10.64.6.0", dev: "flannel.1" })
      .catch((x) => x);
    expect(unreachable.errno).toBe("ENETUNREACH");
    await h.routeDel({ dst: "10.64.3.0/24", gateway: "10.250.0.3", dev: "ul0" });
    await h.routeDel({ dst: "10.64.5.0/24", dev: "ul0", table: 1000 });
    expect((await h.routeDel({ dst: "10.64.3.0/24" }).catch((x) => x)).errno).toBe("ESRCH");
    const got = await h.routeGet("10.250.0.2");
    expect(got).toMatchObject({ dev: "ul0", prefsrc: "10.250.0.1", gateway: null });
  });

  it("replaces, lists and deletes permanent neighbours and FDB entries (with the all-zero append form)", async () => {
    await h.ensureVxlan({ name: "flannel.1", vni: 1, local: "10.250.0.1", lowerDevice: "ul0" });
    await h.neighReplace({ dev: "flannel.1", ip: "10.64.2.0", lladdr: "0a:58:00:00:00:02" });
    await h.neighReplace({ dev: "flannel.1", ip: "10.64.2.0", lladdr: "0a:58:00:00:00:22" });
    expect(
      ipj<J[]>(ns, "neigh", "show", "dev", "flannel.1").filter((n) => n.dst === "10.64.2.0"),
    ).toEqual([expect.objectContaining({ lladdr: "0a:58:00:00:00:22", state: ["PERMANENT"] })]);
    await h.fdbReplace({ dev: "flannel.1", lladdr: "0a:58:00:00:00:22", dst: "10.250.0.2" });
    await h.fdbAppend({ dev: "flannel.1", lladdr: "00:00:00:00:00:00", dst: "10.250.0.2" });
    await h.fdbAppend({ dev: "flannel.1", lladdr: "00:00:00:00:00:00", dst: "10.250.0.3" });
    const seen = bridgej<J[]>(ns, "fdb", "show", "dev", "flannel.1").filter((f) => f.dst);
    expect(seen.map((f) => `${f.mac} ${f.dst} ${f.state}`).sort()).toEqual([
      "00:00:00:00:00:00 10.250.0.2 permanent",
      "00:00:00:00:00:00 10.250.0.3 permanent",
      "0a:58:00:00:00:22 10.250.0.2 permanent",
    ]);
    const mine = (await h.fdbList({ dev: "flannel.1" })).filter((f) => f.dst !== null);
    expect(mine.map((f) => `${f.lladdr} ${f.dst} ${f.self} ${f.permanent}`).sort()).toEqual([
      "00:00:00:00:00:00 10.250.0.2 true true",
      "00:00:00:00:00:00 10.250.0.3 true true",
      "0a:58:00:00:00:22 10.250.0.2 true true",
    ]);
    await h.fdbDel({ dev: "flannel.1", lladdr: "00:00:00:00:00:00", dst: "10.250.0.2" });
    expect(
      bridgej<J[]>(ns, "fdb", "show", "dev", "flannel.1")
        .filter((f) => f.mac === "00:00:00:00:00:00")
        .map((f) => f.dst),
    ).toEqual(["10.250.0.3"]);
    expect(
      (
        await h
          .fdbDel({ dev: "flannel.1", lladdr: "0a:58:00:00:00:77", dst: "10.250.0.2" })
          .catch((x) => x)
      ).errno,
    ).toBe("ENOENT");
    await h.neighDel({ dev: "flannel.1", ip: "10.64.2.0" });
    expect((await h.neighList({ dev: "flannel.1", family: 4 })).map((n) => n.ip)).toEqual([]);
    expect((await h.neighDel({ dev: "flannel.1", ip: "10.64.2.0" }).catch((x) => x)).errno).toBe(
      "ENOENT",
    );
  });

  it("survives thousands of concurrent calls (the npm netlink abort cannot be reached)", async () => {
    await h.ensureVxlan({ name: "flannel.1", vni: 1, local: "10.250.0.1", lowerDevice: "ul0" });
    const idx = (await h.linkByName("flannel.1"))!.index;
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 3000; i++) {
      const ip = `10.${100 + (i >> 8)}.${i & 255}.0`;
      calls.push(h.neighReplace({ dev: idx, ip, lladdr: "0a:58:00:00:00:05" }));
      if (i % 10 === 0) calls.push(h.linkByIndex(idx));
    }
    calls.push(h.neighDel({ dev: idx, ip: "10.1.1.1" }).catch((e) => e.errno)); // a failure among them
    const results = await Promise.all(calls);
    expect(results.at(-1)).toBe("ENOENT");
    expect(
      (await h.neighList({ dev: "flannel.1", family: 4 })).filter((n) => n.ip.startsWith("10.1"))
        .length,
    ).toBe(3000);
  });
});

describe.runIf(run)("errors and namespaces", () => {
  it("says CAP_NET_ADMIN is needed when the kernel answers EPERM", async () => {
    const ns = nss.create();
    const conn = new Connection(`netlink (netns ${ns})`);
    const drop = [
      "setpriv",
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
    ];
    conn.attach(await openNetnsChannel(`/run/netns/${ns}`, conn.events, undefined, drop));
    const h = new Handle(conn, ns, () => Promise.reject(new Error("unused")));
    try {
      expect((await h.linkList()).map((l) => l.name)).toEqual(["lo"]); // reading needs no privilege
      const e = await h.linkSetDown("lo").catch((x) => x);
      expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
      expect(e.errno).toBe("EPERM");
      expect(e.message).toMatch(/CAP_NET_ADMIN.*root/);
      expect(e.syscall).toBe(`ip -n ${ns} link set dev lo down`);
    } finally {
      h.close();
    }
  });

  it("fails to open a namespace that does not exist, with ENOENT", async () => {
    const e = await openHandle({ netns: `${nss.prefix}-missing` }).catch((x) => x);
    expect(isFlannelError(e, "NETLINK_ERROR")).toBe(true);
    expect(e.errno).toBe("ENOENT");
  });

  it("opens the current namespace in-process (read-only here: the host's network is not ours)", async () => {
    await using h = await openHandle();
    const lo = await h.linkByName("lo");
    expect(lo?.index).toBe(1);
    expect((await h.routeGet("127.0.0.1")).dev).toBe("lo");
  });

  it("rejects calls after close with HANDLE_CLOSED", async () => {
    const { h } = await host();
    h.close();
    await expect(h.linkList()).rejects.toMatchObject({ code: "HANDLE_CLOSED" });
  });
});
