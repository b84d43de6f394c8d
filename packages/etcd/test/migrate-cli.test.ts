import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  etcdctl,
  etcdMissingReason,
  makeTestCertificates,
  opensslMissingReason,
  runCollect,
  startEtcd,
  tierGate,
} from "@flannel-sdk/testkit";
import { etcdPerSuite } from "@flannel-sdk/testkit/vitest";
import { describe, expect, it } from "vitest";
import { EtcdV2LeaseStore } from "../src/index.js";
import { runMigrateCli } from "../src/migrate-cli.js";
import { GUIDE_CONFIG, node, tlsEtcdctl, uniquePrefix } from "./helpers.js";

const BIN = fileURLToPath(
  new URL("../../../node_modules/.bin/flannel-etcd-migrate", import.meta.url),
);
const DIST = fileURLToPath(new URL("../dist/cli.mjs", import.meta.url));

function cli(argv: string[], env: Record<string, string> = {}) {
  return runCollect(BIN, argv, { env: { PATH: process.env.PATH ?? "", ...env } });
}

async function inProcess(argv: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const status = await runMigrateCli({
    argv,
    env,
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
  });
  return { status, stdout, stderr };
}

describe("flannel-etcd-migrate usage", () => {
  it.each([["-h"], ["--help"], ["-help"], ["--help=true"]])(
    "%s prints the usage, exit 0",
    async (arg) => {
      const r = await inProcess([arg]);
      expect(r).toMatchObject({ status: 0, stderr: "" });
      expect(r.stdout).toMatch(/^Usage: flannel-etcd-migrate \[flags\]/);
      expect(r.stdout).toContain("-dry-run");
    },
  );

  it.each([
    [["-etcd-endpoint=http://x"], "flag provided but not defined: -etcd-endpoint"],
    [["-iface=eth0"], "flag -iface is flanneld's, not a migration setting"],
    [["-etcd-prefix"], "flag needs an argument: -etcd-prefix"],
    [["--dry-run=maybe"], 'invalid boolean value "maybe" for -dry-run'],
    [["--dry-run", "extra"], "unexpected argument: extra"],
  ])("%j is bad usage: exit 2 with the reason and the usage", async (argv, reason) => {
    const r = await inProcess(argv);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(reason);
    expect(r.stderr).toContain("Usage: flannel-etcd-migrate");
  });
});

const run = tierGate(
  "etcd",
  etcdMissingReason() ??
    opensslMissingReason() ??
    (existsSync(BIN) && existsSync(DIST)
      ? null
      : `${BIN} or ${DIST} missing: run npm ci and npx turbo run build`),
);

