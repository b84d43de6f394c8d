/**
 * The demo: three nodes join the install guide's network (172.30.0.0/16, SubnetLen 24, vxlan),
 * each node's files are written under `<out>/<node>/`, node 1's kernel plan is printed; with
 * `netns`, the plans are applied in three network namespaces and the nodes ping each other.
 */
import { relative, resolve } from "node:path";
import {
  IP4Net,
  type LeaseStore,
  MemoryLeaseStore,
  type PlanResult,
  planToCommands,
  planVxlan,
} from "@flannel-sdk/core";
import { DEFAULT_SUBNET_FILE } from "@flannel-sdk/render";
import { type NodeFiles, nodeFiles, writeNodeFiles } from "./files.js";
import { DEMO_HOSTS, type DemoHost, GUIDE_CONFIG, GUIDE_PREFIX } from "./guide.js";
import { type JoinedNode, joinNetwork } from "./join.js";
import { seededRandom } from "./rng.js";
import type { NetnsResult } from "./run-netns.js";
import { formatTable } from "./table.js";

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Where the node directories go. Default `./demo-out`. */
  readonly out?: string;
  /** Seeds the subnet choice and the VtepMACs, for reproducible output. Default: random. */
  readonly seed?: number;
  /** Build the hosts as network namespaces, apply the plans, ping across (root, Linux). */
  readonly netns?: boolean;
  /**
   * A store to use instead of the embedded one (the `--etcd` mode passes an etcd store), made
   * with the demo's RNG so a seed fixes the subnets there too. The caller closes it.
   */
  readonly store?: (random: () => number) => DemoStore;
  /** Where output lines go. Default `console.log`. */
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
}

/** The store the demo runs on, and how to describe it. */
export interface DemoStore {
  readonly store: LeaseStore;
  readonly prefix: string;
  /** `the embedded in-memory store …`, `etcd v3 at http://…`. */
  readonly label: string;
  /** How the config is written there: `etcdctl mk` (the guide), `ETCDCTL_API=3 etcdctl put`. */
  readonly writeCommand: string;
  /** The etcd endpoints written into /etc/sysconfig/flanneld. */
  readonly endpoints: readonly string[];
}

/** What the demo did, as data (the tests read it). */
export interface DemoResult {
  readonly nodes: readonly JoinedNode[];
  readonly files: ReadonlyMap<string, NodeFiles>;
  /** The node directories written. */
  readonly dirs: readonly string[];
  /** Each node's data-plane plan. */
  readonly plans: ReadonlyMap<string, PlanResult>;
  /** Node 1's plan as `ip` / `bridge` commands. */
  readonly commands: readonly string[];
  readonly netns: NetnsResult | null;
}

/** The MTU of flannel.1 and FLANNEL_MTU: the underlay's minus vxlan's 50 bytes. */
function planFor(
  node: JoinedNode,
  nodes: readonly JoinedNode[],
  config: Parameters<typeof planVxlan>[0]["config"],
  host: DemoHost,
): PlanResult {
  return planVxlan({
    config,
    ownLease: node.lease,
    leases: nodes.map((n) => n.lease),
    externalInterface: { name: host.iface, mtu: host.mtu },
  });
}

