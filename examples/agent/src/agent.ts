// The daemon: what flanneld does for the vxlan and host-gw backends, from the SDK's public APIs.
import { setMaxListeners } from "node:events";
import type { LeaseStore } from "@flannel-sdk/core";
import { LeaseWatcher, planHostGw, planVxlan, waitForNetworkConfig } from "@flannel-sdk/core";
import { EtcdLeaseStore, EtcdV2LeaseStore } from "@flannel-sdk/etcd";
import {
  keepDataPlane,
  openHandle,
  registerBackend,
  selectInterface,
  superviseLink,
} from "@flannel-sdk/netlink";
import {
  deleteIpMasqRules,
  keepIpMasqRules,
  notifySystemd,
  previousSubnetFromFile,
  subnetEnvFromLease,
  writeSubnetEnv,
} from "@flannel-sdk/render";
import type { AgentOptions } from "./options.js";

/** Exit status when the agent's own lease is revoked (flanneld exits 0; see docs/decisions.md). */
export const EXIT_LEASE_LOST = 3;
/** How often the data plane is re-applied whole (flanneld's host-gw route check: 10 s). */
const RESYNC_MS = 10_000;

/** glog-like lines on stderr, as flanneld logs: `I1127 07:31:02.123456 4242] message`. */
export function log(level: "I" | "W" | "E", message: string): void {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  const stamp = `${p(d.getMonth() + 1)}${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}000`;
  process.stderr.write(`${level}${stamp} ${process.pid}] ${message}\n`);
}

