/**
 * flanneld-ts run the way the install guide runs flanneld, on three hosts (network namespaces on
 * one underlay bridge) and a real etcd: v3 + vxlan, v2 + vxlan (config written with etcdctl v2
 * `mk`), v3 + host-gw.
 */
import { join } from "node:path";
import { NotifySocket, tierGate } from "@flannel-sdk/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bridgej,
  Cluster,
  e2eMissing,
  eventually,
  type Host,
  inNs,
  ipj,
  MK_DOCKER_OPTS,
  PREFIX,
} from "./cluster.js";

const run = tierGate("kernel+etcd", e2eMissing());
const EXIT_LEASE_LOST = 3;

interface Scenario {
  readonly api: 2 | 3;
  readonly backend: "vxlan" | "host-gw";
}

function scenario({ api, backend }: Scenario) {
  const config = `{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"${backend}"}}`;
  const vxlan = backend === "vxlan";
  const mtu = vxlan ? 1450 : 1500;
  const apiArgs = api === 2 ? ["-etcd-api=v2"] : [];

  describe.runIf(run).sequential(`etcd v${api} + ${backend}`, () => {
    let c: Cluster;
    beforeAll(async () => {
      c = await Cluster.start(3, { enableV2: api === 2 });
    });
    afterAll(async () => {
      await c?.close();
    });

    const leaseKey = (h: Host) => `${PREFIX}/subnets/${h.subnetIP()}-24`;
    const getValue = async (key: string) =>
      (
        await (api === 3
          ? c.etcdctl(3, "get", key, "--print-value-only")
          : c.etcdctl(2, "get", key))
      ).trim();
    const vtepMac = (h: Host) => ipj(h.ns, "link", "show", "flannel.1")[0]?.address as string;
    const ping = (from: Host, to: Host) => from.pings(to);
    const allPairsPing = async () => {
      for (const a of c.hosts) {
        for (const b of c.hosts) {
          if (a !== b) await eventually(`${a.ip} → ${b.ip} ping`, () => ping(a, b), 20_000);
        }
      }
    };

    it("waits for the config, then every host comes up as flanneld would", async () => {
      // host 1 runs as a Type=notify unit would: NOTIFY_SOCKET set
      const notify = await NotifySocket.open(join(c.tmp, "notify.sock"));
      c.hosts[0]!.start(apiArgs, { NOTIFY_SOCKET: notify.path });
      // host 2 logs what it programs per lease (-v=2); the others only the leases (flanneld's -v=0)
      c.hosts[1]!.start([...apiArgs, "-v=2"]);
      c.hosts[2]!.start(apiArgs);
      // No config yet: flanneld's retry loop, once a second.
      await eventually("the missing-config log line", () =>
        c.hosts.every((h) => h.agent!.stderr.includes("Couldn't fetch network config")),
      );
      if (api === 3) await c.etcdctl(3, "put", `${PREFIX}/config`, config);
      else {
        await c.etcdctl(2, "mkdir", PREFIX);
        await c.etcdctl(2, "mk", `${PREFIX}/config`, config);
      }
      await Promise.all(c.hosts.map((h) => h.agent!.ready()));
      const pid = c.hosts[0]!.agent!.child.pid;
      await eventually("READY=1 on the notify socket", () => notify.messages.length > 0);
      notify.close();
      // systemd-notify then sends BARRIER=1 from its own pid (systemd answers it by closing the fd)
      expect(notify.messages.filter((m) => !m.endsWith(" BARRIER=1"))).toEqual([
        `pid=${pid} MAINPID=${pid} READY=1`,
      ]);

      const subnets = new Set<string>();
      for (const h of c.hosts) {
        // subnet.env, byte for byte
        expect(h.subnetEnv()).toMatch(
          new RegExp(
            `^FLANNEL_NETWORK=172\\.30\\.0\\.0/16\\nFLANNEL_SUBNET=172\\.30\\.\\d+\\.1/24\\nFLANNEL_MTU=${mtu}\\nFLANNEL_IPMASQ=true\\n$`,
          ),
        );
        subnets.add(h.flannelSubnet());
        // the lease in etcd
        const data = vxlan ? `,"BackendData":{"VNI":1,"VtepMAC":"${vtepMac(h)}"}` : "";
        const v6 = api === 3 ? `"PublicIPv6":null,` : "";
        expect(await getValue(leaseKey(h))).toBe(
          `{"PublicIP":"${h.ip}",${v6}"BackendType":"${backend}"${data}}`,
        );
        if (vxlan) {
          // flannel.1: the subnet's network address /32, MTU 1450
          const [dev] = ipj(h.ns, "-d", "addr", "show", "dev", "flannel.1");
          expect(dev).toMatchObject({
            mtu: 1450,
            linkinfo: { info_kind: "vxlan", info_data: { id: 1, local: h.ip } },
          });
          expect(
            dev!.addr_info.filter((a: { family: string }) => a.family === "inet"),
          ).toMatchObject([{ local: h.subnetIP(), prefixlen: 32 }]);
        }
        // the guide's `ifconfig docker0 $FLANNEL_SUBNET`, with the netlink helper
        await h.docker0();
        const [docker0] = ipj(h.ns, "addr", "show", "dev", "docker0");
        expect(docker0!.addr_info[0]).toMatchObject({
          local: h.flannelSubnet().split("/")[0],
          prefixlen: 24,
        });
        // the guide's ExecStartPost=: mk-docker-opts -k DOCKER_NETWORK_OPTIONS -d …
        const out = join(h.dir, "docker");
        const mk = inNs(h.ns, [
          MK_DOCKER_OPTS,
          "-f",
          h.subnetFile,
          "-k",
          "DOCKER_NETWORK_OPTIONS",
          "-d",
          out,
        ]);
        expect(mk.stderr).toBe("");
        expect(mk.status).toBe(0);
        const s = h.flannelSubnet();
        expect((await import("node:fs")).readFileSync(out, "utf8")).toBe(
          `DOCKER_OPT_BIP="--bip=${s}"\nDOCKER_OPT_IPMASQ="--ip-masq=false"\nDOCKER_OPT_MTU="--mtu=${mtu}"\nDOCKER_NETWORK_OPTIONS=" --bip=${s} --ip-masq=false --mtu=${mtu}"\n`,
        );
        // -ip-masq: flannel's rules in the host's nat table
        const save = inNs(h.ns, ["iptables-save", "-t", "nat"]).stdout;
        expect(save).toContain(
          `-A FLANNEL-POSTRTG -s ${h.subnetIP()}/24 -d 172.30.0.0/16 -m comment --comment "flanneld masq" -j RETURN`,
        );
      }
      expect(subnets.size).toBe(3);
    });

    it("every pair of hosts pings between docker0 addresses; flanneld-ts diagnose finds nothing wrong", async () => {
      await allPairsPing();
      // every route is in: host 2 (-v=2) logged it, the others only the lease
      const peerLines = /\] (neighbor|fdb|route) replace: /;
      await eventually("host 2's route lines", () => peerLines.test(c.hosts[1]!.agent!.stderr));
      for (const h of [c.hosts[0]!, c.hosts[2]!]) {
        expect(h.agent!.stderr).toContain("Subnet added: ");
        expect(h.agent!.stderr).not.toMatch(peerLines);
      }
      for (const h of c.hosts) {
        const d = await h.diagnose(apiArgs);
        expect(
          d.report?.findings.filter((f: { severity: string }) => f.severity === "error"),
        ).toEqual([]);
        expect(d).toMatchObject({
          status: 0,
          report: { ok: true, node: { publicIP: h.ip, bridge: "docker0" } },
        });
      }
      if (!vxlan) {
        const [a, b] = c.hosts;
        expect(ipj(a!.ns, "route", "show", `${b!.subnetIP()}/24`)).toMatchObject([
          { gateway: b!.ip, dev: "eth0" },
        ]);
      }
    });

    if (vxlan) {
      it("someone deletes flannel.1: the agent recreates it with the same MAC and traffic resumes", async () => {
        const h = c.hosts[0]!;
        const mac = vtepMac(h);
        expect(inNs(h.ns, ["ip", "link", "del", "flannel.1"])).toMatchObject({ status: 0 });
        await eventually("flannel.1 to come back", () => vtepMac(h) === mac);
        await allPairsPing();
        await eventually("the recreation log line", () =>
          h.agent!.stderr.includes("flannel.1 recreated"),
        );
      });

      it("kill -9 and start again: the same subnet, and traffic resumes", async () => {
        const h = c.hosts[1]!;
        const before = h.subnetEnv();
        const mac = vtepMac(h);
        h.agent!.kill("SIGKILL");
        expect(await h.agent!.exited).toBe(null);
        await h.start(apiArgs).ready();
        expect(h.subnetEnv()).toBe(before);
        expect(vtepMac(h)).toBe(mac);
        await allPairsPing();
      });

      it("deleting a host's lease: that agent exits non-zero, the others drop its routes, neighbours and FDB entries", async () => {
        const gone = c.hosts[2]!;
        const mac = vtepMac(gone);
        const dst = `${gone.subnetIP()}/24`;
        for (const h of c.hosts.slice(0, 2)) {
          expect(ipj(h.ns, "route", "show", dst)).toHaveLength(1);
        }
        if (api === 3) await c.etcdctl(3, "del", leaseKey(gone));
        else await c.etcdctl(2, "rm", leaseKey(gone));
        expect(await gone.agent!.exited).toBe(EXIT_LEASE_LOST);
        expect(gone.agent!.stderr).toContain("Lease has been revoked");
        for (const h of c.hosts.slice(0, 2)) {
          await eventually(
            `${h.ns} to forget ${dst}`,
            () => ipj(h.ns, "route", "show", dst).length === 0,
          );
          await eventually(`${h.ns} to drop the neighbour`, () =>
            ipj(h.ns, "neigh", "show", "dev", "flannel.1").every((n) => n.dst !== gone.subnetIP()),
          );
          await eventually(`${h.ns} to drop the FDB entry`, () =>
            bridgej(h.ns, "fdb", "show", "dev", "flannel.1").every((f) => f.mac !== mac),
          );
        }
        const [a, b] = c.hosts;
        expect(ping(a!, b!)).toBe(true);
      });

      it("started again without a lease, it asks for its previous subnet (subnet.env) and traffic resumes", async () => {
        const h = c.hosts[2]!;
        const before = h.subnetEnv();
        await h.start(apiArgs).ready();
        expect(h.agent!.stderr).toContain("Found previously leased subnet");
        expect(h.subnetEnv()).toBe(before);
        expect(await getValue(leaseKey(h))).toContain(`"PublicIP":"${h.ip}"`);
        await allPairsPing();
      });
    }

    it("SIGTERM: every running agent closes everything and exits 0", async () => {
      const running = c.hosts.filter((h) => h.agent!.child.exitCode === null);
      for (const h of running) h.agent!.kill("SIGTERM");
      for (const h of running) {
        expect(await h.agent!.exited).toBe(0);
        expect(h.agent!.stderr).toContain("Exiting cleanly");
      }
    });
  });
}

scenario({ api: 3, backend: "vxlan" });
scenario({ api: 2, backend: "vxlan" });
scenario({ api: 3, backend: "host-gw" });
