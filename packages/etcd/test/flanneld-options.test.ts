// biome-ignore-all lint/suspicious/noTemplateCurlyInString: systemd ExecStart= syntax, not JS templates
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isFlannelError } from "@flannel-sdk/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { expandExecStart, parseEnvironmentFile } from "../src/flanneld/env-file.js";
import { parseFlanneldFlags } from "../src/flanneld/flags.js";
import { etcdOptionsFromFlanneld } from "../src/flanneld/options.js";

const guideSysconfig = readFileSync(
  new URL("./fixtures/sysconfig-flanneld", import.meta.url),
  "utf8",
);

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isFlannelError(e) ? e.code : String(e);
  }
  return undefined;
}

describe("environment file (systemd EnvironmentFile=)", () => {
  it("reads the install guide's /etc/sysconfig/flanneld", () => {
    expect(parseEnvironmentFile(guideSysconfig)).toEqual({
      FLANNEL_ETCD_ENDPOINTS:
        "https://172.20.0.113:2379,https://172.20.0.114:2379,https://172.20.0.115:2379",
      FLANNEL_ETCD_PREFIX: "/kube-centos/network",
      FLANNEL_OPTIONS:
        "-etcd-cafile=/etc/kubernetes/ssl/ca.pem -etcd-certfile=/etc/kubernetes/ssl/kubernetes.pem -etcd-keyfile=/etc/kubernetes/ssl/kubernetes-key.pem",
    });
  });

  it("handles quotes, escapes, comments, continuations and CRLF", () => {
    const text = [
      "; semicolon comment",
      "  A = plain value  ",
      "B='single $X \\n'",
      'C="dq \\"q\\" \\$HOME \\\\"',
      "D=one\\",
      "two",
      "not an assignment",
      "E=",
      "F=x # not a comment",
    ].join("\r\n");
    expect(parseEnvironmentFile(text)).toEqual({
      A: "plain value",
      B: "single $X \\n",
      C: 'dq "q" $HOME \\',
      D: "onetwo",
      E: "",
      F: "x # not a comment",
    });
  });

  it("never throws on arbitrary text", () => {
    fc.assert(fc.property(fc.string(), (s) => typeof parseEnvironmentFile(s) === "object"));
  });

  it("expands ${VAR} inside a word and $VAR into words", () => {
    expect(expandExecStart("-a=${A} $B '-c d' \"-e=${A}\"", { A: "x y", B: " -p  -q " })).toEqual([
      "-a=x y",
      "-p",
      "-q",
      "-c d",
      "-e=x y",
    ]);
    expect(expandExecStart("-a=${MISSING} $MISSING", {})).toEqual(["-a="]);
  });
});

describe("flanneld flags (Go flag rules) and FLANNELD_* environment", () => {
  it("accepts -x, --x, -x=v and -x v, and booleans only inline", () => {
    const p = parseFlanneldFlags([
      "--etcd-prefix",
      "/p",
      "-iface=eth0",
      "--iface",
      "eth1",
      "-ip-masq",
      "-kube-subnet-mgr=false",
      "-subnet-lease-renew-margin=30",
    ]);
    expect(p.values["etcd-prefix"]).toBe("/p");
    expect(p.values.iface).toEqual(["eth0", "eth1"]);
    expect(p.values["ip-masq"]).toBe(true);
    expect(p.values["kube-subnet-mgr"]).toBe(false);
    expect(p.values["subnet-lease-renew-margin"]).toBe("30");
  });

  it("stops at the first non-flag argument and at --", () => {
    // The guide's "方案二" line has ExecStartPost=… glued on: Go's flag package stops there.
    const p = parseFlanneldFlags(["--ip-masq", "false", "-public-ip=1.2.3.4"]);
    expect(p.values["ip-masq"]).toBe(true);
    expect(p.values["public-ip"]).toBe("");
    expect(p.rest).toEqual(["false", "-public-ip=1.2.3.4"]);
    expect(parseFlanneldFlags(["--", "-ip-masq"]).values["ip-masq"]).toBe(false);
  });

  it("fills flags not on the command line from FLANNELD_*, non-empty only", () => {
    const p = parseFlanneldFlags(["-etcd-prefix=/cli"], {
      FLANNELD_ETCD_PREFIX: "/env",
      FLANNELD_ETCD_ENDPOINTS: "http://e:2379",
      FLANNELD_PUBLIC_IP: "",
      FLANNELD_IP_MASQ: "true",
      FLANNELD_IFACE: "eth9",
    });
    expect(p.values["etcd-prefix"]).toBe("/cli");
    expect(p.values["etcd-endpoints"]).toBe("http://e:2379");
    expect(p.values["public-ip"]).toBe("");
    expect(p.values["ip-masq"]).toBe(true);
    expect(p.values.iface).toEqual(["eth9"]);
    expect([...p.fromEnvironment].sort()).toEqual(["etcd-endpoints", "iface", "ip-masq"]);
  });

  it("refuses bad values with FLANNELD_OPTIONS_INVALID", () => {
    expect(code(() => parseFlanneldFlags(["-ip-masq=yes"]))).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(() => parseFlanneldFlags(["-etcd-prefix"]))).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(() => parseFlanneldFlags(["-healthz-port=abc"]))).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(() => parseFlanneldFlags(["---x"]))).toBe("FLANNELD_OPTIONS_INVALID");
    expect(code(() => parseFlanneldFlags([], { FLANNELD_IP_MASQ: "nope" }))).toBe(
      "FLANNELD_OPTIONS_INVALID",
    );
  });

  it("keeps unknown flags with a warning", () => {
    const p = parseFlanneldFlags(["-made-up=1", "-logtostderr=false"]);
    expect(p.values["made-up"]).toBe("1");
    expect(p.values.logtostderr).toBe(false);
    expect(p.warnings).toHaveLength(1);
  });
});

