/**
 * Pure tier: the demo on the embedded store, in-process and as the `npm run demo` process.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { IP4Net } from "@flannel-sdk/core";
import { afterAll, describe, expect, it } from "vitest";
import { runDemo } from "../src/index.js";

const execFileP = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "fsdk-demo-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const NODE_PATHS = [
  "run/flannel/subnet.env",
  "run/flannel/docker",
  "run/docker_opts.env",
  "run/flannel/ip-masq.rules",
  "usr/lib/systemd/system/flanneld.service",
  "usr/lib/systemd/system/docker.service",
  "usr/libexec/flannel/mk-docker-opts.sh",
  "etc/sysconfig/flanneld",
];

async function demo(seed: number, out: string) {
  const lines: string[] = [];
  const result = await runDemo({ seed, out, log: (l) => lines.push(l) });
  return { result, lines };
}

describe("npm run demo (embedded store)", () => {
  it("three nodes get distinct /24s of 172.30.0.0/16, never the first one", async () => {
    const { result } = await demo(7, join(tmp, "a"));
    expect(result.nodes.map((n) => n.host.name)).toEqual(["node1", "node2", "node3"]);
    const subnets = result.nodes.map((n) => n.lease.subnet);
    expect(new Set(subnets).size).toBe(3);
    const network = IP4Net.parse("172.30.0.0/16");
    for (const s of subnets) {
      const net = IP4Net.parse(s);
      expect(net.prefixLen).toBe(24);
      expect(network.contains(net)).toBe(true);
      expect(s).not.toBe("172.30.0.0/24");
    }
  });

  it("prints a table of node, public IP, subnet and VtepMAC, and the lease JSON", async () => {
    const { result, lines } = await demo(7, join(tmp, "b"));
    const text = lines.join("\n");
    const header = lines.find((l) => l.includes("VtepMAC (flannel.1)"))!;
    expect(header).toMatch(/node\s+public IP\s+subnet \(lease\)\s+FLANNEL_SUBNET/);
    for (const n of result.nodes) {
      const row = lines.find((l) => l.trimStart().startsWith(`${n.host.name} `))!;
      const first = IP4Net.parse(n.lease.subnet);
      expect(row.trim().split(/\s+/)).toEqual([
        n.host.name,
        n.host.publicIP,
        n.lease.subnet,
        `${new IP4Net(first.ip + 1, 24)}`,
        n.vtepMAC,
        `${n.lease.subnet.split("/")[0]}/32`,
      ]);
      expect(n.vtepMAC).toMatch(/^[0-9a-f][26ae](:[0-9a-f]{2}){5}$/); // locally administered unicast
      expect(text).toContain(`/kube-centos/network/subnets/${n.lease.subnet.replace("/", "-")}`);
      expect(text).toContain(
        `{"PublicIP":"${n.host.publicIP}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${n.vtepMAC}"}}`,
      );
    }
  });

  it("writes each node's files at their real paths, with flannel's bytes", async () => {
    const out = join(tmp, "c");
    const { result } = await demo(11, out);
    for (const n of result.nodes) {
      const root = join(out, n.host.name);
      for (const p of NODE_PATHS)
        expect(existsSync(join(root, p)), `${n.host.name}/${p}`).toBe(true);
      const first = IP4Net.parse(n.lease.subnet);
      const flannelSubnet = `${new IP4Net(first.ip + 1, 24)}`;
      expect(readFileSync(join(root, "run/flannel/subnet.env"), "utf8")).toBe(
        `FLANNEL_NETWORK=172.30.0.0/16\nFLANNEL_SUBNET=${flannelSubnet}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n`,
      );
      expect(readFileSync(join(root, "run/flannel/docker"), "utf8")).toBe(
        `DOCKER_OPT_BIP="--bip=${flannelSubnet}"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1450"\n` +
          `DOCKER_NETWORK_OPTIONS=" --bip=${flannelSubnet} --ip-masq=false --mtu=1450"\n`,
      );
      expect(readFileSync(join(root, "run/docker_opts.env"), "utf8")).toBe(
        `DOCKER_OPT_BIP="--bip=${flannelSubnet}"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=1450"\n`,
      );
      const unit = readFileSync(join(root, "usr/lib/systemd/system/flanneld.service"), "utf8");
      expect(unit).toContain("Type=notify\n");
      expect(unit).toContain(
        "ExecStartPost=/usr/libexec/flannel/mk-docker-opts.sh -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker\n",
      );
      const sysconfig = readFileSync(join(root, "etc/sysconfig/flanneld"), "utf8");
      expect(sysconfig).toContain('FLANNEL_ETCD_PREFIX="/kube-centos/network"\n');
      expect(sysconfig).toContain(`-public-ip=${n.host.publicIP} -ip-masq`);
      expect(readFileSync(join(root, "usr/lib/systemd/system/docker.service"), "utf8")).toContain(
        "EnvironmentFile=-/run/flannel/docker\n",
      );
      const rules = readFileSync(join(root, "run/flannel/ip-masq.rules"), "utf8");
      expect(rules).toContain(
        `-A FLANNEL-POSTRTG -s ${n.lease.subnet} -d 172.30.0.0/16 -m comment --comment "flanneld masq" -j RETURN\n`,
      );
      expect(statSync(join(root, "usr/libexec/flannel/mk-docker-opts.sh")).mode & 0o777).toBe(
        0o755,
      );
      expect(statSync(join(root, "run/flannel/subnet.env")).mode & 0o777).toBe(0o644);
    }
  });

  it("prints node1's plan as ip / bridge commands: the device, its /32, three entries per peer", async () => {
    const { result, lines } = await demo(5, join(tmp, "d"));
    const [n1, ...peers] = result.nodes;
    const cmds = result.commands;
    expect(cmds.slice(0, 3)).toEqual([
      "ip link add flannel.1 type vxlan id 1 local 172.16.97.11 dev eth0 nolearning",
      `ip link set flannel.1 mtu 1450 address ${n1!.vtepMAC} up`,
      `ip addr replace ${n1!.lease.subnet.split("/")[0]}/32 dev flannel.1`,
    ]);
    expect(cmds).toHaveLength(3 + 3 * peers.length);
    for (const p of peers) {
      const s = p.lease.subnet;
      const a = s.split("/")[0];
      expect(cmds).toContain(
        `ip neigh replace ${a} lladdr ${p.vtepMAC} dev flannel.1 nud permanent`,
      );
      expect(cmds).toContain(
        `bridge fdb replace ${p.vtepMAC} dev flannel.1 dst ${p.host.publicIP} self permanent`,
      );
      expect(cmds).toContain(`ip route replace ${s} via ${a} dev flannel.1 onlink`);
    }
    for (const c of cmds) expect(lines).toContain(`   ${c}`);
  });

  it("is reproducible with a seed, and a second run replaces the first run's files", async () => {
    const out = join(tmp, "e");
    const strip = (ls: string[]) => ls.filter((l) => !l.startsWith("Done in"));
    const one = await demo(42, out);
    const two = await demo(42, out);
    expect(strip(two.lines)).toEqual(strip(one.lines));
    const three = await demo(43, out);
    const subnet = three.result.nodes[0]!.lease.subnet;
    expect(readFileSync(join(out, "node1/run/flannel/subnet.env"), "utf8")).toContain(
      `FLANNEL_SUBNET=${subnet.replace(/0\/24$/, "1/24")}`,
    );
  });
});

describe("the demo process (what npm run demo runs)", () => {
  const cli = resolve(import.meta.dirname, "../dist/cli.mjs");
  const needBuild = () => {
    if (!existsSync(cli))
      throw new Error(`${cli} is missing: run npm run build (npm test runs it first)`);
  };

  it("runs in a few seconds from a clean directory and writes ./demo-out", async () => {
    needBuild();
    const cwd = mkdtempSync(join(tmp, "cwd-"));
    const t0 = performance.now();
    const { stdout } = await execFileP(process.execPath, [cli, "--seed", "9"], {
      cwd,
      encoding: "utf8",
    });
    expect(performance.now() - t0).toBeLessThan(15_000);
    expect(stdout).toContain("VtepMAC (flannel.1)");
    expect(stdout).toContain("$ cat demo-out/node1/run/flannel/subnet.env");
    for (const node of ["node1", "node2", "node3"]) {
      expect(existsSync(join(cwd, "demo-out", node, "run/flannel/subnet.env"))).toBe(true);
    }
  });

  it("the default mode loads only core and render (all that npm run demo builds for it)", () => {
    needBuild();
    // The static import graph of dist/cli.mjs; `import("…")` (--netns, --etcd) is not followed.
    const seen = new Set<string>();
    const packages = new Set<string>();
    const walk = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = readFileSync(file, "utf8");
      for (const [, spec] of text.matchAll(/^(?:import|export)\b[^;]*?["']([^"']+)["'];?$/gms)) {
        if (spec!.startsWith(".")) walk(resolve(file, "..", spec!));
        else packages.add(spec!);
      }
    };
    walk(cli);
    const sdk = [...packages].filter((p) => p.startsWith("@flannel-sdk/")).sort();
    expect(sdk).toEqual(["@flannel-sdk/core", "@flannel-sdk/render"]);
    const script = readFileSync(resolve(import.meta.dirname, "../../../scripts/demo.mjs"), "utf8");
    expect(script).toContain('const needs = ["demo", "core", "render"];');
  });

  it("--help exits 0; an unknown flag exits 2 with the usage", async () => {
    needBuild();
    const help = await execFileP(process.execPath, [cli, "--help"], { encoding: "utf8" });
    expect(help.stdout).toContain("usage: npm run demo");
    const bad = await execFileP(process.execPath, [cli, "--bogus"], { encoding: "utf8" }).catch(
      (e) => e,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("usage: npm run demo");
  });
});
