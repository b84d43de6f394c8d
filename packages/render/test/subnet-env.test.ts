import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  isFlannelError,
  type Lease,
  type NetworkConfig,
  parseNetworkConfig,
} from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  parseSubnetEnv,
  previousSubnetFromFile,
  previousSubnetFromText,
  renderSubnetEnv,
  type SubnetEnv,
  subnetEnvFromLease,
  writeFileAtomic,
  writeSubnetEnv,
} from "../src/index.js";
import { sourceWithDash, tempDir } from "./helpers/tools.js";

const golden = (name: string) => readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8");

/** The guide's network config, with flannel's defaults filled in by core. */
const guideConfig: NetworkConfig = parseNetworkConfig(
  '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
);

const lease = (subnet: string, ipv6Subnet: string | null = null): Lease => ({
  subnet,
  ipv6Subnet,
  attrs: {
    publicIP: "172.16.97.244",
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: "3a:b9:84:c3:57:7c" },
    backendV6Data: null,
  },
  expiration: null,
});

const dual: NetworkConfig = {
  ...guideConfig,
  enableIPv6: true,
  ipv6Network: "2001:cafe:42::/56",
  ipv6SubnetLen: 64,
  ipv6SubnetMin: "2001:cafe:42:1::",
  ipv6SubnetMax: "2001:cafe:42:ff::",
};

describe("renderSubnetEnv", () => {
  it("is the guide's /run/flannel/subnet.env for the guide's lease", () => {
    const env = subnetEnvFromLease(guideConfig, lease("172.30.8.0/24"), {
      mtu: 1450,
      ipMasq: true,
    });
    expect(env.subnet).toBe("172.30.8.1/24");
    expect(renderSubnetEnv(env)).toBe(golden("guide/subnet.env"));
  });

  it("from the guide's etcd config as flannel parses it (host bits in Network are masked)", () => {
    // The config the guide reads back: `{ "Network": "172.30.8.0/16", "SubnetLen": 24, … }`.
    const config = parseNetworkConfig(
      '{ "Network": "172.30.8.0/16", "SubnetLen": 24, "Backend": { "Type": "vxlan" } }',
    );
    const env = subnetEnvFromLease(config, lease("172.30.8.0/24"), { mtu: 1450, ipMasq: true });
    expect(renderSubnetEnv(env)).toBe(golden("guide/subnet.env"));
  });

  it("is flannel's dist/sample_subnet.env", () => {
    const env: SubnetEnv = {
      network: "10.1.0.0/16",
      subnet: "10.1.74.1/24",
      ipv6Network: null,
      ipv6Subnet: null,
      mtu: 1472,
      ipMasq: false,
    };
    expect(renderSubnetEnv(env)).toBe(golden("sample_subnet.env"));
  });

  it("writes the first host address whatever the prefix, and the masked network", () => {
    const config = { ...guideConfig, network: "172.30.8.0/16", subnetLen: 21 };
    const env = subnetEnvFromLease(config, lease("172.30.8.0/21"), { mtu: 1450, ipMasq: false });
    expect(env).toMatchObject({ network: "172.30.0.0/16", subnet: "172.30.8.1/21" });
  });

  it("adds the IPv6 pair only when IPv6 is enabled, in flannel's order", () => {
    const env = subnetEnvFromLease(dual, lease("172.30.8.0/24", "2001:cafe:42:8::/64"), {
      mtu: 1450,
      ipMasq: true,
    });
    expect(renderSubnetEnv(env)).toBe(
      "FLANNEL_NETWORK=172.30.0.0/16\nFLANNEL_SUBNET=172.30.8.1/24\n" +
        "FLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42:8::1/64\n" +
        "FLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const v6only = subnetEnvFromLease(
      { ...dual, enableIPv4: false, network: null },
      lease("0.0.0.0/0", "2001:cafe:42::/64"),
      { mtu: 1430, ipMasq: false },
    );
    expect(renderSubnetEnv(v6only)).toBe(
      "FLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1430\nFLANNEL_IPMASQ=false\n",
    );
  });

  it("validates what it writes", () => {
    const ok: SubnetEnv = {
      network: "10.1.0.0/16",
      subnet: "10.1.74.1/24",
      ipv6Network: null,
      ipv6Subnet: null,
      mtu: 1472,
      ipMasq: false,
    };
    const bad: [Partial<SubnetEnv>, string][] = [
      [{ subnet: "10.1.74.1/24\nEVIL=1" }, "INVALID_CIDR"],
      [{ network: "fc00::/8" }, "INVALID_CIDR"],
      [{ subnet: null }, "INVALID_ARGUMENT"],
      [{ mtu: 1.5 }, "INVALID_ARGUMENT"],
      [{ mtu: -1 }, "INVALID_ARGUMENT"],
      [{ ipMasq: "true" as unknown as boolean }, "INVALID_ARGUMENT"],
    ];
    for (const [patch, code] of bad) {
      expect(() => renderSubnetEnv({ ...ok, ...patch })).toThrow(expect.objectContaining({ code }));
    }
    expect(() =>
      subnetEnvFromLease(guideConfig, lease("172.30.8.1/24"), { mtu: 1, ipMasq: true }),
    ).toThrow(/not a network address/);
  });
});

