/**
 * The end-to-end fixture: hosts as network namespaces on one underlay bridge, a real etcd reached
 * over that underlay, and `flanneld-ts` processes started inside the hosts. Everything it makes
 * carries the prefix `agent-<random>` and is removed by `close()`.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openHandle } from "@flannel-sdk/netlink";
import {
  type EtcdServer,
  etcdctl,
  etcdctlMissingReason,
  etcdMissingReason,
  missingCommands,
  NetnsRelay,
  REPO_ROOT,
  realFlannelMissing,
  runCollect,
  startEtcd,
} from "@flannel-sdk/testkit";

export const BIN = join(REPO_ROOT, "node_modules/.bin/flanneld-ts");
export const MK_DOCKER_OPTS = join(REPO_ROOT, "node_modules/.bin/mk-docker-opts");
export const PREFIX = "/kube-centos/network";
/** The underlay: 10.99.0.0/24 exists only inside this fixture's namespaces. */
const ETCD_IP = "10.99.0.100";
const ETCD_PORT = 2379;

/** Why the end-to-end tier cannot run, or `null`. */
export function e2eMissing(): string | null {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root (network namespaces): run as root";
  const missing = missingCommands([
    ["ip", "iproute2"],
    ["iptables-restore", "iptables"],
    ["ping", "iputils-ping"],
    ["nsenter", "util-linux"],
  ]);
  if (missing !== null) return missing;
  if (!existsSync(BIN) || !existsSync(MK_DOCKER_OPTS)) {
    return `${BIN} or ${MK_DOCKER_OPTS} missing: run npm ci and npx turbo run build`;
  }
  return etcdMissingReason() ?? etcdctlMissingReason() ?? notifyMissing();
}

/** Why the interop tier (the end-to-end tier with real flanneld) cannot run, or `null`. */
export function interopMissing(): string | null {
  return e2eMissing() ?? realFlannelMissing();
}

/** `ip ARGS`, throwing with stderr. */
export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `ip -n NS -j ARGS`, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: observer output read field by field
export function ipj(ns: string, ...args: string[]): Record<string, any>[] {
  const out = execFileSync("ip", ["-n", ns, "-j", ...args], { encoding: "utf8" });
  return JSON.parse(out.trim() === "" ? "[]" : out);
}

/** `bridge -n NS -j ARGS`, parsed. */
// biome-ignore lint/suspicious/noExplicitAny: observer output read field by field
export function bridgej(ns: string, ...args: string[]): Record<string, any>[] {
  const out = execFileSync("bridge", ["-n", ns, "-j", ...args], { encoding: "utf8" });
  return JSON.parse(out.trim() === "" ? "[]" : out);
}