describe("etcdOptionsFromFlanneld", () => {
  it("turns the guide's sysconfig into store options, as its unit would", () => {
    const o = etcdOptionsFromFlanneld({ sysconfig: guideSysconfig });
    expect(o.store).toEqual({
      endpoints: [
        "https://172.20.0.113:2379",
        "https://172.20.0.114:2379",
        "https://172.20.0.115:2379",
      ],
      prefix: "/kube-centos/network",
      tls: {
        ca: "/etc/kubernetes/ssl/ca.pem",
        cert: "/etc/kubernetes/ssl/kubernetes.pem",
        key: "/etc/kubernetes/ssl/kubernetes-key.pem",
      },
    });
    expect(o.renewMarginMs).toBe(3_600_000);
    expect(o.argv[0]).toBe(
      "-etcd-endpoints=https://172.20.0.113:2379,https://172.20.0.114:2379,https://172.20.0.115:2379",
    );
    expect(o.warnings.join("\n")).toMatch(/IP address/);
  });

  it("uses flanneld's defaults with nothing given", () => {
    const o = etcdOptionsFromFlanneld();
    expect(o.store).toEqual({
      endpoints: ["http://127.0.0.1:4001", "http://127.0.0.1:2379"],
      prefix: "/coreos.com/network",
    });
    expect(o.subnetFile).toBe("/run/flannel/subnet.env");
    expect(o.publicIP).toBeNull();
  });

  it("reads auth, public IP and renew margin from env and flags; cli wins", () => {
    const o = etcdOptionsFromFlanneld({
      argv: ["-subnet-lease-renew-margin=5", "-public-ip=172.16.97.244"],
      env: {
        FLANNELD_ETCD_USERNAME: "flannel",
        FLANNELD_ETCD_PASSWORD: "pw",
        FLANNELD_SUBNET_LEASE_RENEW_MARGIN: "120",
      },
    });
    expect(o.store.auth).toEqual({ username: "flannel", password: "pw" });
    expect(o.renewMarginMs).toBe(300_000);
    expect(o.publicIP).toBe("172.16.97.244");
  });

  it("refuses a renew margin outside 1..1439 with flannel's message", () => {
    for (const m of ["0", "1440", "-5"]) {
      expect(() => etcdOptionsFromFlanneld({ argv: [`-subnet-lease-renew-margin=${m}`] })).toThrow(
        "Invalid subnet-lease-renew-margin option, out of acceptable range",
      );
    }
  });

  it("says which variable the unit would expand to nothing", () => {
    expect(() =>
      etcdOptionsFromFlanneld({ sysconfig: 'FLANNEL_ETCD_ENDPOINTS="http://a:2379"\n' }),
    ).toThrow(/FLANNEL_ETCD_PREFIX/);
  });

  it("explains the guide's mkdir -p /etc/sysconfig/flanneld mistake", () => {
    const dir = mkdtempSync(join(tmpdir(), "flannel-sdk-etcd-sysconfig-"));
    try {
      mkdirSync(join(dir, "flanneld"));
      expect(() => etcdOptionsFromFlanneld({ sysconfigFile: join(dir, "flanneld") })).toThrow(
        /is a directory/,
      );
      writeFileSync(join(dir, "f"), guideSysconfig);
      expect(etcdOptionsFromFlanneld({ sysconfigFile: join(dir, "f") }).store.prefix).toBe(
        "/kube-centos/network",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("warns about a CA without client certificate (flannel v0.28 would go plain text)", () => {
    const o = etcdOptionsFromFlanneld({
      argv: ["-etcd-endpoints=https://localhost:2379", "-etcd-cafile=/ca.pem"],
    });
    expect(o.store.tls).toEqual({ ca: "/ca.pem" });
    expect(o.warnings.join("\n")).toMatch(/plain text/);
  });
});