describe("parseSubnetEnv", () => {
  it("reads flanneld's output back", () => {
    expect(parseSubnetEnv(golden("guide/subnet.env"))).toMatchObject({
      network: "172.30.0.0/16",
      subnet: "172.30.8.1/24",
      ipv6Network: null,
      ipv6Subnet: null,
      mtu: 1450,
      ipMasq: true,
    });
  });

  it("reads a hand-edited file the way sh does", () => {
    const text = golden("mk-docker-opts/hand-written.env");
    expect(parseSubnetEnv(text)).toMatchObject({
      network: "10.1.0.0/16",
      subnet: "10.1.74.1/24",
      mtu: 1472,
      ipMasq: false,
    });
  });

  it("refuses malformed MTU and IPMASQ values and shell it cannot evaluate", () => {
    expect(() => parseSubnetEnv("FLANNEL_MTU=14x0\n")).toThrow(
      expect.objectContaining({ code: "SUBNET_ENV_INVALID", field: "FLANNEL_MTU" }),
    );
    expect(() => parseSubnetEnv("FLANNEL_IPMASQ=True\n")).toThrow(
      expect.objectContaining({ code: "SUBNET_ENV_INVALID", field: "FLANNEL_IPMASQ" }),
    );
    expect(() => parseSubnetEnv("FLANNEL_SUBNET=$(hostname)\n")).toThrow(
      expect.objectContaining({ code: "ENV_SYNTAX" }),
    );
  });

  const v4 = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 1, max: 31 }));
  it("property: parse(render(env)) gives env back", () => {
    fc.assert(
      fc.property(
        v4,
        v4,
        fc.integer({ min: 0, max: 65535 }),
        fc.boolean(),
        ([n, nl], [s, sl], mtu, ipMasq) => {
          const ip = (x: number) =>
            [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255].join(".");
          const env: SubnetEnv = {
            network: `${ip(n)}/${nl}`,
            subnet: `${ip(s)}/${sl}`,
            ipv6Network: null,
            ipv6Subnet: null,
            mtu,
            ipMasq,
          };
          const back = parseSubnetEnv(renderSubnetEnv(env));
          expect({ ...back, variables: undefined }).toEqual({ ...env, variables: undefined });
        },
      ),
    );
  });
});

