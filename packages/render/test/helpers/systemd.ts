import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { missingCommand } from "@flannel-sdk/testkit";
import { tempDir } from "./tools.js";

export function systemdMissing(): string | null {
  return missingCommand("systemd-analyze", "systemd");
}

/**
 * A temporary root for `systemd-analyze verify --root=`: the few units every service depends on
 * by default, plus whatever the test adds. Units and executables are resolved inside it, so
 * verification is offline and never reads the host's units.
 */
export class UnitRoot {
  readonly path: string;
  private readonly done: () => void;

  constructor() {
    const dir = tempDir("render-systemd-");
    this.path = dir.path;
    this.done = dir.cleanup;
    for (const t of [
      "sysinit.target",
      "basic.target",
      "shutdown.target",
      "multi-user.target",
      "network.target",
      "network-online.target",
    ]) {
      this.addUnit(t, `[Unit]\nDescription=${t}\n`);
    }
  }

  /** Writes a unit (or drop-in, e.g. `docker.service.d/flannel.conf`) under /etc/systemd/system. */
  addUnit(name: string, text: string, dir = "/usr/lib/systemd/system"): string {
    const path = join(this.path, dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
    return path;
  }

  /** A stub executable at `path` inside the root. */
  addExecutable(path: string, script = "#!/bin/sh\nexit 0\n"): void {
    const target = join(this.path, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, script);
    chmodSync(target, 0o755);
  }

  /** `systemd-analyze verify --root=<root> <units…>`: exit status and everything it printed. */
  verify(units: readonly string[]): { status: number | null; output: string } {
    const r = spawnSync(
      "systemd-analyze",
      ["verify", "--man=no", `--root=${this.path}`, ...units],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SYSTEMD_LOG_LEVEL: "info" },
      },
    );
    return { status: r.status, output: r.stdout + r.stderr };
  }

  /** The manager's dump of `unit` as systemd loaded it (debug output of verify). */
  dump(unit: string): UnitDump {
    return this.dumpMany([unit]).get(unit)!;
  }

  /** {@link dump} for several units in one run. */
  dumpMany(units: readonly string[]): Map<string, UnitDump> {
    const r = spawnSync(
      "systemd-analyze",
      ["verify", "--man=no", `--root=${this.path}`, ...units],
      {
        encoding: "utf8",
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", SYSTEMD_LOG_LEVEL: "debug" },
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    return new Map(units.map((u) => [u, parseDump(r.stdout, u)]));
  }

  cleanup(): void {
    this.done();
  }
}

export interface UnitDump {
  /** `Description: …` etc.: every `Key: value` line of the unit, repeated keys in order. */
  readonly fields: Map<string, string[]>;
  /** Each `Exec*` key's commands as argv arrays, before environment substitution. */
  readonly commands: Map<string, string[][]>;
}

/** Decodes one `Command Line:` of the dump (shell-style quoting with backslash escapes). */
export function decodeCommandLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " ") i++;
    if (i >= line.length) break;
    let word = "";
    while (i < line.length && line[i] !== " ") {
      if (line[i] === '"') {
        i++;
        while (i < line.length && line[i] !== '"') {
          if (line[i] === "\\") {
            const c = line[i + 1]!;
            const simple: Record<string, string> = {
              n: "\n",
              t: "\t",
              r: "\r",
              a: "\x07",
              b: "\b",
              f: "\f",
              v: "\v",
            };
            if (c === "x") {
              word += String.fromCharCode(Number.parseInt(line.slice(i + 2, i + 4), 16));
              i += 4;
            } else {
              word += simple[c] ?? c;
              i += 2;
            }
          } else word += line[i++];
        }
        i++;
      } else if (line[i] === "\\") {
        word += line[i + 1];
        i += 2;
      } else word += line[i++];
    }
    out.push(word);
  }
  return out;
}

function parseDump(text: string, unit: string): UnitDump {
  const fields = new Map<string, string[]>();
  const commands = new Map<string, string[][]>();
  let inUnit = false;
  let exec: string | null = null;
  for (const line of text.split("\n")) {
    const head = /^\t-> Unit (.+):$/.exec(line);
    if (head) {
      inUnit = head[1] === unit;
      continue;
    }
    if (!inUnit) continue;
    const execHead = /^\t\t-> (Exec\w+):$/.exec(line);
    if (execHead) {
      exec = execHead[1]!;
      continue;
    }
    const cmd = /^\t\t\tCommand Line: (.*)$/.exec(line);
    if (cmd && exec !== null) {
      const list = commands.get(exec) ?? [];
      list.push(decodeCommandLine(cmd[1]!));
      commands.set(exec, list);
      continue;
    }
    const field = /^\t\t([A-Za-z][^:]*): ?(.*)$/.exec(line);
    if (field) {
      exec = null;
      const list = fields.get(field[1]!) ?? [];
      list.push(field[2]!);
      fields.set(field[1]!, list);
    }
  }
  return { fields, commands };
}
