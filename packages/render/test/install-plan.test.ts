import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { INSTALL_GUIDE, isFlannelError } from "@flannel-sdk/core";
import { tierGate } from "@flannel-sdk/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { installPlan, renderDockerDropIn, writeInstallPlan } from "../src/index.js";
import { systemdMissing, UnitRoot } from "./helpers/systemd.js";
import { tempDir } from "./helpers/tools.js";

const golden = (name: string) => readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8");
const bin = fileURLToPath(new URL("../bin/mk-docker-opts.js", import.meta.url));

describe("installPlan", () => {
  it("plans the guide's files (with Restart=always) and a wrapper for mk-docker-opts", () => {
    const plan = installPlan({ flanneld: INSTALL_GUIDE, sysconfig: INSTALL_GUIDE });
    expect(plan.files.map((f) => [f.path, f.mode.toString(8)])).toEqual([
      ["/usr/lib/systemd/system/flanneld.service", "644"],
      ["/etc/sysconfig/flanneld", "644"],
      ["/usr/lib/systemd/system/docker.service", "644"],
      ["/usr/libexec/flannel/mk-docker-opts.sh", "755"],
    ]);
    expect(plan.files[0]!.content).toBe(
      golden("guide/flanneld.service").replace("on-failure", "always"),
    );
    expect(plan.files[1]!.content).toBe(golden("guide/flanneld.sysconfig"));
    expect(plan.files[2]!.content).toBe(golden("guide/docker.service"));
    expect(plan.files[3]!.content).toMatch(
      /^#!\/bin\/sh\n.*\nexec \/usr\/local\/bin\/mk-docker-opts "\$@"\n$/,
    );
    // Not the guide's mkdirs of /etc/sysconfig/flanneld and /run/flannel/docker: those are files.
    expect(plan.directories.map((d) => d.path)).toEqual([
      "/usr",
      "/usr/lib",
      "/usr/lib/systemd",
      "/usr/lib/systemd/system",
      "/etc",
      "/etc/sysconfig",
      "/usr/libexec",
      "/usr/libexec/flannel",
    ]);
  });

  it("follows the options: drop-in docker, no wrapper, other paths", () => {
    const plan = installPlan({
      flanneld: {
        sysconfigPath: "/etc/default/flanneld",
        mkDockerOpts: { path: "/usr/local/bin/mk-docker-opts", output: "/run/flannel/docker-opts" },
      },
      docker: { mode: "drop-in" },
      sysconfig: { etcdEndpoints: "http://127.0.0.1:2379" },
    });
    expect(plan.files.map((f) => f.path)).toEqual([
      "/usr/lib/systemd/system/flanneld.service",
      "/etc/default/flanneld",
      "/etc/systemd/system/docker.service.d/flannel.conf",
    ]);
    expect(plan.files[2]!.content).toBe(
      renderDockerDropIn({ optionsFile: "/run/flannel/docker-opts" }),
    );
    expect(installPlan({ mkDockerOptsCommand: null, docker: { mode: "none" } }).files).toHaveLength(
      2,
    );
    expect(() => installPlan({ unitPath: "/etc/sysconfig/flanneld" })).toThrow(/planned twice/);
  });
});

describe("writeInstallPlan", () => {
  let dir: ReturnType<typeof tempDir>;
  let umask: number;
  beforeEach(() => {
    dir = tempDir("render-install-");
    umask = process.umask(0o077);
  });
  afterEach(() => {
    process.umask(umask);
    dir.cleanup();
  });

  it("writes every file with exactly its mode, atomically, under the root", async () => {
    const root = join(dir.path, "root");
    const plan = installPlan();
    const written = await writeInstallPlan(root, plan);
    expect(written).toEqual(plan.files.map((f) => join(root, f.path)));
    for (const f of plan.files) {
      expect(readFileSync(join(root, f.path), "utf8")).toBe(f.content);
      expect(statSync(join(root, f.path)).mode & 0o7777).toBe(f.mode);
    }
    expect(statSync(join(root, "usr/libexec/flannel")).mode & 0o7777).toBe(0o755);
    // Rewriting enforces the planned mode on a file someone loosened.
    const unit = join(root, "usr/lib/systemd/system/flanneld.service");
    writeFileSync(unit, "stale");
    spawnSync("chmod", ["666", unit]);
    await writeInstallPlan(root, plan);
    expect(statSync(unit).mode & 0o7777).toBe(0o644);
    expect(readFileSync(unit, "utf8")).toBe(plan.files[0]!.content);
  });

  it("refuses paths that leave the root", async () => {
    const root = join(dir.path, "root");
    mkdirSync(root);
    mkdirSync(join(dir.path, "outside"));
    symlinkSync(join(dir.path, "outside"), join(root, "etc"));
    await expect(writeInstallPlan(root, installPlan())).rejects.toSatisfy((e) =>
      isFlannelError(e, "INVALID_ARGUMENT"),
    );
    await expect(
      writeInstallPlan(root, {
        directories: [],
        files: [{ path: "/a/../../x", mode: 0o644, content: "" }],
      }),
    ).rejects.toSatisfy((e) => isFlannelError(e, "INVALID_ARGUMENT"));
    await expect(writeInstallPlan("relative", installPlan())).rejects.toSatisfy((e) =>
      isFlannelError(e, "INVALID_ARGUMENT"),
    );
  });
});

