/**
 * `--netns`: applies each node's plan in its own network namespace with @flannel-sdk/netlink,
 * gives docker0 its FLANNEL_SUBNET (the guide's `ifconfig docker0 $FLANNEL_SUBNET`), installs
 * the ip-masq rules, pings every node's docker0 from every other node's, and removes everything,
 * also on failure and on Ctrl-C.
 */
import type { LeaseStore, PlanResult } from "@flannel-sdk/core";
import { type Diagnosis, diagnose, formatDiagnosis } from "@flannel-sdk/diagnose";
import { type NetlinkHandle, openHandle } from "@flannel-sdk/netlink";
import type { NodeFiles } from "./files.js";
import { IP_MASQ_RULES_FILE } from "./files.js";
import type { JoinedNode } from "./join.js";
import { hasIptables, NetnsLab, netnsMissing } from "./netns.js";
import { formatTable } from "./table.js";

/** One ping between two nodes' docker0 addresses. */
export interface PingResult {
  readonly from: string;
  readonly to: string;
  readonly src: string;
  readonly dst: string;
  readonly ok: boolean;
  readonly rttMs: number | null;
}

/** What the namespace run did. */
export interface NetnsResult {
  readonly namespaces: readonly string[];
  readonly changes: ReadonlyMap<string, number>;
  readonly pings: readonly PingResult[];
  readonly ipMasq: boolean;
  /** Each node's docker0 address. */
  readonly bridges: ReadonlyMap<string, string>;
  /** node1 diagnosed after the pings, and again after one of its routes was deleted. */
  readonly diagnosis: { readonly healthy: Diagnosis; readonly broken: Diagnosis } | null;
}

export interface RunNetnsInput {
  readonly nodes: readonly JoinedNode[];
  readonly plans: ReadonlyMap<string, PlanResult>;
  readonly files: ReadonlyMap<string, NodeFiles>;
  readonly dirs: readonly string[];
  readonly store: LeaseStore;
  readonly prefix: string;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
  /**
   * Runs inside the live lab, before it is torn down (the demo's diagnose step uses it).
   * @internal
   */
  readonly inLab?: (lab: NetnsLab, handles: ReadonlyMap<string, NetlinkHandle>) => Promise<void>;
}

