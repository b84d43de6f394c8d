/**
 * Interop tier (kernel + etcd + real flanneld): real flanneld v0.11.0 (etcd v2) and v0.20.2
 * (etcd v3, dual stack), each run with `-ip-masq` alone in a network namespace this test creates
 * (`masq-<random>-…`, a veth underlay that exists only inside it, etcd on the root namespace's
 * loopback reached through a unix socket). What it installs is, rule for rule, the SDK's flavor
 * of its release (`renderIpMasqRules`), and the captures are render's golden files
 * (`packages/render/test/golden/ip-masq/real/`). diagnose's ip-masq check then reads the node as
 * that release's: clean, and after one rule is deleted, that rule and that flavor are named.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { LeaseStore } from "@flannel-sdk/core";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "@flannel-sdk/etcd";
import { type NetlinkHandle, openHandle } from "@flannel-sdk/netlink";
import { formatIptablesRule, type IpMasqFlavor, renderIpMasqRules } from "@flannel-sdk/render";
import {
  type EtcdServer,
  etcdctl,
  etcdctlMissingReason,
  etcdMissingReason,
  type FlannelVersion,
  missingCommand,
  NetnsRelay,
  RealFlannel,
  realFlannelMissing,
  startEtcd,
  tierGate,
} from "@flannel-sdk/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { diagnose, formatDiagnosis } from "../src/index.js";
import { kernelMissing } from "./node.js";

const ROOT = join(import.meta.dirname, "../../..");
const REAL = join(ROOT, "packages/render/test/golden/ip-masq/real");

const NETWORK = "172.30.0.0/16";
const SUBNET = "172.30.8.0/24";
const NETWORK6 = "fd30::/56";
const SUBNET6 = "fd30:0:0:8::/64";
/** A rule present before flanneld starts (docker's), to see where flanneld puts its own. */
const DOCKER_RULE = ["-s", "172.17.0.0/16", "!", "-o", "docker0", "-j", "MASQUERADE"];

const CASES: readonly {
  version: FlannelVersion;
  api: 2 | 3;
  flavor: IpMasqFlavor;
  dual: boolean;
  /** The rule the test deletes, as iptables-save prints it. */
  deleted: string;
}[] = [
  {
    version: "v0.11.0",
    api: 2,
    flavor: "v0.11",
    dual: false,
    deleted: `-A POSTROUTING ! -s ${NETWORK} -d ${SUBNET} -j RETURN`,
  },
  {
    version: "v0.20.2",
    api: 3,
    flavor: "v0.20.2",
    dual: true,
    // the one rule v0.20.2 has and current flannel has not
    deleted: `-A FLANNEL-POSTRTG -s ${NETWORK} -d ${NETWORK} -m comment --comment "flanneld masq" -j RETURN`,
  },
];

function interopMissing(): string | null {
  const kernel = kernelMissing();
  if (kernel !== null) return kernel;
  return (
    missingCommand("ip6tables-save", "iptables") ??
    etcdMissingReason() ??
    etcdctlMissingReason() ??
    realFlannelMissing()
  );
}

/** `iptables-save` without its dated comments and counters: what a golden file can hold. */
function stable(save: string): string {
  return save
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]$/, "[0:0]"))
    .join("\n");
}

/** The `-A` lines of a table, in order. */
function tableRules(save: string, table: string): string[] {
  let t = "";
  const out: string[] = [];
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) t = line.slice(1);
    else if (t === table && line.startsWith("-A ")) out.push(line);
  }
  return out;
}

