/**
 * The `config` check: the network config exists in the store and parses (when it is missing and
 * the other etcd API has one, the v2/v3 trap is named); the backend is vxlan or host-gw.
 */
import type { NetworkConfig } from "@flannel-sdk/core";
import type { Report } from "../report.js";
import type { NodeState } from "../types.js";

/** Checks the network config; returns it, or `null` (reported) when there is none to check against. */
export function checkConfig(state: NodeState, r: Report): NetworkConfig | null {
  const key = state.configKey;
  if ("value" in state.config) {
    const c = state.config.value;
    if (c.backend.type !== "vxlan" && c.backend.type !== "host-gw") {
      r.add("BACKEND_UNSUPPORTED", {
        subject: key,
        message: `backend ${c.backend.type || '""'}: diagnose checks the data plane of vxlan and host-gw only${
          c.backend.type === "udp"
            ? " (udp is what flannel runs when Backend is left out, whatever its docs say)"
            : ""
        }`,
        expected: 'Backend {"Type":"vxlan"} or {"Type":"host-gw"}',
        found: `Backend type ${JSON.stringify(c.backend.type)}`,
        fix: `set "Backend":{"Type":"vxlan"} in ${key} and restart flanneld on every node`,
      });
    }
    r.ok(
      "config",
      `${key}: Network ${c.network}, SubnetLen ${c.subnetLen}, backend ${c.backend.type} (${state.storeLabel})`,
    );
    return c;
  }
  const { code, message } = state.config.error;
  if (code === "CONFIG_NOT_FOUND") {
    const other = state.configElsewhere;
    if (other?.found) {
      r.add("CONFIG_WRONG_API", {
        subject: key,
        message: `the config exists only under ${other.label}; data written with one etcd API is invisible to the other, and flanneld retries every second forever`,
        expected: `${key} readable by ${state.storeLabel}`,
        found: `nothing there; ${key} exists under ${other.label}`,
        fix: "write the config with the API flanneld uses (v0.18+: ETCDCTL_API=3 etcdctl put KEY 'JSON'; v0.11: ETCDCTL_API=2 etcdctl mk KEY 'JSON'), or run the agent with -etcd-api matching where it is",
      });
    } else {
      r.add("CONFIG_NOT_FOUND", {
        subject: key,
        message:
          "no network config: flanneld waits, logging 'Couldn't fetch network config' every second",
        expected: `a network config at ${key}`,
        found: message,
        fix: `etcdctl put ${key} '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}' (v2 API: etcdctl mk)`,
      });
    }
    return null;
  }
  if (code === "CONFIG_INVALID") {
    r.add("CONFIG_INVALID", {
      subject: key,
      message: "the network config does not parse; flanneld retries every second and never starts",
      expected: "a valid flannel network config",
      found: message,
      fix: `correct the JSON at ${key} (flannel's rules: SubnetLen ≤ 30, at least four subnets, SubnetMin/Max inside Network and aligned)`,
    });
    return null;
  }
  r.add("STORE_UNREACHABLE", {
    subject: state.storeLabel,
    message: "the store could not be read",
    expected: `the network config at ${key}`,
    found: `${code}: ${message}`,
    fix: "check the store's endpoints, TLS files and credentials (flanneld's -etcd-* flags)",
  });
  return null;
}
