/**
 * `--netns`: the three hosts as network namespaces on one underlay bridge. The lab (namespaces,
 * veths, the underlay bridge and addresses) is built with `ip`, as a cloud would give you hosts;
 * everything flannel does on a host goes through @flannel-sdk/netlink.
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import type { DemoHost } from "./guide.js";

const execFileP = promisify(execFile);

function which(cmd: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
}

/** Why `--netns` cannot run here, or `null`. */
export function netnsMissing(): string | null {
  if (process.platform !== "linux") return "--netns needs Linux";
  if (process.getuid?.() !== 0) return "--netns needs root (it creates network namespaces)";
  for (const [cmd, pkg] of [
    ["ip", "iproute2"],
    ["nsenter", "util-linux"],
    ["ping", "iputils-ping"],
  ] as const) {
    if (!which(cmd)) return `${cmd} not found: apt-get install -y ${pkg}`;
  }
  return null;
}

/** Whether `iptables-restore` is there to apply the ip-masq rules inside the namespaces. */
export function hasIptables(): boolean {
  return which("iptables-restore") && which("iptables-save");
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Namespaces `fsdk-demo-<random>-*`; `destroy()` removes all of them (idempotent, synchronous). */
export class NetnsLab {
  readonly prefix: string;
  readonly underlay: string;
  readonly #made: string[] = [];
  readonly #hosts = new Map<string, string>();

  constructor(prefix = `fsdk-demo-${randomBytes(3).toString("hex")}`) {
    this.prefix = prefix;
    this.underlay = `${prefix}-ul`;
  }

  /** The namespace of a host. */
  ns(host: string): string {
    const ns = this.#hosts.get(host);
    if (ns === undefined) throw new Error(`no namespace for ${host}`);
    return ns;
  }

  /** All namespaces the lab made. */
  get namespaces(): readonly string[] {
    return this.#made;
  }

  #add(name: string): void {
    ip("netns", "add", name);
    this.#made.push(name);
    ip("-n", name, "link", "set", "lo", "up");
  }

  /**
   * The underlay namespace with bridge `br0`, and per host a namespace whose `eth0` (a veth
   * into `br0`) carries the host's public IP.
   */
  build(hosts: readonly DemoHost[]): void {
    this.#add(this.underlay);
    ip("-n", this.underlay, "link", "add", "br0", "type", "bridge");
    ip("-n", this.underlay, "link", "set", "br0", "up");
    hosts.forEach((h, i) => {
      const ns = `${this.prefix}-${h.name}`;
      this.#add(ns);
      this.#hosts.set(h.name, ns);
      const port = `p${i + 1}`;
      ip(
        "-n",
        this.underlay,
        "link",
        "add",
        port,
        "type",
        "veth",
        "peer",
        "name",
        h.iface,
        "netns",
        ns,
      );
      ip("-n", this.underlay, "link", "set", port, "master", "br0", "up");
      ip("-n", ns, "link", "set", h.iface, "mtu", String(h.mtu), "up");
      ip("-n", ns, "addr", "add", `${h.publicIP}/${h.underlayPrefix}`, "dev", h.iface);
    });
  }

  /** `ping` from one address to another inside a host's namespace; the RTT in ms, or an error. */
  async ping(
    host: string,
    from: string,
    to: string,
  ): Promise<{ ok: boolean; rttMs: number | null; output: string }> {
    try {
      const { stdout } = await execFileP(
        "ip",
        ["netns", "exec", this.ns(host), "ping", "-c", "1", "-W", "3", "-I", from, to],
        { encoding: "utf8" },
      );
      const m = /time=([\d.]+) ms/.exec(stdout);
      return { ok: true, rttMs: m ? Number(m[1]) : null, output: stdout };
    } catch (e) {
      const out = (e as { stdout?: string }).stdout ?? String(e);
      return { ok: false, rttMs: null, output: out };
    }
  }

  /** Feeds `input` to `iptables-restore --noflush` inside a host's namespace. */
  iptablesRestore(host: string, input: string): void {
    execFileSync("ip", ["netns", "exec", this.ns(host), "iptables-restore", "--noflush"], {
      input,
      stdio: ["pipe", "ignore", "pipe"],
    });
  }

  /** Removes every namespace the lab made (the veths, bridges and vxlan devices go with them). */
  destroy(): void {
    for (const ns of this.#made.splice(0).reverse()) spawnSync("ip", ["netns", "del", ns]);
    this.#hosts.clear();
  }
}