const text = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Runs the agent until `signal` aborts (exit 0) or its lease is lost ({@link EXIT_LEASE_LOST}). */
export async function runAgent(o: AgentOptions, signal: AbortSignal): Promise<number> {
  for (const w of o.warnings) log("W", w);
  const stop = new AbortController();
  setMaxListeners(64, stop.signal); // every long-lived part holds one listener on it
  const onAbort = () => stop.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  const closers: (() => unknown)[] = [];
  const tasks: Promise<unknown>[] = [];
  try {
    // The one place that names a backend: everything below is the LeaseStore interface.
    const store: LeaseStore =
      o.api === "v2" ? new EtcdV2LeaseStore(o.store) : new EtcdLeaseStore(o.store);
    closers.unshift(() => store.close());
    const h = await openHandle({ signal: stop.signal });
    closers.unshift(() => h.close());
    const config = await waitForNetworkConfig(store, {
      signal: stop.signal,
      onError: (e) => log("E", `Couldn't fetch network config: ${e.message}`),
    });
    const families: (4 | 6)[] = config.enableIPv6 ? (config.enableIPv4 ? [4, 6] : [6]) : [4];
    const ext = await selectInterface(h, {
      iface: o.iface,
      ifaceRegex: o.ifaceRegex,
      ifaceCanReach: o.ifaceCanReach,
      publicIP: o.publicIP,
      publicIPv6: o.publicIPv6,
      enableIPv4: config.enableIPv4,
      enableIPv6: config.enableIPv6,
      signal: stop.signal,
    });
    const both = (a: string | null, b: string | null) => [a, b].filter((x) => x && x !== "0.0.0.0");
    const addrs = both(ext.address, ext.address6);
    log("I", `Using interface with name ${ext.name} and address ${addrs}`);
    log("I", `Using ${both(ext.publicIP, ext.publicIPv6)} as external address`);

    // DirectRouting: a remote public IP on one of the underlay's on-link subnets (either family)
    const underlay = await h.addrList({ dev: ext.name, signal: stop.signal });
    const prev = await previousSubnetFromFile(o.subnetFile, { signal: stop.signal });
    const reg = await registerBackend(h, { config, externalInterface: ext, signal: stop.signal });
    const devices = [reg.device, reg.device6].filter((d) => d !== null);
    for (const d of devices)
      log("I", `VXLAN device ${d.link.name} ${d.action}, VtepMAC ${d.link.mac}`);
    const lease = await store.acquireLease(reg.attrs, {
      previousSubnet: prev.subnet,
      previousIPv6Subnet: prev.ipv6Subnet,
      onNote: (note) => log("I", note),
      signal: stop.signal,
    });
    log("I", `Lease acquired: ${lease.subnet}${lease.ipv6Subnet ? `, ${lease.ipv6Subnet}` : ""}`);

    // Every remote lease, kept from the watch; one plan per family (of all leases, or of a batch).
    const watcher = new LeaseWatcher({ ownLease: lease });
    const plans = (leases = watcher.leases) =>
      families.map((family) =>
        (config.backend.type === "vxlan" ? planVxlan : planHostGw)({
          config,
          family,
          ownLease: lease,
          leases,
          underlaySubnets: underlay.map((a) => a.cidr),
          externalInterface: { ...ext, address: family === 4 ? ext.address : ext.address6 },
        }),
      );
    const dp = keepDataPlane(h, {
      plan: plans,
      // a lease's neighbour, FDB entry and route only at -v=2, as flanneld logs them (V(2))
      onChange: (c) =>
        (o.verbosity > 1 || c.object === "link" || c.object === "address") &&
        log("I", `${c.object} ${c.action}: ${c.command}`),
      onSkipped: (s) => log("W", s.message),
      signal: stop.signal,
    });
    const failed = (e: unknown) => {
      if (!stop.signal.aborted) log("E", `Failed to program the data plane: ${text(e)}`);
    };
    const apply = () => dp.apply().catch(failed);
    await dp.apply();

    await writeSubnetEnv(
      o.subnetFile,
      subnetEnvFromLease(config, lease, { mtu: plans([])[0]!.mtu, ipMasq: o.ipMasq }),
    );
    log("I", `Wrote subnet file to ${o.subnetFile}`);
    // subnet.env first, as flanneld v0.20 writes it while its rules go in; READY=1 after both

    for (const f of o.ipMasq ? families : []) {
      const [network, subnet] =
        f === 4 ? [config.network, lease.subnet] : [config.ipv6Network, lease.ipv6Subnet];
      const [was, wasSubnet] =
        f === 4 ? [prev.network, prev.subnet] : [prev.ipv6Network, prev.ipv6Subnet];
      if (was && wasSubnet && (was !== network || wasSubnet !== subnet)) {
        log("I", `Deleting the masq rules of the previous subnet ${wasSubnet}`);
        await deleteIpMasqRules({ network: was, subnet: wasSubnet, signal: stop.signal });
      }
      log("I", `Setting up masking rules (IPv${f})`);
      const masq = await keepIpMasqRules({
        network: network as string,
        subnet: subnet as string,
        forwardRules: o.forwardRules,
        randomFully: o.randomFully,
        resyncSeconds: o.iptablesResync,
        signal: stop.signal,
        onEvent: (e) =>
          e.type === "rebuilt"
            ? log("W", `${e.missing.length} masq rules missing, rebuilt them`)
            : log("E", `Failed to ensure iptables rules: ${e.error.message}`),
      });
      closers.unshift(() => masq.close());
    }
    await notifySystemd("READY=1", { signal: stop.signal }).then(
      (sent) => sent && log("I", "Notified systemd: READY=1"),
      (e) => log("W", `Failed to notify systemd the process is ready: ${text(e)}`),
    );

    for (const device of devices) {
      const sup = await superviseLink(h, {
        name: device.link.name,
        recreate: () => dp.apply(),
        signal: stop.signal,
        onEvent: (e) =>
          e.type === "failed"
            ? log(
                "E",
                `Failed to recreate ${e.name} (retry in ${e.retryInMs} ms): ${e.error.message}`,
              )
            : log(e.type === "deleted" ? "W" : "I", `${e.name} ${e.type}`),
      });
      closers.unshift(() => sup.close());
    }
    const resync = setInterval(() => void apply(), RESYNC_MS);
    closers.unshift(() => clearInterval(resync));

    const keeper = store.keepLease(lease, {
      renewMargin: o.renewMarginMs,
      signal: stop.signal,
      onEvent: (e) => {
        if (e.type === "renewed")
          log("I", `Lease renewed, new expiration: ${e.lease.expiration?.toISOString()}`);
        if (e.type === "renewFailed")
          log(
            "E",
            `Error renewing lease (trying again in ${e.retryInMs / 1000} s): ${e.error.message}`,
          );
      },
    });
    closers.unshift(() => keeper.close());

    log("I", "Running backend.");
    let watchFailed: Error | null = null; // a watch that ends on its own is fatal (exit 1)
    tasks.push(
      (async () => {
        for await (const result of store.watchLeases({ signal: stop.signal })) {
          const batch = watcher.apply(result);
          for (const { type, lease: l } of batch.events) {
            const via = `${l.attrs.publicIP} ${l.attrs.publicIPv6 ?? ""}`;
            log("I", `Subnet ${type}: ${l.subnet} ${l.ipv6Subnet ?? ""} via ${via}`);
          }
          await (result.type === "snapshot" ? dp.apply() : dp.step(batch.touched)).catch(failed);
        }
        throw new Error("the watch ended");
      })().catch((e) => {
        if (!stop.signal.aborted) {
          watchFailed = new Error(`Watching the leases failed: ${text(e)}`);
          stop.abort();
        }
      }),
    );

    const lost = await Promise.race([
      keeper.done,
      new Promise<null>((resolve) => stop.signal.addEventListener("abort", () => resolve(null))),
    ]);
    if (lost?.type === "lost") {
      log("E", `Lease has been revoked (${lost.reason}). Shutting down daemon.`);
      return EXIT_LEASE_LOST;
    }
    if (watchFailed) throw watchFailed;
    log("I", "Exiting cleanly...");
    return 0;
  } catch (e) {
    if (stop.signal.aborted && signal.aborted) {
      log("I", "Exiting cleanly...");
      return 0;
    }
    throw e;
  } finally {
    stop.abort();
    signal.removeEventListener("abort", onAbort);
    for (const close of closers) await Promise.resolve(close()).catch(() => {});
    await Promise.all(tasks);
  }
}
