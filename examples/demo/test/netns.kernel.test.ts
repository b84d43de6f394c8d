/**
 * Kernel tier: `npm run demo -- --netns` — three hosts as namespaces, plans applied with
 * @flannel-sdk/netlink, pings between docker0 addresses, and nothing left behind: after
 * success, after a failure, and after Ctrl-C.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tierGate } from "@flannel-sdk/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_HOSTS, netnsMissing, runDemo } from "../src/index.js";

const run = tierGate("kernel", netnsMissing());
const tmp = mkdtempSync(join(tmpdir(), "fsdk-demo-netns-"));
const leftovers = (prefix: string) =>
  existsSync("/run/netns") ? readdirSync("/run/netns").filter((n) => n.startsWith(prefix)) : [];
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe.runIf(run)("npm run demo -- --netns", () => {
  it("applies the three plans, pings every docker0 from every other, removes the namespaces", async () => {
    const lines: string[] = [];
    const r = await runDemo({
      netns: true,
      seed: 3,
      out: join(tmp, "ok"),
      log: (l) => lines.push(l),
    });
    const netns = r.netns!;
    expect(netns.namespaces).toHaveLength(4);
    expect(netns.pings).toHaveLength(6);
    for (const p of netns.pings) expect(p, `${p.from} → ${p.to}`).toMatchObject({ ok: true });
    // a fresh host: device, up, address, and three entries per peer
    for (const h of DEMO_HOSTS) expect(netns.changes.get(h.name)).toBe(9);
    expect(lines).toContain("   All 6 pings went through.");
    // node1 diagnoses clean, then names the route deleted on purpose
    expect(netns.diagnosis!.healthy.findings).toEqual([]);
    expect(netns.diagnosis!.broken.findings.map((f) => [f.code, f.subject])).toEqual([
      [
        "PEER_ROUTE_MISSING",
        `route ${r.nodes[1]!.lease.subnet} (node ${r.nodes[1]!.host.publicIP})`,
      ],
    ]);
    for (const ns of netns.namespaces) expect(existsSync(`/run/netns/${ns}`)).toBe(false);
  });

  it("removes everything when a step fails", async () => {
    const lines: string[] = [];
    let prefix = "";
    const demo = runDemo({
      netns: true,
      seed: 4,
      out: join(tmp, "fail"),
      log: (l) => {
        lines.push(l);
        const m = /\((fsdk-demo-[0-9a-f]+)-\*\)/.exec(l);
        if (m) prefix = m[1]!;
        if (l.includes("applyPlan:")) throw new Error("injected failure");
      },
    });
    await expect(demo).rejects.toThrow("injected failure");
    expect(prefix).not.toBe("");
    expect(leftovers(prefix)).toEqual([]);
  });

  it("removes everything on Ctrl-C (SIGINT) in the middle of the run", async () => {
    const cli = resolve(import.meta.dirname, "../dist/cli.mjs");
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build`);
    const child = spawn(
      process.execPath,
      [cli, "--netns", "--seed", "5", "--out", join(tmp, "int")],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let prefix = "";
    const interrupted = new Promise<void>((res) => {
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /\((fsdk-demo-[0-9a-f]+)-\*\)/.exec(out);
        if (m && prefix === "") {
          prefix = m[1]!;
          // once the namespaces exist
          const wait = setInterval(() => {
            if (leftovers(prefix).length >= 4) {
              clearInterval(wait);
              child.kill("SIGINT");
              res();
            }
          }, 20);
        }
      });
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
      child.on("exit", (code, signal) => res({ code, signal })),
    );
    await Promise.race([interrupted, exited]);
    const { signal } = await exited;
    expect(prefix).not.toBe("");
    expect(signal).toBe("SIGINT");
    expect(leftovers(prefix)).toEqual([]);
    // and no agent process of this run stays in a namespace
    const agents = () =>
      spawnSync("pgrep", ["-af", `nsenter --net=/run/netns/${prefix}`], {
        encoding: "utf8",
      }).stdout.trim();
    for (let i = 0; i < 50 && agents() !== ""; i++) await new Promise((r) => setTimeout(r, 100));
    expect(agents()).toBe("");
  });
});
