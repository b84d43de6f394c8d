/**
 * IPv6 files against flannel v0.20.2 itself: `subnet.env` as real flanneld v0.20.2 wrote it (dual
 * stack and IPv6-only, golden/v0.20.2), and `mk-docker-opts` on those files next to that tag's
 * `mk-docker-opts.sh` run by dash: same bytes, same stderr, same exit status.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseNetworkConfig } from "@flannel-sdk/core";
import { missingCommand, tierGate, which } from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  parseSubnetEnv,
  previousSubnetFromText,
  renderSubnetEnv,
  subnetEnvFromLease,
} from "../src/index.js";
import { tempDir } from "./helpers/tools.js";

const golden = fileURLToPath(new URL("golden/v0.20.2/", import.meta.url));
const DUAL = join(golden, "dual-stack.subnet.env");
const V6ONLY = join(golden, "ipv6-only.subnet.env");
const attrs = {
  publicIP: "0.0.0.0",
  publicIPv6: "fd99::11",
  backendType: "host-gw",
  backendData: null,
  backendV6Data: null,
};

describe("subnet.env with IPv6, as flanneld v0.20.2 writes it", () => {
  it("dual stack (vxlan): the IPv6 pair after the IPv4 one, the network as configured", () => {
    const config = parseNetworkConfig(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd42:42::/56","Backend":{"Type":"vxlan"}}',
    );
    const lease = {
      subnet: "10.244.19.0/24",
      ipv6Subnet: "fd42:42:0:65::/64",
      attrs,
      expiration: null,
    };
    const env = subnetEnvFromLease(config, lease, { mtu: 1450, ipMasq: true });
    expect(renderSubnetEnv(env)).toBe(readFileSync(DUAL, "utf8"));
  });

  it("IPv6-only (host-gw): no FLANNEL_NETWORK / FLANNEL_SUBNET at all", () => {
    const config = parseNetworkConfig(
      '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd42:42::/56","Backend":{"Type":"host-gw"}}',
    );
    const lease = { subnet: "0.0.0.0/0", ipv6Subnet: "fd42:42:0:3c::/64", attrs, expiration: null };
    const env = subnetEnvFromLease(config, lease, { mtu: 1500, ipMasq: true });
    expect(renderSubnetEnv(env)).toBe(readFileSync(V6ONLY, "utf8"));
    expect(parseSubnetEnv(readFileSync(V6ONLY, "utf8"))).toMatchObject({
      network: null,
      subnet: null,
      ipv6Subnet: "fd42:42:0:3c::1/64",
    });
  });

  it("a restart reads both previous subnets back (flanneld's ReadCIDRFromSubnetFile / ReadIP6CIDRFromSubnetFile)", () => {
    expect(previousSubnetFromText(readFileSync(DUAL, "utf8"), DUAL)).toMatchObject({
      network: "10.244.0.0/16",
      subnet: "10.244.19.0/24",
      ipv6Network: "fd42:42::/56",
      ipv6Subnet: "fd42:42:0:65::/64",
      warnings: [],
    });
  });
});

/** flannel's shared binaries and scripts: `$FLANNEL_SHARED`, else `shared/flannel` beside an ancestor. */
function sharedScript(): string | null {
  const dirs = [process.env.FLANNEL_SHARED ?? ""];
  for (let d = golden; dirname(d) !== d; d = dirname(d))
    dirs.push(join(dirname(d), "shared/flannel"));
  const found = dirs.find((d) => d !== "" && existsSync(join(d, "mk-docker-opts-v0.20.2.sh")));
  return found === undefined ? null : join(found, "mk-docker-opts-v0.20.2.sh");
}
const script = sharedScript();
const bin = fileURLToPath(new URL("../bin/mk-docker-opts.js", import.meta.url));
const run = tierGate(
  "interop (mk-docker-opts v0.20.2)",
  missingCommand("dash", "dash") ??
    (script === null
      ? "mk-docker-opts-v0.20.2.sh not found in ../shared/flannel (or $FLANNEL_SHARED): put flannel's files beside the checkout"
      : null),
);

describe.runIf(run)("mk-docker-opts on IPv6 subnet.env files, next to v0.20.2's script", () => {
  // PATH: the tools the script needs and a stand-in `ip` printing a given route table, so the
  // route check of both reads that table and never this host's
  let dir: ReturnType<typeof tempDir>;
  let path: string;
  beforeAll(() => {
    dir = tempDir("render-mk6-");
    path = join(dir.path, "bin");
    mkdirSync(path);
    for (const tool of ["awk", "cut", "grep", "cat"]) symlinkSync(which(tool)!, join(path, tool));
    writeFileSync(join(path, "ip"), '#!/bin/sh\nprintf "%s" "$ROUTES"\n', { mode: 0o755 });
  });
  afterAll(() => dir?.cleanup());

  const runBoth = (input: string, args: string[], routes = "") => {
    const out = (who: string) => join(dir.path, `${who}-${args.join("")}-${input.length}`);
    const env = { PATH: path, ROUTES: routes };
    const theirs = spawnSync(which("dash")!, [script!, "-f", input, "-d", out("sh"), ...args], {
      env,
      encoding: "utf8",
    });
    const ours = spawnSync(process.execPath, [bin, "-f", input, "-d", out("ts"), ...args], {
      env,
      encoding: "utf8",
    });
    return { theirs, ours, read: (who: "sh" | "ts") => readFileSync(out(who), "utf8") };
  };

  for (const [name, input] of [
    ["dual stack", DUAL],
    ["IPv6-only", V6ONLY],
  ] as const) {
    for (const args of [[], ["-c"], ["-i"], ["-m", "-k", "DOCKER_NETWORK_OPTIONS"]]) {
      it(`${name} ${args.join(" ") || "(defaults)"}: same bytes, stderr and exit status`, () => {
        const r = runBoth(input, args);
        expect(r.ours.status).toBe(r.theirs.status);
        expect(r.ours.stderr).toBe(r.theirs.stderr);
        expect(r.read("ts")).toBe(r.read("sh"));
        // v0.20.2's script knows no IPv6: no --ipv6 / --fixed-cidr-v6, and no --bip without IPv4
        expect(r.read("sh")).not.toMatch(/ipv6|fixed-cidr-v6/);
        if (input === V6ONLY) expect(r.read("sh")).not.toContain("--bip");
      });
    }
  }

  it("dual stack, the IPv4 subnet already routed via a gateway: both exit 1 with the same message", () => {
    const r = runBoth(DUAL, [], "10.244.19.0/24 via 10.99.0.12 dev eth0\n");
    expect(r.theirs.status).toBe(1);
    expect(r.ours.status).toBe(1);
    expect(r.ours.stderr).toBe(r.theirs.stderr);
    expect(r.read("ts")).toBe(r.read("sh"));
  });
});
