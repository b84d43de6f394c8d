// biome-ignore-all lint/suspicious/noTemplateCurlyInString: unit-file text, `${NAME}` is meant literally
import { readFileSync } from "node:fs";
import { INSTALL_GUIDE, isFlannelError } from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  parseShellEnv,
  renderDockerDropIn,
  renderDockerUnit,
  renderFlanneldSysconfig,
  renderFlanneldUnit,
  runMkDockerOpts,
} from "../src/index.js";
import { formatExecWord, SYSTEMD_LIMITS, unitPath, unitText } from "../src/systemd/index.js";
import { HOSTILE, isForbidden } from "./helpers/corpus.js";
import { systemdMissing, UnitRoot } from "./helpers/systemd.js";
import { sourceWithDash } from "./helpers/tools.js";

const golden = (name: string) => readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8");

/** Values aimed at unit files: injections of directives, specifiers, substitutions, quoting. */
const UNIT_HOSTILE: readonly string[] = [
  ...HOSTILE,
  "%n",
  "%%",
  "100%",
  "%",
  "$$X",
  "${FLANNEL_OPTIONS}",
  "a\\\nExecStartPre=/bin/evil",
  "x \\",
  '"',
  "'",
  "\\;",
  ";",
  "a ; /bin/evil",
  "\\x41",
  "\\n",
  "-",
  "@x",
  "[Service]",
  "ExecStartPre=/bin/evil",
];

function attempt<T>(fn: () => T): T | null {
  try {
    return fn();
  } catch (e) {
    expect(isFlannelError(e, "RENDER_INVALID_VALUE"), String(e)).toBe(true);
    return null;
  }
}

describe("renderers reproduce the install guide (core's INSTALL_GUIDE preset)", () => {
  it("flanneld.service: byte for byte with restart on-failure; the default differs only in Restart=", () => {
    expect(renderFlanneldUnit({ ...INSTALL_GUIDE, restart: "on-failure" })).toBe(
      golden("guide/flanneld.service"),
    );
    expect(renderFlanneldUnit(INSTALL_GUIDE)).toBe(
      golden("guide/flanneld.service").replace("Restart=on-failure\n", "Restart=always\n"),
    );
  });

  it("/etc/sysconfig/flanneld", () => {
    expect(renderFlanneldSysconfig(INSTALL_GUIDE)).toBe(golden("guide/flanneld.sysconfig"));
  });

  it("without the preset, flanneld's own defaults: no guide prefix, no TLS files for plain HTTP", () => {
    const sys = renderFlanneldSysconfig({ etcdEndpoints: "http://10.0.0.1:2379" });
    expect(sys).toContain('FLANNEL_ETCD_ENDPOINTS="http://10.0.0.1:2379"\n');
    expect(sys).toContain('FLANNEL_ETCD_PREFIX="/coreos.com/network"\n');
    expect(sys).toContain('FLANNEL_OPTIONS=""\n');
    expect(renderFlanneldSysconfig()).toContain(
      'FLANNEL_ETCD_ENDPOINTS="http://127.0.0.1:4001,http://127.0.0.1:2379"\n',
    );
    expect(renderFlanneldUnit()).toContain("ExecStart=/usr/bin/flanneld \\\n");
  });

  it("docker.service", () => {
    expect(renderDockerUnit()).toBe(golden("guide/docker.service"));
  });

  it("the options the guide varies", () => {
    const sys = renderFlanneldSysconfig({
      etcdEndpoints: ["https://10.0.0.1:2379"],
      etcdPrefix: "/coreos.com/network",
      etcdCAFile: null,
      etcdCertFile: null,
      etcdKeyFile: null,
      iface: "eth2",
      publicIP: "172.16.97.244",
      ipMasq: true,
      comments: false,
    });
    expect(sys).toBe(
      'FLANNEL_ETCD_ENDPOINTS="https://10.0.0.1:2379"\nFLANNEL_ETCD_PREFIX="/coreos.com/network"\nFLANNEL_OPTIONS="-iface=eth2 -public-ip=172.16.97.244 -ip-masq"\n',
    );
    const unit = renderFlanneldUnit({
      flanneldPath: "/usr/bin/flanneld",
      dockerNetworkPath: null,
      etcdUnit: null,
      dockerUnit: null,
      mkDockerOpts: {
        path: "/usr/local/bin/mk-docker-opts",
        subnetFile: "/run/flannel/subnet.env",
        args: ["--no-route-check"],
      },
      restartSec: 5,
      extraArgs: ["-v=2"],
    });
    expect(unit).toBe(
      [
        "[Unit]",
        "Description=Flanneld overlay address etcd agent",
        "After=network.target",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        "Type=notify",
        "EnvironmentFile=/etc/sysconfig/flanneld",
        "ExecStart=/usr/bin/flanneld \\",
        "  -etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS} \\",
        "  -etcd-prefix=${FLANNEL_ETCD_PREFIX} \\",
        "  $FLANNEL_OPTIONS \\",
        "  -v=2",
        "ExecStartPost=/usr/local/bin/mk-docker-opts -f /run/flannel/subnet.env -k DOCKER_NETWORK_OPTIONS -d /run/flannel/docker --no-route-check",
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
      ].join("\n"),
    );
    expect(renderFlanneldUnit({ mkDockerOpts: null })).not.toContain("ExecStartPost");
  });

  it("the docker drop-in", () => {
    expect(renderDockerDropIn()).toBe(
      [
        "[Unit]",
        "After=flanneld.service",
        "Requires=flanneld.service",
        "",
        "[Service]",
        "EnvironmentFile=-/run/flannel/docker",
        "ExecStart=",
        "ExecStart=/usr/bin/dockerd $DOCKER_NETWORK_OPTIONS -H fd:// --containerd=/run/containerd/containerd.sock",
        "",
      ].join("\n"),
    );
  });

  it("refuses option words the two readers of FLANNEL_OPTIONS would split differently", () => {
    for (const iface of ["eth 2", 'eth"2', "eth'2", "eth\\2", ""]) {
      expect(() => renderFlanneldSysconfig({ iface })).toThrow(
        expect.objectContaining({ code: "RENDER_INVALID_VALUE" }),
      );
    }
    expect(() =>
      renderFlanneldSysconfig({ etcdEndpoints: ["https://a:2379,https://b:2379"] }),
    ).toThrow(/commas/);
    expect(() => renderFlanneldSysconfig({ etcdEndpoints: [] })).toThrow(/empty/);
    expect(() => renderFlanneldUnit({ restart: "sometimes" as never })).toThrow(/restart policy/);
    expect(() => renderFlanneldUnit({ dockerUnit: "docker" })).toThrow(/invalid unit name/);
    expect(() => renderFlanneldUnit({ flanneldPath: "flanneld" })).toThrow(/absolute path/);
  });
});