/** Runs the demo; see {@link DemoOptions}. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  const { signal } = options;
  const started = performance.now();
  const out = resolve(options.out ?? "demo-out");
  const random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  const hosts = DEMO_HOSTS;
  const shown = (path: string) => {
    const rel = relative(process.cwd(), path);
    return rel === "" ? "." : rel.startsWith("..") ? path : rel;
  };

  const own = options.store === undefined;
  const backing: DemoStore = options.store?.(random) ?? {
    store: new MemoryLeaseStore({ config: GUIDE_CONFIG, prefix: GUIDE_PREFIX, random }),
    prefix: GUIDE_PREFIX,
    label: "the embedded in-memory store (MemoryLeaseStore: no etcd, no root)",
    writeCommand: "etcdctl mk",
    endpoints: [
      "https://172.20.0.113:2379",
      "https://172.20.0.114:2379",
      "https://172.20.0.115:2379",
    ],
  };
  const { store, prefix } = backing;
  try {
    log(`flannel-sdk demo: the install guide's network on ${backing.label}`);
    log("");
    if (!own) await store.putNetworkConfig(GUIDE_CONFIG, { signal });
    log(
      `1. The network config, as the guide writes it (${backing.writeCommand} ${prefix}/config):`,
    );
    log(`   ${GUIDE_CONFIG}`);
    const { config, nodes } = await joinNetwork(store, hosts, prefix, random, signal);
    const net = IP4Net.parse(config.network!);
    const size = 2 ** (32 - config.subnetLen);
    const count =
      (IP4Net.parse(`${config.subnetMax}/32`).ip - IP4Net.parse(`${config.subnetMin}/32`).ip) /
        size +
      1;
    log(
      `   → Network ${net}, SubnetLen ${config.subnetLen}: SubnetMin ${config.subnetMin} … SubnetMax ${config.subnetMax}, ` +
        `${count} leasable subnets (${new IP4Net(net.ip, config.subnetLen)} is never leased); backend vxlan, VNI 1, UDP 8472`,
    );
    log("");

    log(
      "2. Three nodes start flanneld; each acquires a lease for its public IP and publishes the MAC of its flannel.1:",
    );
    log("");
    const plans = new Map<string, PlanResult>();
    for (const n of nodes) plans.set(n.host.name, planFor(n, nodes, config, n.host));
    const mtu = plans.get(nodes[0]!.host.name)!.mtu;
    const rows = nodes.map((n) => {
      const [ipText] = n.lease.subnet.split("/");
      const first = IP4Net.parse(n.lease.subnet);
      return [
        n.host.name,
        n.host.publicIP,
        n.lease.subnet,
        `${new IP4Net((first.ip + 1) >>> 0, first.prefixLen)}`,
        n.vtepMAC,
        `${ipText}/32`,
      ];
    });
    for (const line of formatTable(
      [
        "node",
        "public IP",
        "subnet (lease)",
        "FLANNEL_SUBNET (docker0)",
        "VtepMAC (flannel.1)",
        "flannel.1 address",
      ],
      rows,
    )) {
      log(`   ${line}`);
    }
    log("");
    log(`   What the store holds (etcdctl ls ${prefix}/subnets; etcdctl get <key>):`);
    for (const n of nodes) {
      log(`   ${n.key}`);
      log(`     ${n.json}`);
    }
    log("");

    log(`3. Each node's files, at their real paths under ${shown(out)}/<node>/:`);
    log("");
    const files = new Map<string, NodeFiles>();
    const dirs: string[] = [];
    for (const n of nodes) {
      const f = nodeFiles(config, n, mtu, backing.endpoints, prefix);
      files.set(n.host.name, f);
      dirs.push(await writeNodeFiles(out, n, f, signal));
    }
    const first = files.get(nodes[0]!.host.name)!;
    for (const line of formatTable(
      ["file (node1)", "mode", "written by"],
      first.files.map((f) => [f.path, f.mode.toString(8), f.origin]),
    )) {
      log(`   ${line}`);
    }
    log("");
    for (const path of [DEFAULT_SUBNET_FILE, "/run/flannel/docker"]) {
      log(`   $ cat ${shown(resolve(out, nodes[0]!.host.name))}${path}`);
      for (const line of first.files
        .find((f) => f.path === path)!
        .content.trimEnd()
        .split("\n")) {
        log(`   ${line}`);
      }
    }
    log("");

    const plan1 = plans.get(nodes[0]!.host.name)!;
    const commands = planToCommands(plan1);
    log(
      `4. node1's kernel plan (planVxlan), as ip / bridge commands: flannel.1, its /32, and per remote node a neighbour, an FDB entry and a route:`,
    );
    log("");
    for (const c of commands) log(`   ${c}`);
    log("");

    let netns: NetnsResult | null = null;
    if (options.netns) {
      // Loaded only here: the default mode needs neither netlink nor diagnose (nor their build).
      const { runNetns } = await import("./run-netns.js");
      netns = await runNetns({
        nodes,
        plans,
        files,
        dirs,
        store,
        prefix,
        log,
        ...(signal ? { signal } : {}),
      });
    } else {
      log(
        "   (npm run demo -- --netns applies these plans in three network namespaces and pings across; root)",
      );
    }

    log("");
    log(
      `Done in ${((performance.now() - started) / 1000).toFixed(1)} s. The walk-through of the guide with the SDK: docs/guide.md`,
    );
    return { nodes, files, dirs, plans, commands, netns };
  } finally {
    if (own) await store.close();
  }
}