describe("previousSubnetFromFile", () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(() => dir.cleanup());

  it("masks FLANNEL_SUBNET and FLANNEL_IPV6_SUBNET for lease reuse", async () => {
    const path = join(dir.path, "subnet.env");
    writeFileSync(
      path,
      "FLANNEL_NETWORK=10.1.0.0/16\nFLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42:8::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
    );
    const prev = await previousSubnetFromFile(path);
    expect(prev).toMatchObject({
      network: "10.1.0.0/16",
      subnet: "10.1.74.0/24",
      ipv6Network: "2001:cafe:42::/56",
      ipv6Subnet: "2001:cafe:42:8::/64",
      warnings: [],
    });
  });

  it("gives null (and flanneld's warnings) for a missing file, lists and garbage", async () => {
    const missing = await previousSubnetFromFile(join(dir.path, "nope.env"));
    expect(missing.subnet).toBeNull();
    expect(missing.warnings).toContain(
      `no subnet found for key: FLANNEL_SUBNET in file: ${join(dir.path, "nope.env")}`,
    );
    expect(previousSubnetFromText("FLANNEL_SUBNET=10.1.1.1/24,10.1.2.1/24\n").subnet).toBeNull();
    expect(previousSubnetFromText("FLANNEL_SUBNET=10.1.1.1/24,junk\n").subnet).toBe("10.1.1.0/24");
    expect(previousSubnetFromText("FLANNEL_SUBNET=fc00::1/64\n").subnet).toBeNull();
    expect(previousSubnetFromText("FLANNEL_SUBNET=`x`\n").warnings[0]).toMatch(
      /Couldn't fetch previous/,
    );
    const isDir = await previousSubnetFromFile(dir.path);
    expect(isDir.subnet).toBeNull();
  });

  it("honours an aborted signal", async () => {
    await expect(
      previousSubnetFromFile("/nope", { signal: AbortSignal.abort() }),
    ).rejects.toSatisfy((e) => isFlannelError(e, "ABORTED"));
  });
});

describe("writeSubnetEnv / writeFileAtomic", () => {
  let dir: ReturnType<typeof tempDir>;
  let umask: number;
  beforeEach(() => {
    dir = tempDir();
    umask = process.umask(0o077);
  });
  afterEach(() => {
    process.umask(umask);
    dir.cleanup();
  });

  const env: SubnetEnv = {
    network: "10.1.0.0/16",
    subnet: "10.1.74.1/24",
    ipv6Network: null,
    ipv6Subnet: null,
    mtu: 1472,
    ipMasq: false,
  };

  it("creates the parent directories 0755 and a new file exactly 0644 whatever the umask", async () => {
    const path = join(dir.path, "run", "flannel", "subnet.env");
    await writeSubnetEnv(path, env);
    expect(readFileSync(path, "utf8")).toBe(golden("sample_subnet.env"));
    expect(statSync(path).mode & 0o7777).toBe(0o644);
    expect(statSync(join(dir.path, "run")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(dir.path, "run", "flannel")).mode & 0o7777).toBe(0o755);
    expect(readdirSync(join(dir.path, "run", "flannel"))).toEqual(["subnet.env"]);
  });

  it("keeps the mode of an existing file, and leaves an existing directory's mode alone", async () => {
    mkdirSync(join(dir.path, "d"), { mode: 0o700 });
    const path = join(dir.path, "d", "subnet.env");
    writeFileSync(path, "old\n");
    chmodSync(path, 0o600);
    await writeSubnetEnv(path, env);
    expect(statSync(path).mode & 0o7777).toBe(0o600);
    expect(statSync(join(dir.path, "d")).mode & 0o7777).toBe(0o700);
    await writeFileAtomic(path, "x", { mode: 0o640, keepExistingMode: false });
    expect(statSync(path).mode & 0o7777).toBe(0o640);
  });

  it("names the temp file .<basename><random> in the target directory and retries on collisions", async () => {
    const path = join(dir.path, "subnet.env");
    writeFileSync(join(dir.path, ".subnet.env1"), "someone else's");
    const suffixes = ["1", "1", "2"];
    const seen: string[] = [];
    await writeFileAtomic(path, "data", {
      random: () => {
        const s = suffixes.shift() ?? "9";
        seen.push(s);
        return s;
      },
    });
    expect(seen).toEqual(["1", "1", "2"]);
    expect(readFileSync(path, "utf8")).toBe("data");
    expect(readdirSync(dir.path).sort()).toEqual([".subnet.env1", "subnet.env"]);
  });

  it("fails with WRITE_FAILED (errno) and leaves no temp file when the target is a directory", async () => {
    // The guide's `mkdir -p /run/flannel/docker` makes mk-docker-opts' output path a directory.
    const path = join(dir.path, "docker");
    mkdirSync(join(path, "x"), { recursive: true });
    await expect(writeFileAtomic(path, "data")).rejects.toSatisfy(
      (e) => isFlannelError(e, "WRITE_FAILED") && typeof e.errno === "string",
    );
    expect(readdirSync(dir.path)).toEqual(["docker"]);
  });

  it("fails with WRITE_FAILED when a parent is a file", async () => {
    writeFileSync(join(dir.path, "file"), "");
    await expect(writeFileAtomic(join(dir.path, "file", "x"), "data")).rejects.toSatisfy((e) =>
      isFlannelError(e, "WRITE_FAILED"),
    );
  });

  it("honours an aborted signal before touching anything", async () => {
    const path = join(dir.path, "a", "subnet.env");
    await expect(writeSubnetEnv(path, env, { signal: AbortSignal.abort() })).rejects.toSatisfy(
      (e) => isFlannelError(e, "ABORTED"),
    );
    expect(readdirSync(dir.path)).toEqual([]);
  });
});