const dashMissing = missingCommand("dash", "dash");

describe.runIf(tierGate("dash", dashMissing))(
  "sysconfig values sourced by dash are the values meant",
  () => {
    it("hostile prefixes and option words", () => {
      for (const v of UNIT_HOSTILE) {
        const text = attempt(() =>
          renderFlanneldSysconfig({ etcdPrefix: v, extraOptions: [`-x=${v}`] }),
        );
        if (text === null) continue;
        const r = sourceWithDash(text, ["FLANNEL_ETCD_PREFIX", "FLANNEL_OPTIONS", "EVIL"]);
        expect(r.status, r.stderr).toBe(0);
        expect(r.values.get("FLANNEL_ETCD_PREFIX")).toBe(v);
        expect(r.values.get("FLANNEL_OPTIONS")).toBe(`-x=${v}`);
        expect(r.values.get("EVIL")).toBeUndefined();
        expect(parseShellEnv(text).assigned.FLANNEL_ETCD_PREFIX).toBe(v);
      }
    });
  },
);

describe.runIf(tierGate("systemd", systemdMissing()))(
  "rendered units pass systemd-analyze verify",
  () => {
    let root: UnitRoot;
    beforeAll(() => {
      root = new UnitRoot();
      for (const exe of [
        "/usr/bin/flanneld-start",
        "/usr/bin/flanneld",
        "/usr/libexec/flannel/mk-docker-opts.sh",
        "/usr/local/bin/mk-docker-opts",
        "/usr/bin/dockerd-current",
        "/usr/bin/dockerd",
        "/bin/kill",
        "/bin/true",
      ]) {
        root.addExecutable(exe);
      }
      // What the guide's docker.service requires on a RHEL host.
      root.addUnit("docker-cleanup.timer", "[Timer]\nOnCalendar=daily\n");
      root.addUnit("docker-cleanup.service", "[Service]\nType=oneshot\nExecStart=/bin/true\n");
    });
    afterAll(() => root?.cleanup());

    const verifyClean = (name: string, text: string, dir?: string) => {
      root.addUnit(name, text, dir);
      const r = root.verify([name.includes("/") ? name.split(".d/")[0]! : name]);
      expect(r.output).toBe("");
      expect(r.status).toBe(0);
    };

    it("the guide's units, the defaults and the drop-in", () => {
      verifyClean("flanneld.service", renderFlanneldUnit(INSTALL_GUIDE));
      verifyClean("flanneld-default.service", renderFlanneldUnit());
      verifyClean(
        "flanneld-guide.service",
        renderFlanneldUnit({ ...INSTALL_GUIDE, restart: "on-failure" }),
      );
      verifyClean("docker.service", renderDockerUnit());
      const d = root.dump("flanneld.service");
      expect(d.commands.get("ExecStart")).toEqual([
        [
          "/usr/bin/flanneld-start",
          "-etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS}",
          "-etcd-prefix=${FLANNEL_ETCD_PREFIX}",
          "$FLANNEL_OPTIONS",
        ],
      ]);
      expect(d.commands.get("ExecStartPost")).toEqual([
        [
          "/usr/libexec/flannel/mk-docker-opts.sh",
          "-k",
          "DOCKER_NETWORK_OPTIONS",
          "-d",
          "/run/flannel/docker",
        ],
      ]);
      expect(d.fields.get("Restart")).toEqual(["always"]);
      expect(d.fields.get("Type")).toEqual(["notify"]);
      expect(d.fields.get("EnvironmentFile")).toEqual([
        "/etc/sysconfig/flanneld",
        "-/etc/sysconfig/docker-network",
      ]);
      const docker = root.dump("docker.service");
      expect(docker.commands.get("ExecStart")?.[0]?.slice(-7)).toEqual([
        "$OPTIONS",
        "$DOCKER_STORAGE_OPTIONS",
        "$DOCKER_NETWORK_OPTIONS",
        "$ADD_REGISTRY",
        "$BLOCK_REGISTRY",
        "$INSECURE_REGISTRY",
        "$REGISTRIES",
      ]);
      expect(docker.fields.get("EnvironmentFile")).toContain("-/run/flannel/docker");
      expect(docker.fields.get("Environment")).toEqual([
        "GOTRACEBACK=crash",
        "DOCKER_HTTP_HOST_COMPAT=1",
        "PATH=/usr/libexec/docker:/usr/bin:/usr/sbin",
      ]);
    });

    it("the drop-in replaces the command of an existing docker.service", () => {
      const other = new UnitRoot();
      try {
        other.addExecutable("/usr/bin/dockerd");
        other.addUnit(
          "docker.service",
          "[Unit]\nDescription=Docker\n\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd://\n\n[Install]\nWantedBy=multi-user.target\n",
        );
        other.addUnit("flanneld.service", "[Service]\nExecStart=/usr/bin/dockerd\n");
        other.addUnit("docker.service.d/flannel.conf", renderDockerDropIn(), "/etc/systemd/system");
        const r = other.verify(["docker.service"]);
        expect([r.status, r.output]).toEqual([0, ""]);
        const d = other.dump("docker.service");
        expect(d.commands.get("ExecStart")).toEqual([
          [
            "/usr/bin/dockerd",
            "$DOCKER_NETWORK_OPTIONS",
            "-H",
            "fd://",
            "--containerd=/run/containerd/containerd.sock",
          ],
        ]);
        expect(d.fields.get("EnvironmentFile")).toEqual(["-/run/flannel/docker"]);
        expect(d.fields.get("Requires")?.some((v) => v.startsWith("flanneld.service"))).toBe(true);
      } finally {
        other.cleanup();
      }
    });

    it("hostile values: quoted so systemd reads exactly them, or refused; never a new directive or command", () => {
      let n = 0;
      const rendered: [string, string][] = [];
      for (const v of UNIT_HOSTILE) {
        const unit = attempt(() =>
          renderFlanneldUnit({
            description: v,
            extraArgs: [v, [`-x=`, v === "" ? "" : v], { env: "FLANNEL_OPTIONS" }],
            mkDockerOpts: { args: [v] },
          }),
        );
        if (unit === null) {
          // Refused: the offending value must hold something a unit line cannot carry.
          expect(v === "" || isForbidden(v) || /^\s|\s$|\\$/.test(v), JSON.stringify(v)).toBe(true);
          continue;
        }
        const name = `hostile${n++}.service`;
        root.addUnit(name, unit);
        rendered.push([name, v]);
      }
      const names = rendered.map(([name]) => name);
      expect(root.verify(names)).toEqual({ status: 0, output: "" });
      const dumps = root.dumpMany(names);
      for (const [name, v] of rendered) {
        const d = dumps.get(name)!;
        // What systemd stores before substitution: literal `$` is doubled and becomes one `$` at exec.
        const stored = v.replace(/\$/g, "$$$$");
        expect(d.fields.get("Description"), JSON.stringify(v)).toEqual([v]);
        expect(d.commands.get("ExecStart")).toEqual([
          [
            "/usr/bin/flanneld",
            "-etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS}",
            "-etcd-prefix=${FLANNEL_ETCD_PREFIX}",
            "$FLANNEL_OPTIONS",
            stored,
            `-x=${stored}`,
            "${FLANNEL_OPTIONS}",
          ],
        ]);
        expect(d.commands.get("ExecStartPost")).toEqual([
          [
            "/usr/libexec/flannel/mk-docker-opts.sh",
            "-k",
            "DOCKER_NETWORK_OPTIONS",
            "-d",
            "/run/flannel/docker",
            stored,
          ],
        ]);
        expect(d.commands.has("ExecStartPre")).toBe(false);
      }
    });

    it("hostile paths are refused unless systemd reads them back unchanged", () => {
      let n = 0;
      const rendered: [string, string][] = [];
      for (const v of UNIT_HOSTILE.map((s) => `/etc/${s}`)) {
        const unit = attempt(() => renderFlanneldUnit({ sysconfigPath: v }));
        if (unit === null) continue;
        const name = `path${n++}.service`;
        root.addUnit(name, unit);
        rendered.push([name, v]);
      }
      const names = rendered.map(([name]) => name);
      expect(root.verify(names)).toEqual({ status: 0, output: "" });
      const dumps = root.dumpMany(names);
      for (const [name, v] of rendered) {
        expect(dumps.get(name)!.fields.get("EnvironmentFile")?.[0]).toBe(v);
      }
      expect(attempt(() => unitPath("/etc/a b", "p"))).toBeNull();
      expect(unitText("100%", "Description")).toBe("100%%");
    });

    it("property: any exec argument is passed verbatim or refused", () => {
      let n = 0;
      const word = fc.oneof(
        fc.string({ unit: "binary", maxLength: 10 }),
        fc.string({ unit: fc.constantFrom(..." \"'\\$%;`#{}=é\t".split("")), maxLength: 10 }),
      );
      fc.assert(
        fc.property(fc.array(word, { minLength: 1, maxLength: 20 }), (words) => {
          const kept = words.filter((w) => attempt(() => formatExecWord(w)) !== null);
          for (const w of words) if (!kept.includes(w)) expect(isForbidden(w)).toBe(true);
          const name = `prop${n++}.service`;
          verifyClean(name, renderFlanneldUnit({ extraArgs: kept }));
          const argv = root.dump(name).commands.get("ExecStart")?.[0] ?? [];
          expect(argv.slice(4)).toEqual(kept.map((w) => w.replace(/\$/g, "$$$$")));
        }),
        { numRuns: Number(process.env.RENDER_PROPERTY_RUNS ?? 40) },
      );
    });
  },
);

