/**
 * Fixtures for the planner tests: the install guide's network (172.30.0.0/16, SubnetLen 24,
 * vxlan) with three nodes. Golden files live in test/golden/plan/ (vitest file snapshots:
 * `vitest run -u` rewrites them; under CI a missing one fails).
 */
import type {
  BackendConfig,
  JsonValue,
  Lease,
  NetworkConfig,
  PlanResult,
  VxlanBackendConfig,
} from "../src/index.js";

export function vxlanBackend(
  options: Partial<Omit<VxlanBackendConfig, "type">> = {},
): VxlanBackendConfig {
  return {
    type: "vxlan",
    vni: 1,
    port: 0,
    gbp: false,
    learning: false,
    directRouting: false,
    mtu: null,
    macPrefix: "0E-2A",
    ...options,
  };
}

/** `{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}` after defaults. */
export function guideConfig(backend: BackendConfig = vxlanBackend()): NetworkConfig {
  return {
    enableIPv4: true,
    enableIPv6: false,
    enableNFTables: false,
    network: "172.30.0.0/16",
    subnetLen: 24,
    subnetMin: "172.30.1.0",
    subnetMax: "172.30.255.0",
    ipv6Network: null,
    ipv6SubnetLen: 0,
    ipv6SubnetMin: null,
    ipv6SubnetMax: null,
    backend,
  };
}

/** The guide's network plus IPv6 `fc00::/48`, SubnetLen 64 (dual stack). */
export function dualStackConfig(backend: BackendConfig = vxlanBackend()): NetworkConfig {
  return {
    ...guideConfig(backend),
    enableIPv6: true,
    ipv6Network: "fc00::/48",
    ipv6SubnetLen: 64,
    ipv6SubnetMin: "fc00:0:0:1::",
    ipv6SubnetMax: "fc00:0:0:ffff::",
  };
}

export interface NodeSpec {
  subnet: string;
  publicIP: string;
  mac?: string;
  ipv6Subnet?: string | null;
  publicIPv6?: string | null;
  macV6?: string;
  backendType?: string;
  backendData?: JsonValue | null;
  expiration?: Date | null;
  revision?: bigint;
}

export function lease(spec: NodeSpec): Lease {
  const type = spec.backendType ?? "vxlan";
  return {
    subnet: spec.subnet,
    ipv6Subnet: spec.ipv6Subnet ?? null,
    attrs: {
      publicIP: spec.publicIP,
      publicIPv6: spec.publicIPv6 ?? null,
      backendType: type,
      backendData:
        spec.backendData !== undefined
          ? spec.backendData
          : type === "vxlan" && spec.mac !== undefined
            ? { VNI: 1, VtepMAC: spec.mac }
            : null,
      backendV6Data:
        type === "vxlan" && spec.macV6 !== undefined ? { VNI: 1, VtepMAC: spec.macV6 } : null,
    },
    expiration: spec.expiration === undefined ? new Date("2026-01-02T00:00:00Z") : spec.expiration,
    ...(spec.revision === undefined ? {} : { revision: spec.revision }),
  };
}

/** The guide's node (its lease and VtepMAC are quoted in the guide) and two more. */
export const NODE_A = {
  subnet: "172.30.8.0/24",
  publicIP: "172.16.97.244",
  mac: "3a:b9:84:c3:57:7c",
  ipv6Subnet: "fc00:0:0:8::/64",
  publicIPv6: "2001:db8:97::244",
  macV6: "3a:b9:84:c3:57:6c",
};
export const NODE_B = {
  subnet: "172.30.24.0/24",
  publicIP: "172.16.97.245",
  mac: "5e:10:2a:7b:01:b2",
  ipv6Subnet: "fc00:0:0:24::/64",
  publicIPv6: "2001:db8:97::245",
  macV6: "5e:10:2a:7b:01:c2",
};
export const NODE_C = {
  subnet: "172.30.57.0/24",
  publicIP: "172.16.98.17",
  mac: "d2:6f:51:0e:9c:03",
  ipv6Subnet: "fc00:0:0:57::/64",
  publicIPv6: "2001:db8:98::17",
  macV6: "d2:6f:51:0e:9c:13",
};

/** Plan JSON for a golden file: skipped leases reduced to subnet, reason and message. */
export function goldenView(plan: PlanResult): unknown {
  return {
    ...plan,
    skipped: plan.skipped.map((s) => ({
      subnet: s.lease.subnet,
      ipv6Subnet: s.lease.ipv6Subnet,
      reason: s.reason,
      message: s.message,
    })),
  };
}
