import { isFlannelError, parseNetworkConfig } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { openHandle, registerBackend, selectInterface } from "../src/index.js";
import { inNs, ipj, type J, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

const config = (backend: string) =>
  parseNetworkConfig(`{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"${backend}"}}`);

const dual = (backend: string, v4 = true) =>
  parseNetworkConfig(
    `{${v4 ? `"Network":"172.30.0.0/16",` : `"EnableIPv4":false,`}"EnableIPv6":true,"IPv6Network":"fd42:42::/56","Backend":{"Type":"${backend}"}}`,
  );

async function node(v6 = false) {
  const ns = nss.create();
  inNs(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
  inNs(ns, "addr", "add", "10.250.0.10/24", "dev", "eth0");
  if (v6) inNs(ns, "addr", "add", "fd99::10/64", "dev", "eth0", "nodad");
  // without IPv6, not even a link-local address (flanneld would take one)
  else inNs(ns, "link", "set", "eth0", "addrgenmode", "none");
  for (const d of ["eth0", "peer0"]) inNs(ns, "link", "set", d, "up");
  const h = await openHandle({ netns: ns });
  return { ns, h, ext: await selectInterface(h, { iface: ["eth0"], enableIPv6: v6 }) };
}

describe.runIf(run)("registerBackend", () => {
  it("vxlan: creates flannel.1 as flanneld does and publishes its MAC; a restart reuses it", async () => {
    const { ns, h, ext } = await node();
    await using _ = h;
    const first = await registerBackend(h, { config: config("vxlan"), externalInterface: ext });
    expect(first.device?.action).toBe("created");
    const [link] = ipj<J[]>(ns, "-d", "link", "show", "flannel.1");
    expect(link).toMatchObject({
      mtu: 1450,
      address: first.attrs.backendData && (first.attrs.backendData as J).VtepMAC,
    });
    expect(link?.linkinfo?.info_data).toMatchObject({ id: 1, local: "10.250.0.10", link: "eth0" });
    expect(first.attrs).toEqual({
      publicIP: "10.250.0.10",
      publicIPv6: null,
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: link?.address },
      backendV6Data: null,
    });
    const again = await registerBackend(h, { config: config("vxlan"), externalInterface: ext });
    expect(again.device?.action).toBe("reused");
    expect(again.attrs).toEqual(first.attrs);
  });

  it("host-gw: no device; refuses a public IP that is not the interface's (NAT)", async () => {
    const { ns, h, ext } = await node();
    await using _ = h;
    const r = await registerBackend(h, { config: config("host-gw"), externalInterface: ext });
    expect(r).toEqual({
      attrs: {
        publicIP: "10.250.0.10",
        publicIPv6: null,
        backendType: "host-gw",
        backendData: null,
        backendV6Data: null,
      },
      device: null,
      device6: null,
    });
    expect(ipj<J[]>(ns, "link", "show").map((l) => l.ifname)).not.toContain("flannel.1");
    const nat = { ...ext, publicIP: "203.0.113.7" };
    const err = await registerBackend(h, {
      config: config("host-gw"),
      externalInterface: nat,
    }).catch((e) => e);
    expect(isFlannelError(err, "PLAN_INVALID")).toBe(true);
    expect(err.message).toMatch(/NAT/);
    const udp = await registerBackend(h, { config: config("udp"), externalInterface: ext }).catch(
      (e) => e,
    );
    expect(isFlannelError(udp, "BACKEND_UNSUPPORTED")).toBe(true);
  });

  it("dual stack vxlan: flannel.1 and flannel-v6.1 (underlay − 70), both MACs published", async () => {
    const { ns, h, ext } = await node(true);
    await using _ = h;
    const r = await registerBackend(h, { config: dual("vxlan"), externalInterface: ext });
    const [v6] = ipj<J[]>(ns, "-d", "link", "show", "flannel-v6.1");
    expect(v6).toMatchObject({ mtu: 1430 });
    expect(v6?.linkinfo?.info_data).toMatchObject({ id: 1, local6: "fd99::10", link: "eth0" });
    expect(r.attrs).toEqual({
      publicIP: "10.250.0.10",
      publicIPv6: "fd99::10",
      backendType: "vxlan",
      backendData: { VNI: 1, VtepMAC: r.device?.link.mac },
      backendV6Data: { VNI: 1, VtepMAC: v6?.address },
    });
    const only6 = await registerBackend(h, {
      config: dual("vxlan", false),
      externalInterface: ext,
    });
    expect(only6.attrs).toMatchObject({ publicIP: "0.0.0.0", backendData: null });
    expect(only6.device).toBeNull();
  });

  it("IPv6 on an underlay without IPv6, or a PublicIPv6 of the wrong family: coded, nothing made", async () => {
    const { ns, h, ext } = await node(false);
    await using _ = h;
    const e1 = await selectInterface(h, { iface: ["eth0"], enableIPv6: true }).catch((e) => e);
    expect(isFlannelError(e1, "INTERFACE_NOT_FOUND")).toBe(true);
    expect(e1.field).toBe("EnableIPv6");
    expect(e1.message).toBe("failed to find IPv6 address for interface eth0");
    const e2 = await selectInterface(h, { enableIPv6: true, publicIPv6: "10.0.0.1" }).catch(
      (e) => e,
    );
    expect(isFlannelError(e2, "INVALID_ARGUMENT")).toBe(true);
    expect(e2.field).toBe("publicIPv6");
    const e3 = await registerBackend(h, { config: dual("vxlan"), externalInterface: ext }).catch(
      (e) => e,
    );
    expect(isFlannelError(e3, "PLAN_INVALID")).toBe(true);
    expect(e3.field).toBe("publicIPv6");
    const names = ipj<J[]>(ns, "link", "show").map((l) => l.ifname);
    expect(names).not.toContain("flannel.1");
    expect(names).not.toContain("flannel-v6.1");
  });
});
