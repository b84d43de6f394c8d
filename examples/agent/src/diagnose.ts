// `flanneld-ts diagnose`: the install guide's 验证 / debug checks on this node, by @flannel-sdk/diagnose.
import { FlannelError } from "@flannel-sdk/core";
import { diagnose, formatDiagnosis } from "@flannel-sdk/diagnose";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "@flannel-sdk/etcd";
import { openHandle } from "@flannel-sdk/netlink";
import { type IpMasqFlavor, ipMasqFlavorOf } from "@flannel-sdk/render";
import { agentOptions } from "./options.js";

/** Checks this node with the agent's own flags; 0 when no finding is an error, else 1. */
export async function runDiagnose(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const json = argv.some((a) => /^--?json$/.test(a));
  // --flannel-version=V: the rules of flannel V are expected when the node has none of flannel's
  const version = argv.flatMap((a) => /^--?flannel-version=(.+)$/.exec(a)?.[1] ?? []).pop();
  let masqFlavor: IpMasqFlavor = "current";
  try {
    if (version !== undefined) masqFlavor = ipMasqFlavorOf(version);
  } catch (e) {
    throw new FlannelError("FLANNELD_OPTIONS_INVALID", `-flannel-version: ${(e as Error).message}`);
  }
  const ours = /^--?(json|flannel-version=.*)$/; // the subcommand's own flags
  const rest = argv.filter((a) => !ours.test(a));
  const o = agentOptions(rest, env);
  const v3 = new EtcdLeaseStore(o.store);
  const v2 = new EtcdV2LeaseStore(o.store);
  const [store, other] = o.api === "v2" ? [v2, v3] : [v3, v2];
  const label = (api: string) => `etcd ${api} at ${o.store.endpoints.join(",")}`;
  try {
    await using netlink = await openHandle();
    const d = await diagnose({
      store,
      netlink,
      subnetFile: o.subnetFile,
      publicIP: o.publicIP,
      publicIPv6: o.publicIPv6,
      iface: o.iface[0] ?? null,
      renewMarginMinutes: o.renewMarginMs / 60_000,
      masqFlavor,
      prefix: o.store.prefix,
      storeLabel: label(o.api),
      otherApiStore: { label: label(o.api === "v2" ? "v3" : "v2"), store: other },
    });
    process.stdout.write(`${formatDiagnosis(d, { format: json ? "json" : "text" })}\n`);
    return d.ok ? 0 : 1;
  } finally {
    await Promise.all([v3.close(), v2.close()]);
  }
}
