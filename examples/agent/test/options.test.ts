import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { isFlannelError } from "@flannel-sdk/core";
import { describe, expect, it, vi } from "vitest";
import { main } from "../src/cli.js";
import { agentOptions, USAGE } from "../src/options.js";

describe("flanneld-ts flags (etcd's flanneld parser)", () => {
  it("takes the install guide's debug command line", () => {
    const o = agentOptions(
      [
        "--ip-masq",
        "-etcd-endpoints=https://172.16.97.11:2379",
        "-etcd-cafile=/etc/kubernetes/ssl/ca.pem",
        "-etcd-certfile=/etc/kubernetes/ssl/kubernetes.pem",
        "-etcd-keyfile=/etc/kubernetes/ssl/kubernetes-key.pem",
        "-etcd-prefix=/kube-centos/network",
        "-public-ip=172.16.97.244",
      ],
      {},
    );
    expect(o).toMatchObject({
      api: "v3",
      store: {
        endpoints: ["https://172.16.97.11:2379"],
        prefix: "/kube-centos/network",
        tls: {
          ca: "/etc/kubernetes/ssl/ca.pem",
          cert: "/etc/kubernetes/ssl/kubernetes.pem",
          key: "/etc/kubernetes/ssl/kubernetes-key.pem",
        },
      },
      publicIP: "172.16.97.244",
      ipMasq: true,
      subnetFile: "/run/flannel/subnet.env",
      renewMarginMs: 3_600_000,
      iptablesResync: 5,
      forwardRules: true,
      randomFully: true,
      iface: [],
      verbosity: 0,
    });
  });

  it("-flag and --flag alike, repeatable -iface, and FLANNELD_* for what the command line leaves out", () => {
    const o = agentOptions(
      [
        "--iface=eth1",
        "-iface",
        "10.0.0.5",
        "--etcd-api",
        "v2",
        "-subnet-lease-renew-margin=30",
        "-v=2",
      ],
      {
        FLANNELD_IFACE: "eth9",
        FLANNELD_ETCD_ENDPOINTS: "http://10.0.0.1:2379,http://10.0.0.2:2379",
        FLANNELD_ETCD_USERNAME: "flannel",
        FLANNELD_ETCD_PASSWORD: "secret",
        FLANNELD_IP_MASQ: "true",
        FLANNELD_SUBNET_FILE: "/tmp/subnet.env",
        FLANNELD_IFACE_REGEX: "^10\\.",
      },
    );
    expect(o).toMatchObject({
      api: "v2",
      verbosity: 2,
      iface: ["eth1", "10.0.0.5"],
      ifaceRegex: ["^10\\."],
      ipMasq: true,
      subnetFile: "/tmp/subnet.env",
      renewMarginMs: 1_800_000,
      store: {
        endpoints: ["http://10.0.0.1:2379", "http://10.0.0.2:2379"],
        auth: { username: "flannel", password: "secret" },
      },
    });
    expect(agentOptions([], { FLANNELD_ETCD_API: "v2" }).api).toBe("v2");
  });

  it("refuses a bad value with FLANNELD_OPTIONS_INVALID", () => {
    const code = (argv: string[]) => {
      try {
        agentOptions(argv, {});
      } catch (e) {
        return isFlannelError(e) ? e.code : "other";
      }
      return "none";
    };
    expect(code(["-etcd-api=v4"])).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(["-subnet-lease-renew-margin=1440"])).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(["-iptables-resync=0"])).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(["-ip-masq=maybe"])).toBe("FLANNELD_OPTIONS_INVALID");
  });
});

describe("flanneld-ts failures", () => {
  it("are one line and an exit status, never a stack trace (an unreadable CA before diagnose)", async () => {
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    let status: number;
    try {
      status = await main(
        ["diagnose", "-etcd-cafile=/nonexistent/ca.pem", "-etcd-endpoints=https://127.0.0.1:1"],
        {},
      );
    } finally {
      spy.mockRestore();
    }
    expect(status).toBe(1);
    expect(written.join("")).toBe(
      "flanneld-ts: ETCD_TLS: cannot read the etcd ca file /nonexistent/ca.pem\n",
    );
  });
});

describe("flanneld-ts as a process", () => {
  const bin = fileURLToPath(new URL("../bin/flanneld-ts.js", import.meta.url));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], {
      encoding: "utf8",
      env: { PATH: "/usr/bin:/bin" },
    });

  it("--help and -h print the usage, every flag in it, and exit 0", () => {
    for (const flag of ["--help", "-h"]) {
      const r = run([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(USAGE);
    }
    for (const flag of [
      "-etcd-endpoints",
      "-etcd-prefix",
      "-etcd-api",
      "-etcd-cafile",
      "-etcd-certfile",
      "-etcd-keyfile",
      "-etcd-username",
      "-etcd-password",
      "-iface",
      "-iface-regex",
      "-iface-can-reach",
      "-public-ip",
      "-ip-masq",
      "-subnet-file",
      "-subnet-lease-renew-margin",
      "-iptables-resync",
      "-iptables-forward-rules",
      "-ip-masq-fully-random-disable",
      "-v=",
      "--json",
    ]) {
      expect(USAGE).toContain(flag);
    }
  });

  it("a usage error exits 2 with the message and the usage on stderr", () => {
    const r = run(["-etcd-api=v4"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain("-etcd-api must be v2 or v3");
    expect(r.stderr).toContain(USAGE);
  });
});