/** Builds the lab, applies, pings, tears down. @throws Error when --netns cannot run here. */
export async function runNetns(input: RunNetnsInput): Promise<NetnsResult> {
  const missing = netnsMissing();
  if (missing !== null) throw new Error(missing);
  const { nodes, plans, files, log } = input;
  const lab = new NetnsLab();
  const teardown = () => lab.destroy();
  const onSignal = (sig: NodeJS.Signals) => {
    teardown();
    process.kill(process.pid, sig);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", teardown);
  const handles = new Map<string, NetlinkHandle>();
  try {
    log(`5. --netns: three hosts as network namespaces on one underlay bridge (${lab.prefix}-*):`);
    log("");
    lab.build(nodes.map((n) => n.host));
    const namespaces = [...lab.namespaces];
    const ipMasq = hasIptables();
    const changes = new Map<string, number>();
    const bridges = new Map<string, string>();
    await Promise.all(
      nodes.map(async (n) => {
        handles.set(
          n.host.name,
          await openHandle({
            netns: lab.ns(n.host.name),
            ...(input.signal ? { signal: input.signal } : {}),
          }),
        );
      }),
    );
    for (const n of nodes) {
      const h = handles.get(n.host.name)!;
      const report = await h.applyPlan(plans.get(n.host.name)!, { signal: input.signal });
      if (report.link?.mac !== n.vtepMAC) {
        throw new Error(
          `${n.host.name}: flannel.1 has MAC ${report.link?.mac}, the lease says ${n.vtepMAC}`,
        );
      }
      changes.set(n.host.name, report.changes.length);
      const subnetEnv = files
        .get(n.host.name)!
        .files.find((f) => f.path === "/run/flannel/subnet.env")!.content;
      const flannelSubnet = /^FLANNEL_SUBNET=(.*)$/m.exec(subnetEnv)![1]!;
      await h.ensureBridge({ name: "docker0" });
      await h.ifconfigAddress("docker0", flannelSubnet);
      bridges.set(n.host.name, flannelSubnet);
      if (ipMasq) {
        const rules = files
          .get(n.host.name)!
          .files.find((f) => f.path === IP_MASQ_RULES_FILE)!.content;
        lab.iptablesRestore(n.host.name, rules);
      }
      log(
        `   ${n.host.name}  ${lab.ns(n.host.name)}  applyPlan: ${report.changes.length} changes (flannel.1 ${report.link.mac}, mtu ${report.link.mtu}); ` +
          `docker0 ${flannelSubnet}${ipMasq ? "; ip-masq rules installed" : ""}`,
      );
    }
    if (!ipMasq)
      log(
        "   (iptables-restore not found: the ip-masq rules were not installed; apt-get install -y iptables)",
      );
    log("");

    const pairs = nodes.flatMap((a) => nodes.filter((b) => b !== a).map((b) => [a, b] as const));
    const pings = await Promise.all(
      pairs.map(async ([a, b]) => {
        const src = bridges.get(a.host.name)!.split("/")[0]!;
        const dst = bridges.get(b.host.name)!.split("/")[0]!;
        const r = await lab.ping(a.host.name, src, dst);
        return { from: a.host.name, to: b.host.name, src, dst, ok: r.ok, rttMs: r.rttMs };
      }),
    );
    log("   ping from docker0 to docker0 (through flannel.1, vxlan over the underlay):");
    log("");
    const header = [
      "from \\ to",
      ...nodes.map((n) => `${n.host.name} ${bridges.get(n.host.name)!.split("/")[0]}`),
    ];
    const rows = nodes.map((a) => [
      `${a.host.name} ${bridges.get(a.host.name)!.split("/")[0]}`,
      ...nodes.map((b) => {
        if (a === b) return "-";
        const p = pings.find((x) => x.from === a.host.name && x.to === b.host.name)!;
        return p.ok ? `ok ${p.rttMs === null ? "" : `${p.rttMs} ms`}`.trim() : "FAILED";
      }),
    ]);
    for (const line of formatTable(header, rows)) log(`   ${line}`);
    log("");
    const failed = pings.filter((p) => !p.ok).length;
    log(
      failed === 0
        ? `   All ${pings.length} pings went through.`
        : `   ${failed} of ${pings.length} pings FAILED.`,
    );

    // diagnose node1, then break it on purpose and diagnose again
    const [n1, n2] = nodes;
    const h1 = handles.get(n1!.host.name)!;
    const options = {
      store: input.store,
      netlink: h1,
      subnetFile: `${input.dirs[0]}/run/flannel/subnet.env`,
      prefix: input.prefix,
      storeLabel: "the demo's store",
      ...(ipMasq ? {} : { iptablesSave: null }),
      ...(input.signal ? { signal: input.signal } : {}),
    };
    const healthy = await diagnose(options);
    log("");
    log(
      `6. diagnose node1 (@flannel-sdk/diagnose: store, subnet.env, flannel.1, docker0, peers, ip-masq):`,
    );
    log("");
    for (const line of formatDiagnosis(healthy).trimEnd().split("\n"))
      log(line ? `   ${line}` : "");
    await h1.routeDel({
      dst: n2!.lease.subnet,
      gateway: n2!.lease.subnet.split("/")[0]!,
      dev: "flannel.1",
      onlink: true,
    });
    const broken = await diagnose(options);
    log("");
    log(`   ip route del ${n2!.lease.subnet} on node1, and diagnose again:`);
    log("");
    const text = formatDiagnosis(broken).trimEnd().split("\n");
    for (const line of text.slice(text.findIndex((l) => l.startsWith("ERROR")))) {
      log(line ? `   ${line}` : "");
    }
    if (input.inLab) await input.inLab(lab, handles);
    return { namespaces, changes, pings, ipMasq, bridges, diagnosis: { healthy, broken } };
  } finally {
    await Promise.all([...handles.values()].map((h) => h[Symbol.asyncDispose]()));
    const made = [...lab.namespaces];
    teardown();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", teardown);
    if (made.length > 0) log(`   Removed the namespaces ${made.join(", ")}.`);
  }
}