const distIndex = fileURLToPath(new URL("../dist/index.mjs", import.meta.url));
const roMountMissing = (): string | null =>
  process.getuid?.() !== 0
    ? "not root: mounting a read-only tmpfs needs root"
    : (missingCommand("unshare", "util-linux") ??
      (existsSync(distIndex) ? null : "dist/index.mjs is missing: run `npm run build`"));

describe.runIf(tierGate("kernel", roMountMissing()))("writeFileAtomic on a read-only mount", () => {
  it("reports EROFS with the directory it could not create, not Node's ENOENT", () => {
    const dir = tempDir("render-rofs-");
    try {
      // A private mount namespace: the read-only tmpfs exists only for this child and vanishes
      // with it, whatever happens to the test.
      const script = `
        const { writeFileAtomic } = await import(${JSON.stringify(distIndex)});
        try { await writeFileAtomic(process.argv[1] + "/run/flannel/subnet.env", "x"); console.log("{}"); }
        catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, path: e.details.path, message: e.message })); }`;
      const r = spawnSync(
        "unshare",
        [
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          'mount -t tmpfs -o size=64k,ro rofs "$1" && exec "$2" --input-type=module -e "$3" "$1"',
          "sh",
          dir.path,
          process.execPath,
          script,
        ],
        { encoding: "utf8" },
      );
      expect(r.stderr).toBe("");
      expect(JSON.parse(r.stdout)).toEqual({
        code: "WRITE_FAILED",
        errno: "EROFS",
        path: join(dir.path, "run"),
        message: expect.stringContaining(`cannot create directory ${join(dir.path, "run")}: EROFS`),
      });
      expect(readdirSync(dir.path)).toEqual([]);
    } finally {
      dir.cleanup();
    }
  });

  it("reports ENOTDIR under a file", async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.path, "file"), "");
      await expect(writeFileAtomic(join(dir.path, "file", "a", "x"), "data")).rejects.toSatisfy(
        (e) =>
          isFlannelError(e, "WRITE_FAILED") &&
          e.errno === "ENOTDIR" &&
          e.details.path === join(dir.path, "file", "a"),
      );
    } finally {
      dir.cleanup();
    }
  });
});

describe.runIf(tierGate("dash", missingCommand("dash", "dash")))(
  "subnet.env sourced by dash",
  () => {
    it("gives the guide's `source /run/flannel/subnet.env` values", () => {
      const r = sourceWithDash(golden("guide/subnet.env"), [
        "FLANNEL_NETWORK",
        "FLANNEL_SUBNET",
        "FLANNEL_MTU",
        "FLANNEL_IPMASQ",
      ]);
      expect(r.status).toBe(0);
      expect(Object.fromEntries(r.values)).toEqual({
        FLANNEL_NETWORK: "172.30.0.0/16",
        FLANNEL_SUBNET: "172.30.8.1/24",
        FLANNEL_MTU: "1450",
        FLANNEL_IPMASQ: "true",
      });
    });
  },
);
