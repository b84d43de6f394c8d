import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { missingCommand } from "@flannel-sdk/testkit";

/** Why the kernel tier cannot run here, or null. */
export function kernelMissing(): string | null {
  if (process.getuid?.() !== 0) return "not root: run the kernel tier as root";
  return (
    missingCommand("ip", "iproute2") ??
    missingCommand("iptables-restore", "iptables") ??
    missingCommand("ip6tables-restore", "iptables")
  );
}

/** A network namespace this test owns: `render-<random>`, deleted by `close()`. */
export class TestNetns {
  readonly name = `render-${randomBytes(4).toString("hex")}`;

  constructor() {
    this.run(["ip", "netns", "add", this.name], { inside: false });
  }

  /** Runs a command (inside the namespace unless `inside: false`); throws on a non-zero exit. */
  run(
    argv: readonly string[],
    options: { input?: string; inside?: boolean; check?: boolean; env?: NodeJS.ProcessEnv } = {},
  ): { status: number | null; stdout: string; stderr: string } {
    const full = options.inside === false ? argv : ["ip", "netns", "exec", this.name, ...argv];
    const r = spawnSync(full[0]!, full.slice(1), {
      input: options.input ?? "",
      encoding: "utf8",
      env: options.env ?? process.env,
    });
    if ((options.check ?? true) && r.status !== 0) {
      throw new Error(`${full.join(" ")} failed (${r.status}): ${r.stderr}`);
    }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  close(): void {
    spawnSync("ip", ["netns", "del", this.name]);
  }
}

/** The `-A` lines of `iptables-save`: the nat table's, then the filter table's, each in order. */
export function ruleLines(save: string): string[] {
  let table = "";
  const byTable: Record<string, string[]> = { nat: [], filter: [] };
  for (const line of save.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith("-A ")) byTable[table]?.push(`${table} ${line}`);
  }
  return [...byTable.nat!, ...byTable.filter!];
}