describe.runIf(tierGate("systemd", systemdMissing()))(
  "an installed node passes systemd-analyze verify",
  () => {
    let root: UnitRoot;
    beforeEach(() => {
      root = new UnitRoot();
      for (const exe of [
        "/usr/bin/flanneld",
        "/usr/bin/flanneld-start",
        "/usr/bin/dockerd-current",
        "/bin/kill",
        "/usr/bin/dockerd",
        "/bin/true",
      ]) {
        root.addExecutable(exe);
      }
      root.addUnit("docker-cleanup.timer", "[Timer]\nOnCalendar=daily\n");
      root.addUnit("docker-cleanup.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n");
    });
    afterEach(() => root.cleanup());

    it("the default plan", async () => {
      await writeInstallPlan(root.path, installPlan());
      const r = root.verify(["flanneld.service", "docker.service"]);
      expect([r.status, r.output]).toEqual([0, ""]);
    });

    it("the drop-in plan on an existing docker.service", async () => {
      root.addUnit(
        "docker.service",
        "[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd://\n",
      );
      await writeInstallPlan(root.path, installPlan({ docker: { mode: "drop-in" } }));
      const r = root.verify(["flanneld.service", "docker.service"]);
      expect([r.status, r.output]).toEqual([0, ""]);
    });

    it("ExecStartPost= runs this package's mk-docker-opts in place of the script", async () => {
      // Paths inside the temp root, so running the command writes nowhere else.
      const run = join(root.path, "run/flannel");
      mkdirSync(run, { recursive: true });
      writeFileSync(join(run, "subnet.env"), golden("guide/subnet.env"));
      await writeInstallPlan(
        root.path,
        installPlan({
          mkDockerOptsCommand: bin,
          flanneld: {
            mkDockerOpts: { subnetFile: join(run, "subnet.env"), output: join(run, "docker") },
          },
        }),
      );
      expect(root.verify(["flanneld.service"])).toEqual({ status: 0, output: "" });
      const [argv] = root.dump("flanneld.service").commands.get("ExecStartPost")!;
      expect(argv![0]).toBe("/usr/libexec/flannel/mk-docker-opts.sh");
      // What systemd would exec (the executable resolved inside the root). PATH holds only
      // `node` (for the bin's `#!/usr/bin/env node`): with no `ip` there, the route check passes
      // without reading this host's routing table (it is tested in the kernel tier, in a
      // namespace of its own).
      const pathDir = join(root.path, "test-path");
      mkdirSync(pathDir);
      symlinkSync(process.execPath, join(pathDir, "node"));
      const r = spawnSync(join(root.path, argv![0]!), argv!.slice(1), {
        cwd: "/",
        encoding: "utf8",
        env: { PATH: pathDir },
      });
      expect([r.status, r.stderr]).toEqual([0, ""]);
      expect(readFileSync(join(run, "docker"), "utf8")).toBe(golden("guide/flannel-docker"));
    });

    it("requireSubnetEnv: the unit's mk-docker-opts refuses a missing subnet.env (the unit fails)", async () => {
      const run = join(root.path, "run/flannel");
      mkdirSync(run, { recursive: true });
      writeFileSync(join(run, "docker"), "previous\n");
      await writeInstallPlan(
        root.path,
        installPlan({
          mkDockerOptsCommand: bin,
          flanneld: {
            mkDockerOpts: {
              subnetFile: join(run, "subnet.env"),
              output: join(run, "docker"),
              requireSubnetEnv: true,
            },
          },
        }),
      );
      expect(root.verify(["flanneld.service"])).toEqual({ status: 0, output: "" });
      const [argv] = root.dump("flanneld.service").commands.get("ExecStartPost")!;
      expect(argv!.at(-1)).toBe("--require-subnet-env");
      const pathDir = join(root.path, "test-path");
      mkdirSync(pathDir, { recursive: true });
      if (!existsSync(join(pathDir, "node"))) symlinkSync(process.execPath, join(pathDir, "node"));
      const r = spawnSync(join(root.path, argv![0]!), argv!.slice(1), {
        cwd: "/",
        encoding: "utf8",
        env: { PATH: pathDir },
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/subnet\.env: not found: refusing to write docker options .*\n$/);
      expect(r.stderr.split("\n")).toHaveLength(2);
      expect(readFileSync(join(run, "docker"), "utf8")).toBe("previous\n");
    });
  },
);
