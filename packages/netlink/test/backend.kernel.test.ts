import { isFlannelError, parseNetworkConfig } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { openHandle, registerBackend, selectInterface } from "../src/index.js";
import { inNs, ipj, type J, kernelTier, Netns } from "./helpers/kernel.js";

const run = kernelTier();
const nss = new Netns();
afterAll(() => nss.cleanup());

const config = (backend: string) =>
  parseNetworkConfig(`{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"${backend}"}}`);

async function node() {
  const ns = nss.create();
  inNs(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0");
  inNs(ns, "addr", "add", "10.250.0.10/24", "dev", "eth0");
  for (const d of ["eth0", "peer0"]) inNs(ns, "link", "set", d, "up");
  const h = await openHandle({ netns: ns });
  return { ns, h, ext: await selectInterface(h, { iface: ["eth0"] }) };
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
});
