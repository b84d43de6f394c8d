// flanneld's command line and FLANNELD_* environment, parsed by @flannel-sdk/etcd, as the agent's options.
import { FlannelError } from "@flannel-sdk/core";
import { etcdOptionsFromFlanneld, type FlanneldEtcdOptions } from "@flannel-sdk/etcd";

export interface AgentOptions {
  readonly api: "v2" | "v3";
  readonly store: FlanneldEtcdOptions["store"];
  readonly iface: readonly string[];
  readonly ifaceRegex: readonly string[];
  readonly ifaceCanReach: string | null;
  readonly publicIP: string | null;
  readonly publicIPv6: string | null;
  readonly ipMasq: boolean;
  readonly subnetFile: string;
  readonly renewMarginMs: number;
  readonly iptablesResync: number;
  readonly forwardRules: boolean;
  readonly randomFully: boolean;
  readonly verbosity: number;
  readonly warnings: readonly string[];
}

export const USAGE = `Usage: flanneld-ts [flags]          run the agent
       flanneld-ts diagnose [--json] [--flannel-version=V] [flags]   check this node (exit 1 on
         an error finding; with no flannel rule there, expect flannel V's, default flanneld-ts's)
  -etcd-endpoints=URL[,URL]   (default http://127.0.0.1:4001,http://127.0.0.1:2379)
  -etcd-prefix=PATH           (default /coreos.com/network)
  -etcd-api=v3|v2             etcd API of the config and leases (default v3)
  -etcd-cafile/-etcd-certfile/-etcd-keyfile=FILE, -etcd-username/-etcd-password=TEXT
  -iface=NAME|IP (repeatable), -iface-regex=RE (repeatable), -iface-can-reach=IP, -public-ip=IP, -public-ipv6=IP
  -ip-masq, -subnet-file=PATH (default /run/flannel/subnet.env)
  -subnet-lease-renew-margin=MINUTES (default 60), -iptables-resync=SECONDS (default 5)
  -iptables-forward-rules (default true), -ip-masq-fully-random-disable, -h/--help
  -v=LEVEL (default 0; 2: also log every neighbour, FDB entry and route, as flanneld -v=2)
Every flag may be written -flag or --flag, and set as FLANNELD_<FLAG> (FLANNELD_ETCD_ENDPOINTS);
flanneld's other flags are accepted and ignored with a warning. Bad flags: exit 2.
`;

/** @throws FlannelError `FLANNELD_OPTIONS_INVALID` */
export function agentOptions(argv: readonly string[], env: NodeJS.ProcessEnv): AgentOptions {
  const o = etcdOptionsFromFlanneld({ argv, env });
  const f = o.flags;
  const api = f["etcd-api"];
  if (api !== "v2" && api !== "v3") {
    throw new FlannelError(
      "FLANNELD_OPTIONS_INVALID",
      `-etcd-api must be v2 or v3, not ${String(api)}`,
      { field: "etcd-api" },
    );
  }
  const resync = Number(f["iptables-resync"]);
  if (!(resync >= 1)) {
    throw new FlannelError("FLANNELD_OPTIONS_INVALID", "-iptables-resync must be at least 1", {
      field: "iptables-resync",
    });
  }
  return {
    api,
    store: o.store,
    iface: f.iface as readonly string[],
    ifaceRegex: f["iface-regex"] as readonly string[],
    ifaceCanReach: (f["iface-can-reach"] as string) || null,
    publicIP: o.publicIP,
    publicIPv6: o.publicIPv6,
    ipMasq: f["ip-masq"] === true,
    subnetFile: o.subnetFile,
    renewMarginMs: o.renewMarginMs,
    iptablesResync: resync,
    forwardRules: f["iptables-forward-rules"] === true,
    randomFully: f["ip-masq-fully-random-disable"] !== true,
    verbosity: Number(f.v),
    warnings: o.warnings,
  };
}
