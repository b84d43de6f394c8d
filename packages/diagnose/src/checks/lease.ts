/**
 * The `lease` check of the node's own lease: it fits the config, is of the config's backend, and
 * is not within the renew margin of expiring.
 */
import { isLeaseCompatible, type Lease, type NetworkConfig } from "@flannel-sdk/core";
import { RESTART, type Report } from "../report.js";
import type { NodeState } from "../types.js";

function minutes(ms: number): string {
  const m = Math.round(ms / 60_000);
  return m >= 120 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m} min`;
}

/** Checks the node's own lease against the config and the clock. */
export function checkLease(
  state: NodeState,
  r: Report,
  config: NetworkConfig,
  own: Lease,
  v6only: boolean,
): void {
  const subject = v6only
    ? `lease ${own.ipv6Subnet} (${own.attrs.publicIPv6})`
    : `lease ${own.subnet} (${own.attrs.publicIP})`;
  if (!isLeaseCompatible(config, own.subnet, own.ipv6Subnet)) {
    r.add("LEASE_INCOMPATIBLE", {
      subject,
      message:
        "the lease does not fit the network config (changed since it was taken); flanneld deletes it and takes another at its next start",
      expected: v6only
        ? `a /${config.ipv6SubnetLen} in ${config.ipv6Network}`
        : `a /${config.subnetLen} between ${config.subnetMin} and ${config.subnetMax}`,
      found: v6only ? `${own.ipv6Subnet}` : own.subnet,
      fix: `${RESTART}, then systemctl restart docker (its --bip changes)`,
    });
  }
  if (own.attrs.backendType !== config.backend.type) {
    r.add("LEASE_BACKEND_MISMATCH", {
      subject,
      message: "the lease was written by a flanneld of another backend; the other nodes ignore it",
      expected: `BackendType ${config.backend.type}`,
      found: `BackendType ${JSON.stringify(own.attrs.backendType)}`,
      fix: `${RESTART} (it rewrites its lease)`,
    });
  }
  const margin = (state.renewMarginMinutes ?? 60) * 60_000;
  if (own.expiration !== null) {
    const left = own.expiration.getTime() - state.now;
    if (left < margin) {
      r.add("LEASE_EXPIRING", {
        severity: left <= 0 ? "error" : "warning",
        subject,
        message:
          "flanneld renews its lease when the renew margin begins; this one is inside the margin, so renewal is failing — when it expires the other nodes drop their routes to this node",
        expected: `more than ${minutes(margin)} left (renewed ${minutes(margin)} before expiry)`,
        found:
          left <= 0
            ? `expired at ${own.expiration.toISOString()}`
            : `${minutes(left)} left (expires ${own.expiration.toISOString()})`,
        fix: `look for "Error renewing lease" in flanneld's log and check that it reaches the store; ${RESTART} (it reuses the lease)`,
      });
    }
  }
  r.ok(
    "lease",
    `${subject}${own.expiration === null ? ", a reservation (never expires)" : `, ${minutes(own.expiration.getTime() - state.now)} left`}`,
  );
}