async function until<T>(what: string, f: () => T | null, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One namespace with real flanneld in it; `close()` removes everything, whatever got made. */
class RealNode {
  readonly id = randomBytes(3).toString("hex");
  readonly tmp = mkdtempSync(join(tmpdir(), `masq-${this.id}-`));
  readonly subnetFile = join(this.tmp, "subnet.env");
  ns: string | null = null;
  etcd: EtcdServer | null = null;
  readonly bins = new RealFlannel();
  relay: NetnsRelay | null = null;
  flanneld: ChildProcess | null = null;
  log = "";
  store: LeaseStore | null = null;
  netlink: NetlinkHandle | null = null;

  constructor(readonly c: (typeof CASES)[number]) {}

  ip(...args: string[]): string {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  inside(...argv: string[]): string {
    return this.ip("netns", "exec", this.ns!, ...argv);
  }

  async start(): Promise<void> {
    const { version, api, dual } = this.c;
    const bin = this.bins.flanneld(version);
    this.etcd = await startEtcd({ enableV2: api === 2 });

    const ns = `masq-${this.id}-${version.replace(/\./g, "")}`;
    this.ip("netns", "add", ns);
    this.ns = ns;
    this.ip("-n", ns, "link", "set", "lo", "up");
    this.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", "ul0");
    this.ip("-n", ns, "addr", "add", "10.99.0.11/24", "dev", "eth0");
    if (dual) this.ip("-n", ns, "-6", "addr", "add", "fd99::11/64", "dev", "eth0", "nodad");
    this.ip("-n", ns, "link", "set", "eth0", "up");
    this.ip("-n", ns, "link", "set", "ul0", "up");
    this.ip("-n", ns, "route", "add", "default", "via", "10.99.0.1", "dev", "eth0", "onlink");
    if (dual) {
      this.ip("-n", ns, "-6", "route", "add", "default", "via", "fd99::1", "dev", "eth0", "onlink");
    }
    this.inside("iptables", "-t", "nat", "-A", "POSTROUTING", ...DOCKER_RULE);

    // flanneld reaches the test's etcd at 127.0.0.1:2379 inside its namespace.
    this.relay = await NetnsRelay.start({
      ns,
      host: "127.0.0.1",
      port: 2379,
      targetPort: this.etcd.ports.client,
      dir: this.tmp,
    });

    const config = JSON.stringify({
      Network: NETWORK,
      SubnetLen: 24,
      ...(dual ? { EnableIPv6: true, IPv6Network: NETWORK6, IPv6SubnetLen: 64 } : {}),
      Backend: { Type: "vxlan" },
    });
    const key = "/coreos.com/network/config";
    await etcdctl(api === 2 ? ["set", key, config] : ["put", key, config], {
      api,
      endpoints: [this.etcd.clientUrl],
    });
    // A previous subnet.env: flanneld asks for its subnets again, so the rules are predictable.
    writeFileSync(
      this.subnetFile,
      `FLANNEL_NETWORK=${NETWORK}\nFLANNEL_SUBNET=172.30.8.1/24\n${
        dual ? `FLANNEL_IPV6_NETWORK=${NETWORK6}\nFLANNEL_IPV6_SUBNET=fd30:0:0:8::1/64\n` : ""
      }FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
    );
    const before = statSync(this.subnetFile).mtimeMs;

    this.flanneld = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        bin,
        "-etcd-endpoints=http://127.0.0.1:2379",
        "-iface=eth0",
        "-ip-masq",
        `-subnet-file=${this.subnetFile}`,
        // no resync while the test deletes a rule: what diagnose sees stays as the test left it
        "-iptables-resync=3600",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.flanneld.stdout!.on("data", (d) => (this.log += d));
    this.flanneld.stderr!.on("data", (d) => (this.log += d));

    const want = this.expected(4);
    const want6 = dual ? this.expected(6) : null;
    await until(
      `flanneld ${version} to install its rules and write subnet.env\n${this.log}`,
      () => {
        if (this.flanneld!.exitCode !== null) throw new Error(`flanneld exited:\n${this.log}`);
        const ok =
          statSync(this.subnetFile).mtimeMs > before &&
          this.hasAll(this.save(4), want) &&
          (want6 === null || this.hasAll(this.save(6), want6));
        return ok ? true : null;
      },
    );

    this.store =
      api === 2
        ? new EtcdV2LeaseStore({ endpoints: [this.etcd.clientUrl] })
        : new EtcdLeaseStore({ endpoints: [this.etcd.clientUrl] });
    this.netlink = await openHandle({ netns: ns });
  }

  save(family: 4 | 6): string {
    return this.inside(family === 4 ? "iptables-save" : "ip6tables-save");
  }

  /** The SDK's flavor of this release, as `iptables-save` prints it, table by table. */
  expected(family: 4 | 6) {
    const r = renderIpMasqRules({
      network: family === 4 ? NETWORK : NETWORK6,
      subnet: family === 4 ? SUBNET : SUBNET6,
      flavor: this.c.flavor,
    });
    return {
      rules: r,
      nat: r.masq.map((x) => formatIptablesRule(x)),
      filter: r.forward.map((x) => formatIptablesRule(x)),
    };
  }

  hasAll(save: string, want: { nat: string[]; filter: string[] }): boolean {
    const nat = tableRules(save, "nat");
    const filter = tableRules(save, "filter");
    return want.nat.every((l) => nat.includes(l)) && want.filter.every((l) => filter.includes(l));
  }

  async close(): Promise<void> {
    const p = this.flanneld;
    if (p !== null && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }
    await this.netlink?.[Symbol.asyncDispose]();
    await this.store?.close();
    await this.relay?.close();
    await this.etcd?.close();
    if (this.ns !== null) spawnSync("ip", ["netns", "del", this.ns]);
    this.bins.close();
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

const run = tierGate("interop", interopMissing());

describe.runIf(run)("real flanneld -ip-masq: the SDK's flavor, and diagnose on it", () => {
  let node: RealNode | null = null;
  afterEach(async () => {
    await node?.close();
    node = null;
  });

  for (const c of CASES) {
    it(`flanneld ${c.version} (etcd v${c.api}${c.dual ? ", dual stack" : ""}): flavor "${c.flavor}"`, async () => {
      node = new RealNode(c);
      await node.start();
      const saved = node.save(4);
      // rule for rule: the flavor, and docker's rule where the release leaves it
      const want = node.expected(4);
      const docker = `-A POSTROUTING ${DOCKER_RULE.join(" ")}`;
      const nat = [...want.nat];
      nat.splice(want.rules.masq[0]!.insert ? 1 : 0, 0, docker);
      expect(tableRules(saved, "nat")).toEqual(nat);
      expect(tableRules(saved, "filter")).toEqual(want.filter);
      await expect(stable(saved)).toMatchFileSnapshot(
        join(REAL, `flanneld-${c.version}.iptables-save`),
      );
      if (c.dual) {
        const saved6 = node.save(6);
        const want6 = node.expected(6);
        expect(tableRules(saved6, "nat")).toEqual(want6.nat);
        expect(tableRules(saved6, "filter")).toEqual(want6.filter);
        await expect(stable(saved6)).toMatchFileSnapshot(
          join(REAL, `flanneld-${c.version}.ip6tables-save`),
        );
      }
      expect(readFileSync(node.subnetFile, "utf8")).toContain("FLANNEL_SUBNET=172.30.8.1/24\n");

      // diagnose, as flanneld-ts diagnose runs it (its own flavor, "current", as the fallback)
      const options = {
        store: node.store!,
        netlink: node.netlink!,
        subnetFile: node.subnetFile,
        iface: "eth0",
      };
      const d = await diagnose(options);
      const masqCheck = d.checks.find((x) => x.check === "ip-masq")!;
      expect(
        d.findings.filter((f) => f.check === "ip-masq"),
        formatDiagnosis(d),
      ).toEqual([]);
      expect(masqCheck.status).toBe("ok");
      expect(masqCheck.detail).toContain(`flavor "${c.flavor}"`);
      expect(d.errors, formatDiagnosis(d)).toBe(0);

      node.inside("iptables", "-t", "nat", ...argv(c.deleted.replace(/^-A /, "-D ")));
      const broken = await diagnose(options);
      const masq = broken.findings.filter((f) => f.check === "ip-masq");
      expect(
        masq.map((f) => f.code),
        formatDiagnosis(broken),
      ).toEqual(["IPMASQ_RULES_MISSING"]);
      expect(masq[0]!.expected).toBe(`nat: ${c.deleted}`);
      expect(masq[0]!.found).toContain(`the node has the rules of flavor "${c.flavor}"`);
    });
  }
});

/** A rule as iptables-save prints it, as argv words (`"flanneld masq"` is one word). */
function argv(rule: string): string[] {
  return (rule.match(/"[^"]*"|\S+/g) ?? []).map((w) => w.replace(/^"(.*)"$/, "$1"));
}