/** Runs a command inside a namespace; returns status and output, never throws. */
export function inNs(ns: string, argv: readonly string[], env?: NodeJS.ProcessEnv) {
  const r = spawnSync("ip", ["netns", "exec", ns, ...argv], {
    encoding: "utf8",
    env: env ?? process.env,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Polls `check` until it returns a value other than `undefined`/`false`, or throws after `ms`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Why the notify check cannot run, or `null`. */
export function notifyMissing(): string | null {
  return missingCommands([
    ["python3", "python3"],
    ["systemd-notify", "systemd"],
  ]);
}

/** One node agent process in a host: flanneld-ts, or (interop tier) a real flanneld. */
export class Agent {
  readonly child: ChildProcess;
  stderr = "";
  readonly exited: Promise<number | null>;

  /** `argv`: the program and its arguments, run inside `host` with `ip netns exec`. */
  constructor(
    host: Host,
    readonly argv: readonly string[],
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn("ip", ["netns", "exec", host.ns, ...argv], {
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...env },
    });
    this.child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
    });
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
  }

  /** Resolves once the agent logged `Running backend.` (subnet.env written, rules in: fully set up). */
  ready(ms = 60_000): Promise<void> {
    return eventually(
      "the agent to write its subnet file",
      () => {
        if (this.child.exitCode !== null) {
          throw new Error(`agent exited ${this.child.exitCode}:\n${this.stderr}`);
        }
        return this.stderr.includes("Running backend.");
      },
      ms,
    ).then(() => undefined);
  }

  /** True until the process exited or was killed. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then the exit status (SIGKILL after 10 s). */
  async stop(): Promise<number | null> {
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL"), 10_000);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A host: namespace, underlay address, subnet file. */
export class Host {
  agent: Agent | null = null;
  /** How the host names its public address (`-public-ip=<ip>` unless a test changes it). */
  identityArgs: string[];
  constructor(
    readonly ns: string,
    readonly ip: string,
    readonly dir: string,
    /** The host's IPv6 underlay address, when the cluster was started with `ipv6`. */
    readonly ip6: string | null = null,
  ) {
    this.identityArgs = [`-public-ip=${ip}`];
  }
  get subnetFile(): string {
    return join(this.dir, "subnet.env");
  }
  /** The install guide's debug command line, plus where this host's subnet.env goes. */
  flags(extraArgs: readonly string[]): string[] {
    return [
      `-etcd-endpoints=http://${ETCD_IP}:${ETCD_PORT}`,
      `-etcd-prefix=${PREFIX}`,
      ...this.identityArgs,
      "-ip-masq",
      `--subnet-file=${this.subnetFile}`,
      ...extraArgs,
    ];
  }
  /**
   * `flanneld-ts diagnose --json` with the agent's flags, inside the host. Asynchronous: etcd is
   * reached through this process's unix-socket relay, which a blocking spawn would stall.
   */
  async diagnose(extraArgs: readonly string[]) {
    const argv = ["netns", "exec", this.ns, BIN, "diagnose", "--json", ...this.flags(extraArgs)];
    const { status, stdout, stderr } = await runCollect("ip", argv);
    return { status, stderr, report: stdout === "" ? null : JSON.parse(stdout) };
  }
  start(extraArgs: readonly string[], env?: NodeJS.ProcessEnv): Agent {
    this.agent = new Agent(this, [BIN, ...this.flags(extraArgs)], env);
    return this.agent;
  }
  /**
   * Starts a real flanneld binary as flannel's docs run it: `-iface=eth0 -ip-masq`, the
   * fixture's etcd and prefix, this host's subnet file. Ready when it wrote that file.
   */
  startReal(binary: string, extraArgs: readonly string[] = []): Agent {
    this.agent = new Agent(this, [
      binary,
      `-etcd-endpoints=http://${ETCD_IP}:${ETCD_PORT}`,
      `-etcd-prefix=${PREFIX}`,
      "-iface=eth0",
      "-ip-masq",
      `-subnet-file=${this.subnetFile}`,
      ...extraArgs,
    ]);
    return this.agent;
  }
  /** docker0 as docker makes it from `--bip`: a bridge holding the subnet's first address. */
  async docker0(): Promise<void> {
    await using nl = await openHandle({ netns: this.ns });
    await nl.ensureBridge({ name: "docker0" });
    await nl.ifconfigAddress("docker0", this.flannelSubnet());
  }
  /** One ping from this host's docker0 address to `to`'s. */
  pings(to: Host): boolean {
    const from = this.flannelSubnet().split("/")[0]!;
    const dst = to.flannelSubnet().split("/")[0]!;
    return inNs(this.ns, ["ping", "-c", "1", "-W", "1", "-I", from, dst]).status === 0;
  }
  subnetEnv(): string {
    return readFileSync(this.subnetFile, "utf8");
  }
  /** `FLANNEL_SUBNET`, e.g. `172.30.8.1/24`. */
  flannelSubnet(): string {
    return /^FLANNEL_SUBNET=(.*)$/m.exec(this.subnetEnv())![1]!;
  }
  /** The lease subnet's network address, e.g. `172.30.8.0`. */
  subnetIP(): string {
    return this.flannelSubnet().replace(/\.1\/\d+$/, ".0");
  }
}

/** Three (or n) hosts on one bridge, an etcd reachable at 10.99.0.100:2379 from each. */
export class Cluster {
  readonly prefix = `agent-${randomBytes(3).toString("hex")}`;
  readonly switchNs = `${this.prefix}-sw`;
  readonly hosts: Host[] = [];
  readonly tmp = mkdtempSync(join(tmpdir(), "flannel-agent-e2e-"));
  etcd!: EtcdServer;
  #madeNs: string[] = [];
  #relay: NetnsRelay | null = null;
  #offExit: () => void = () => {};

  /** The underlay's IPv6 /64 (a random ULA that exists only inside these namespaces), with `ipv6`. */
  readonly ula = `fd${randomBytes(5)
    .toString("hex")
    .replace(/(..)(....)(....)/, "$1:$2:$3")
    .replace(/:0+(?=[0-9a-f])/g, ":")}`; // canonical text: no leading zeros in a group

  static async start(
    size: number,
    options: { enableV2: boolean; ipv6?: boolean },
  ): Promise<Cluster> {
    const c = new Cluster();
    // A test process that dies without its afterAll must not leave agents or namespaces behind.
    const onExit = () => c.#destroySync();
    process.once("exit", onExit);
    c.#offExit = () => process.off("exit", onExit);
    try {
      await c.#start(size, options);
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  async #start(size: number, options: { enableV2: boolean; ipv6?: boolean }): Promise<void> {
    this.#netns(this.switchNs);
    ip("-n", this.switchNs, "link", "add", "br0", "type", "bridge");
    ip("-n", this.switchNs, "addr", "add", `${ETCD_IP}/24`, "dev", "br0");
    if (options.ipv6)
      ip("-n", this.switchNs, "addr", "add", `${this.ula}::100/64`, "dev", "br0", "nodad");
    ip("-n", this.switchNs, "link", "set", "br0", "up");
    for (let i = 1; i <= size; i++) {
      const ns = `${this.prefix}-h${i}`;
      this.#netns(ns);
      ip(
        "-n",
        ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        `p${i}`,
        "netns",
        this.switchNs,
      );
      ip("-n", this.switchNs, "link", "set", `p${i}`, "master", "br0", "up");
      const addr = `10.99.0.${10 + i}`;
      ip("-n", ns, "addr", "add", `${addr}/24`, "dev", "eth0");
      ip("-n", ns, "link", "set", "eth0", "up");
      ip("-n", ns, "route", "add", "default", "via", ETCD_IP);
      const addr6 = options.ipv6 ? `${this.ula}::${10 + i}` : null;
      if (addr6 !== null) {
        ip("-n", ns, "addr", "add", `${addr6}/64`, "dev", "eth0", "nodad");
        ip("-n", ns, "-6", "route", "add", "default", "via", `${this.ula}::100`);
      }
      const dir = join(this.tmp, `h${i}`);
      mkdirSync(dir);
      this.hosts.push(new Host(ns, addr, dir, addr6));
    }
    this.etcd = await startEtcd({ enableV2: options.enableV2 });
    // etcd listens on the root namespace's loopback; the switch namespace reaches it through a
    // unix socket (the file system is shared): 10.99.0.100:2379 → forwarder → socket → etcd.
    this.#relay = await NetnsRelay.start({
      ns: this.switchNs,
      host: ETCD_IP,
      port: ETCD_PORT,
      targetPort: this.etcd.ports.client,
      dir: this.tmp,
    });
  }

  #netns(name: string): void {
    ip("netns", "add", name);
    this.#madeNs.push(name);
    ip("-n", name, "link", "set", "lo", "up");
  }

  etcdctl(api: 2 | 3, ...args: string[]): Promise<string> {
    return etcdctl(args, { api, endpoints: [this.etcd.clientUrl] });
  }

  /**
   * Waits until etcd holds two watches (every lease, its own lease) for each of `agents` agents on
   * etcd v3, flanneld-ts and real v0.20.2 alike (`etcd_debugging_mvcc_watcher_total`). After each
   * watch response real v0.20.2 opens its next watch at etcd's current revision
   * (docs/compatibility.md): a lease written before that watch is open never reaches it.
   */
  async watchesOpen(agents: number): Promise<void> {
    await eventually(
      `${2 * agents} watches open in etcd`,
      async () => (await this.etcd.metric("etcd_debugging_mvcc_watcher_total")) === 2 * agents,
    );
  }

  #destroySync(): void {
    for (const h of this.hosts) h.agent?.kill("SIGKILL");
    this.#relay?.killSync();
    for (const ns of this.#madeNs.splice(0)) spawnSync("ip", ["netns", "del", ns]);
    rmSync(this.tmp, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    this.#offExit();
    for (const h of this.hosts) h.agent?.kill("SIGKILL");
    await Promise.all(this.hosts.map((h) => h.agent?.exited));
    await this.#relay?.close();
    await this.etcd?.close();
    for (const ns of this.#madeNs.splice(0)) spawnSync("ip", ["netns", "del", ns]);
    rmSync(this.tmp, { recursive: true, force: true });
  }
}
