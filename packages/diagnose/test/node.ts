/**
 * A healthy flannel node in a namespace this test creates (`diag-<random>-N`), built with the
 * SDK the way flanneld would leave it: leases in a MemoryLeaseStore, the plan applied with
 * netlink, docker0 given FLANNEL_SUBNET, the ip-masq rules installed, subnet.env written.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Lease,
  type LeaseStore,
  MemoryLeaseStore,
  type PlanResult,
  planHostGw,
  planVxlan,
} from "@flannel-sdk/core";
import { type NetlinkHandle, openHandle } from "@flannel-sdk/netlink";
import { renderIpMasqRules, subnetEnvFromLease, writeSubnetEnv } from "@flannel-sdk/render";
import { missingCommands } from "@flannel-sdk/testkit";

/** Why the kernel tier cannot run here, or `null`. */
export function kernelMissing(): string | null {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root (network namespaces): run as root";
  return missingCommands([
    ["ip", "iproute2"],
    ["bridge", "iproute2"],
    ["nsenter", "util-linux"],
    ["iptables-restore", "iptables"],
    ["iptables-save", "iptables"],
  ]);
}

export const PREFIX = "/kube-centos/network";
export const ME = "172.16.97.11";
export const PEERS = [
  { ip: "172.16.97.12", mac: "0e:00:00:00:00:12" },
  { ip: "172.16.97.13", mac: "0e:00:00:00:00:13" },
];
export const MY_MAC = "0e:00:00:00:00:11";

const run = (ns: string, cmd: string, ...args: string[]) =>
  execFileSync(cmd, ["-n", ns, ...args], { stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });

/** `ip -n NS ARGS`. */
export const ipn = (ns: string, ...args: string[]) => run(ns, "ip", ...args);
/** `bridge -n NS ARGS`. */
export const bridgen = (ns: string, ...args: string[]) => run(ns, "bridge", ...args);
/** `iptables ARGS` inside NS. */
export const iptn = (ns: string, ...args: string[]) =>
  execFileSync("ip", ["netns", "exec", ns, "iptables", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });

export interface TestNode {
  readonly ns: string;
  readonly store: LeaseStore;
  readonly handle: NetlinkHandle;
  readonly own: Lease;
  readonly peers: readonly Lease[];
  readonly plan: PlanResult;
  readonly subnetFile: string;
  readonly dir: string;
}

/** Namespaces and temp dirs made by one test file; `cleanup()` removes them. */
export class Lab {
  readonly prefix = `diag-${randomBytes(3).toString("hex")}`;
  #n = 0;
  readonly #ns: string[] = [];
  readonly #dirs: string[] = [];
  readonly #handles: NetlinkHandle[] = [];
  readonly #stores: MemoryLeaseStore[] = [];

  /**
   * A healthy node. Leases go to `store` when given (its config is written first; the caller
   * closes it), else to a new MemoryLeaseStore.
   */
  async node(backend: "vxlan" | "host-gw" = "vxlan", given?: LeaseStore): Promise<TestNode> {
    const ns = `${this.prefix}-${this.#n++}`;
    execFileSync("ip", ["netns", "add", ns]);
    this.#ns.push(ns);
    ipn(ns, "link", "set", "lo", "up");
    // the underlay: a veth whose peer stays in the namespace (no dummy module everywhere)
    ipn(ns, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p");
    ipn(ns, "link", "set", "eth0p", "up");
    ipn(ns, "addr", "add", `${ME}/24`, "dev", "eth0");
    ipn(ns, "link", "set", "eth0", "up");

    const config = { Network: "172.30.0.0/16", SubnetLen: 24, Backend: { Type: backend } };
    let store: LeaseStore;
    if (given === undefined) {
      const mem = new MemoryLeaseStore({ config, prefix: PREFIX, strategy: "sequential" });
      this.#stores.push(mem);
      store = mem;
    } else {
      store = given;
      await store.putNetworkConfig(config);
    }
    const attrs = (ip: string, mac: string) => ({
      publicIP: ip,
      publicIPv6: null,
      backendType: backend,
      backendData: backend === "vxlan" ? { VNI: 1, VtepMAC: mac } : null,
      backendV6Data: null,
    });
    const own = await store.acquireLease(attrs(ME, MY_MAC));
    const peers: Lease[] = [];
    for (const p of PEERS) peers.push(await store.acquireLease(attrs(p.ip, p.mac)));
    const parsed = await store.getNetworkConfig();
    const leases = (await store.listLeases()).leases;
    const input = {
      config: parsed,
      ownLease: own,
      leases,
      externalInterface: { name: "eth0", mtu: 1500 },
    };
    const plan = backend === "vxlan" ? planVxlan(input) : planHostGw(input);

    const handle = await openHandle({ netns: ns });
    this.#handles.push(handle);
    await handle.applyPlan(plan);
    await handle.ensureBridge({ name: "docker0" });
    const env = subnetEnvFromLease(parsed, own, { mtu: plan.mtu, ipMasq: true });
    await handle.ifconfigAddress("docker0", env.subnet!);
    execFileSync("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], {
      input: renderIpMasqRules({ network: "172.30.0.0/16", subnet: own.subnet }).restore,
    });
    const dir = mkdtempSync(join(tmpdir(), "diag-test-"));
    this.#dirs.push(dir);
    const subnetFile = join(dir, "run/flannel/subnet.env");
    await writeSubnetEnv(subnetFile, env);
    return { ns, store, handle, own, peers, plan, subnetFile, dir };
  }

  async cleanup(): Promise<void> {
    for (const h of this.#handles.splice(0)) await h[Symbol.asyncDispose]();
    for (const s of this.#stores.splice(0)) await s.close();
    for (const ns of this.#ns.splice(0)) spawnSync("ip", ["netns", "del", ns]);
    for (const d of this.#dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}
