/**
 * Kernel-tier fixtures: namespaces this test creates (prefix `nl-<random>`) and removes, and the
 * independent observers `ip -j` / `bridge -j`.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { missingCommands, tierGate } from "@flannel-sdk/testkit";

/** Why the kernel tier cannot run here, or `null`. */
export function kernelMissing(): string | null {
  if (process.platform !== "linux") return "needs Linux";
  if (process.getuid?.() !== 0) return "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN): run as root";
  const missing = missingCommands([
    ["ip", "iproute2"],
    ["bridge", "iproute2"],
    ["nsenter", "util-linux"],
  ]);
  if (missing !== null) return missing;
  const probe = `nl-probe-${randomBytes(3).toString("hex")}`;
  try {
    execFileSync("ip", ["netns", "add", probe], { stdio: "pipe" });
    try {
      execFileSync(
        "ip",
        ["-n", probe, "link", "add", "vx0", "type", "vxlan", "id", "1", "dstport", "0"],
        {
          stdio: "pipe",
        },
      );
    } catch (e) {
      return `cannot create a vxlan device (${String(e).split("\n")[0]}): modprobe vxlan`;
    }
  } catch (e) {
    return `cannot create a network namespace (${String(e).split("\n")[0]})`;
  } finally {
    spawnSync("ip", ["netns", "del", probe]);
  }
  return null;
}

let gate: boolean | null = null;
/** The kernel tier's gate (computed once per file). */
export function kernelTier(): boolean {
  gate ??= tierGate("kernel", kernelMissing());
  return gate;
}

/** `ip ARGS` (throws with stderr on failure). */
export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** `ip -n NS -j ARGS` parsed. */
export function ipj<T = Record<string, unknown>[]>(ns: string, ...args: string[]): T {
  const out = execFileSync("ip", ["-n", ns, "-j", ...args], { encoding: "utf8" });
  return JSON.parse(out.trim() === "" ? "[]" : out) as T;
}

/** `bridge -n NS -j ARGS` parsed. */
export function bridgej<T = Record<string, unknown>[]>(ns: string, ...args: string[]): T {
  const out = execFileSync("bridge", ["-n", ns, "-j", ...args], { encoding: "utf8" });
  return JSON.parse(out.trim() === "" ? "[]" : out) as T;
}

/** Namespaces made by one test file; `cleanup()` removes every one (call from afterAll / finally). */
export class Netns {
  private readonly made: string[] = [];
  readonly prefix = `nl-${randomBytes(3).toString("hex")}`;
  private n = 0;

  /** Creates `nl-<random>-<k>` with `lo` up. */
  create(): string {
    const name = `${this.prefix}-${this.n++}`;
    ip("netns", "add", name);
    this.made.push(name);
    ip("-n", name, "link", "set", "lo", "up");
    return name;
  }

  cleanup(): void {
    for (const ns of this.made.splice(0)) {
      spawnSync("ip", ["netns", "del", ns]);
    }
  }

  static exists(ns: string): boolean {
    return existsSync(`/run/netns/${ns}`);
  }
}

/** `ip -n NS ARGS`. */
export function inNs(ns: string, ...args: string[]): string {
  return ip("-n", ns, ...args);
}

/** Loosely typed `ip -j` / `bridge -j` records. */
// biome-ignore lint/suspicious/noExplicitAny: observer output is read field by field
export type J = Record<string, any>;

/**
 * Pids of this process's children inside namespace `ns` — the agents of the handles and
 * subscriptions opened on it — oldest first. Found through /proc: the parent pid, and the
 * namespace inode against `/run/netns/NS`'s.
 */
export function agentsIn(ns: string): number[] {
  const ino = statSync(`/run/netns/${ns}`).ino;
  const found: { pid: number; start: number }[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      // after "pid (comm) ": state, ppid, … starttime (field 22)
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[1]) !== process.pid) continue;
      if (statSync(`/proc/${d}/ns/net`).ino !== ino) continue;
      found.push({ pid: Number(d), start: Number(f[19]) });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found.sort((a, b) => a.start - b.start || a.pid - b.pid).map((x) => x.pid);
}

/** A namespace of `nss` with a veth underlay `ul0` (10.250.0.1/16) ↔ `ul1`, both up. */
export function underlay(nss: Netns): string {
  const ns = nss.create();
  inNs(ns, "link", "add", "ul0", "type", "veth", "peer", "name", "ul1");
  inNs(ns, "addr", "add", "10.250.0.1/16", "dev", "ul0");
  inNs(ns, "link", "set", "ul0", "up");
  inNs(ns, "link", "set", "ul1", "up");
  return ns;
}