describe.runIf(run)("flannel-etcd-migrate on a real etcd", () => {
  const etcd = etcdPerSuite({ enableV2: true });

  it("dry run, migration, a second run that changes nothing, then a conflict (exit 1); -flag and --flag, = and space", async () => {
    const prefix = uniquePrefix("migrate-cli");
    const v2 = new EtcdV2LeaseStore({ endpoints: [etcd.clientUrl], prefix });
    let lease: string;
    try {
      await v2.putNetworkConfig(GUIDE_CONFIG);
      lease = (await v2.acquireLease(node(1))).subnet.replace("/", "-");
      await v2.reserveSubnet("172.30.77.0/24", node(2));
    } finally {
      await v2.close();
    }
    const flags = ["-etcd-endpoints", etcd.clientUrl, `--etcd-prefix=${prefix}`];
    const v3Keys = () =>
      etcdctl(["get", "--prefix", "--keys-only", prefix], {
        api: 3,
        endpoints: [etcd.clientUrl],
      });

    const dry = await cli([...flags, "--dry-run"]);
    expect(dry.stderr).toBe("");
    expect(dry.status).toBe(0);
    expect(dry.stdout.split("\n")[0]).toMatch(/^KEY +ACTION +TTL +REASON$/);
    expect(dry.stdout).toMatch(new RegExp(`${prefix}/config +created +-\\n`));
    expect(dry.stdout).toMatch(new RegExp(`${prefix}/subnets/${lease} +created +\\d+\\n`));
    expect(dry.stdout).toMatch(new RegExp(`${prefix}/subnets/172.30.77.0-24 +created +-\\n`));
    expect(dry.stdout).toContain(
      "dry run, nothing written: would create 3, unchanged 0, conflict 0, skipped 0\n",
    );
    expect(await v3Keys()).toBe("");

    const real = await cli(flags);
    expect(real).toMatchObject({ status: 0, stderr: "" });
    expect(real.stdout).toContain("created 3, unchanged 0, conflict 0, skipped 0\n");
    expect((await v3Keys()).split("\n").filter(Boolean)).toHaveLength(3);

    // FLANNELD_ETCD_* from the environment, as flanneld reads them
    const again = await cli([], {
      FLANNELD_ETCD_ENDPOINTS: etcd.clientUrl,
      FLANNELD_ETCD_PREFIX: prefix,
    });
    expect(again).toMatchObject({ status: 0, stderr: "" });
    expect(again.stdout).toContain("created 0, unchanged 3, conflict 0, skipped 0\n");

    await etcdctl(["put", `${prefix}/subnets/172.30.77.0-24`, '{"PublicIP":"10.1.1.1"}'], {
      api: 3,
      endpoints: [etcd.clientUrl],
    });
    const conflict = await cli(flags);
    expect(conflict.status).toBe(1);
    expect(conflict.stdout).toMatch(
      /172\.30\.77\.0-24 +conflict +- +v3 holds another value for this key; left as it is\n/,
    );
    expect(conflict.stderr).toContain("1 key(s) in conflict");
  });

  it("no config at the prefix (a wrong -etcd-prefix) or an unreachable etcd: exit 1, saying what to check", async () => {
    const empty = await cli([`-etcd-endpoints=${etcd.clientUrl}`, "-etcd-prefix=/no/such"]);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toContain("no config in v2 at /no/such (check -etcd-prefix");
    const down = await cli(["-etcd-endpoints=http://127.0.0.1:1", "-etcd-prefix=/x"]);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/^flannel-etcd-migrate: ETCD_[A-Z_]+: /);
  });

  it("with -etcd-username / -etcd-password on an etcd with v3 auth on: exit 0; a wrong password: exit 1, ETCD_AUTH_FAILED", async () => {
    await using authEtcd = await startEtcd({ enableV2: true });
    const url = authEtcd.clientUrl;
    const prefix = "/kube-centos/network";
    await etcdctl(["mk", `${prefix}/config`, GUIDE_CONFIG], { api: 2, endpoints: [url] });
    await etcdctl(["user", "add", "root:rootpw"], { api: 3, endpoints: [url] });
    await etcdctl(["auth", "enable"], { api: 3, endpoints: [url] });
    const flags = [`-etcd-endpoints=${url}`, `-etcd-prefix=${prefix}`, "-etcd-username", "root"];
    const wrong = await cli([...flags, "-etcd-password=nope"]);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toMatch(/^flannel-etcd-migrate: ETCD_AUTH_FAILED: /);
    const right = await cli([...flags, "--etcd-password", "rootpw"]);
    expect(right).toMatchObject({ status: 0, stderr: "" });
    expect(right.stdout).toContain("created 1, unchanged 0, conflict 0, skipped 0\n");
  });

  it("over mTLS with -etcd-cafile, -etcd-certfile, -etcd-keyfile", async () => {
    const certs = await makeTestCertificates({ clients: ["flanneld"] });
    try {
      await using tlsEtcd = await startEtcd({
        enableV2: true,
        tls: { caFile: certs.caFile, ...certs.server },
      });
      const client = certs.clients.flanneld!;
      const prefix = "/kube-centos/network";
      const ctl = tlsEtcdctl(2, tlsEtcd.clientUrl, certs.caFile, client);
      await ctl(["mk", `${prefix}/config`, GUIDE_CONFIG]);
      const r = await cli([
        `-etcd-endpoints=${tlsEtcd.clientUrl}`,
        `-etcd-prefix=${prefix}`,
        `-etcd-cafile=${certs.caFile}`,
        "-etcd-certfile",
        client.certFile,
        `--etcd-keyfile=${client.keyFile}`,
      ]);
      expect(r).toMatchObject({ status: 0, stderr: "" });
      expect(r.stdout).toContain("created 1, unchanged 0, conflict 0, skipped 0\n");
      expect(
        await tlsEtcdctl(
          3,
          tlsEtcd.clientUrl,
          certs.caFile,
          client,
        )(["get", "--print-value-only", `${prefix}/config`]),
      ).toBe(`${GUIDE_CONFIG}\n`);
    } finally {
      certs.remove();
    }
  });
});