describe.runIf(tierGate("systemd", systemdMissing()))(
  "systemd's own limits, refused at render time (systemd-analyze verify shows why)",
  () => {
    let root: UnitRoot;
    beforeEach(() => {
      root = new UnitRoot();
      root.addExecutable("/usr/bin/flanneld");
    });
    afterEach(() => root.cleanup());

    const base = {
      flanneldPath: "/usr/bin/flanneld",
      dockerNetworkPath: null,
      etcdUnit: null,
      dockerUnit: null,
      mkDockerOpts: null,
    } as const;
    /** An absolute path of exactly `bytes` bytes, in components of 100. */
    const pathOf = (bytes: number, last = "c") => {
      let p = "";
      while (p.length + 101 < bytes) p += `/${"b".repeat(99)}`;
      return `${p}/${last.repeat(bytes - p.length - 1)}`;
    };
    const verifyText = (text: string) => {
      root.addUnit("flanneld.service", text);
      return root.verify(["flanneld.service"]);
    };
    const refused = (options: Parameters<typeof renderFlanneldUnit>[0], field: string) =>
      expect(() => renderFlanneldUnit({ ...base, ...options })).toThrow(
        expect.objectContaining({ code: "RENDER_INVALID_VALUE", field }),
      );

    it("EnvironmentFile=: a component of 255 bytes loads; 256 is refused (systemd ignores it)", () => {
      const ok = renderFlanneldUnit({ ...base, sysconfigPath: `/etc/${"a".repeat(255)}` });
      expect(verifyText(ok)).toEqual({ status: 0, output: "" });
      refused({ sysconfigPath: `/etc/${"a".repeat(256)}` }, "EnvironmentFile");
      refused({ sysconfigPath: `/etc/${"é".repeat(128)}` }, "EnvironmentFile"); // 256 bytes
      const r = verifyText(ok.replace("a".repeat(255), "a".repeat(256)));
      expect(r.output).toMatch(/EnvironmentFile= path has invalid length \(261 bytes\), ignoring/);
    });

    it("EnvironmentFile=: a path of 4,095 bytes loads, also with specifiers escaped; 4,096 is refused", () => {
      const ok = renderFlanneldUnit({ ...base, sysconfigPath: pathOf(4095) });
      expect(verifyText(ok)).toEqual({ status: 0, output: "" });
      // `%` is written `%%`: longer in the file, 4,095 bytes once systemd resolves it.
      const pct = renderFlanneldUnit({ ...base, sysconfigPath: pathOf(4095, "%") });
      expect(pct).toContain("%%%%");
      expect(verifyText(pct)).toEqual({ status: 0, output: "" });
      refused({ sysconfigPath: pathOf(4096) }, "EnvironmentFile");
      refused({ dockerNetworkPath: pathOf(4096) }, "EnvironmentFile");
      const r = verifyText(ok.replace(pathOf(4095), pathOf(4096)));
      expect(r.output).toMatch(/EnvironmentFile= path has invalid length \(4096 bytes\), ignoring/);
    });

    it("ExecStart=: an executable path over 4,095 bytes (or 100k characters) is refused; systemd would run nothing", () => {
      refused({ flanneldPath: pathOf(4096) }, "ExecStart");
      refused({ flanneldPath: pathOf(100_000) }, "ExecStart");
      const ok = renderFlanneldUnit(base);
      const r = verifyText(ok.replace("ExecStart=/usr/bin/flanneld", `ExecStart=${pathOf(4096)}`));
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/Failed to resolve unit specifiers|has no ExecStart/);
    });

    it("a directive over 1,048,575 bytes (LONG_LINE_MAX) is refused, naming it; systemd would not load the unit", () => {
      const max = SYSTEMD_LIMITS.lineBytes - "Description=".length;
      const ok = renderFlanneldUnit({ ...base, description: "d".repeat(max) });
      expect(verifyText(ok)).toEqual({ status: 0, output: "" });
      refused({ description: "d".repeat(max + 1) }, "Description");
      refused({ description: "d".repeat(2 * 1024 * 1024) }, "Description");
      refused({ description: `${"d".repeat(max - 1)}é` }, "Description"); // counted in bytes
      const r = verifyText(ok.replace("d".repeat(max), "d".repeat(max + 1)));
      expect(r.status).not.toBe(0);
      expect(r.output).toMatch(/failed to load properly.*No buffer space available/);
      // Continuation lines count together, as systemd joins them before reading the directive.
      refused({ extraArgs: ["a".repeat(600_000), "b".repeat(600_000)] }, "ExecStart");
    });

    it("mkDockerOpts.combinedKey must be a shell name: `a b` is refused (mk-docker-opts would fail every start)", async () => {
      refused({ mkDockerOpts: { combinedKey: "a b" } }, "combinedKey");
      refused({ mkDockerOpts: { combinedKey: "1X" } }, "combinedKey");
      // What the unit would have run: it verifies, and the command fails.
      root.addExecutable("/usr/libexec/flannel/mk-docker-opts.sh");
      const unit = renderFlanneldUnit({ ...base, mkDockerOpts: {} }).replace(
        "-k DOCKER_NETWORK_OPTIONS",
        '-k "a b"',
      );
      expect(verifyText(unit)).toEqual({ status: 0, output: "" });
      const [argv] = root.dump("flanneld.service").commands.get("ExecStartPost")!;
      expect(argv).toContain("a b");
      let printed = "";
      const status = await runMkDockerOpts({
        argv: argv!.slice(1),
        env: {},
        stderr: (t) => {
          printed += t;
        },
        readRoutes: async () => null,
        cwd: root.path,
      });
      // (after the warning that this root has no subnet.env)
      expect(status).toBe(1);
      expect(printed).toMatch(/\nmk-docker-opts: invalid combined key "a b"\n$/);
    });
  },
);
