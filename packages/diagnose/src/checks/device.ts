/**
 * The `device` check: `flannel.<VNI>` (`flannel-v6.<VNI>`) exists, is a compatible vxlan device,
 * is up, holds the lease's network address and no other inside the network (core's
 * `reconcileAddresses`), has the lease's VtepMAC and the MTU flanneld gives it.
 */
import {
  type DataPlanePlan,
  type KernelState,
  type Lease,
  macKey,
  type ObservedLink,
  reconcileAddresses,
} from "@flannel-sdk/core";
import { REPROGRAM, RESTART, type Report } from "../report.js";

/** The Linux vxlan module's port, used when flannel's `Port` is 0 (not IANA's 4789). */
const VXLAN_DEFAULT_PORT = 8472;

/** Checks one family's vxlan device (`link`, `null` when absent) against its plan and the lease. */
export function checkDevice(
  r: Report,
  kernel: KernelState,
  plan: DataPlanePlan,
  own: Lease,
  link: ObservedLink | null,
  ext: { name: string; mtu: number },
): void {
  const want = plan.link!;
  if (link === null) {
    r.add("DEVICE_MISSING", {
      subject: want.name,
      message: `there is no ${want.name}: nothing carries traffic to the other nodes`,
      expected: `vxlan device ${want.name} (id ${want.vni}, local ${want.local}, dev ${want.lowerDevice})`,
      found: "no such device",
      fix: `${REPROGRAM}; the flanneld-ts agent also recreates a deleted device by itself`,
    });
    return;
  }
  const problems: string[] = [];
  const wantPort = want.port > 0 ? want.port : VXLAN_DEFAULT_PORT;
  if (link.kind !== "vxlan" || link.vxlan === null) problems.push(`kind ${link.kind ?? "none"}`);
  else {
    if (link.vxlan.vni !== want.vni) problems.push(`id ${link.vxlan.vni}`);
    if (link.vxlan.local !== null && link.vxlan.local !== want.local) {
      problems.push(`local ${link.vxlan.local}`);
    }
    const lower = kernel.links.find((l) => l.index === link.vxlan!.lowerIndex);
    if (lower !== undefined && lower.name !== ext.name) problems.push(`dev ${lower.name}`);
    // flanneld compares the port only when the config sets one, so it keeps a device on another
    // port than its peers use; the UDP port (and GBP's header) must match across the overlay
    if (link.vxlan.port !== undefined && link.vxlan.port !== wantPort) {
      problems.push(`dstport ${link.vxlan.port}`);
    }
    if (link.vxlan.gbp !== undefined && link.vxlan.gbp !== want.gbp) {
      problems.push(link.vxlan.gbp ? "gbp" : "no gbp");
    }
  }
  if (problems.length > 0) {
    r.add("DEVICE_INCOMPATIBLE", {
      subject: want.name,
      message: `${want.name} is not the device flanneld would make; remote nodes address this node's public IP on the config's VNI and port`,
      expected: `vxlan id ${want.vni} local ${want.local} dev ${want.lowerDevice} dstport ${wantPort}${want.gbp ? " gbp" : ""}`,
      found: problems.join(", "),
      fix: `ip link del ${want.name}; then ${REPROGRAM}`,
    });
  }
  if (!link.up) {
    r.add("DEVICE_DOWN", {
      subject: want.name,
      message: `${want.name} is down: no overlay traffic in or out`,
      expected: "state UP",
      found: "down",
      fix: `ip link set ${want.name} up`,
    });
  }
  const wantAddr = plan.addresses[0]!;
  const fam = plan.family;
  const addrs = reconcileAddresses({ addresses: [wantAddr] }, kernel.addrs).discrepancies;
  for (const d of addrs) {
    if (d.kind === "address-missing") {
      r.add("DEVICE_ADDRESS_MISSING", {
        subject: want.name,
        message: `${want.name} lacks the lease's network address: replies from this node to other subnets leave with the wrong source`,
        expected: `${wantAddr.address} on ${want.name}`,
        found:
          d.found.length === 0
            ? `no IPv${fam} address`
            : d.found.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
        fix: `ip addr add ${wantAddr.address} dev ${want.name}`,
      });
    }
  }
  for (const d of addrs) {
    if (d.kind === "address-extra") {
      r.add("DEVICE_ADDRESS_EXTRA", {
        subject: want.name,
        message: `${want.name} holds other addresses inside the network (a previous lease); flanneld removes them`,
        expected: `only ${wantAddr.address} inside ${wantAddr.exclusiveWithin}`,
        found: d.found.map((a) => `${a.ip}/${a.prefixLen}`).join(", "),
        fix: d.found.map((a) => `ip addr del ${a.ip}/${a.prefixLen} dev ${want.name}`).join("; "),
      });
    }
  }
  const data = fam === 4 ? own.attrs.backendData : own.attrs.backendV6Data;
  const published = (data as { VtepMAC?: unknown } | null)?.VtepMAC;
  const vtep = typeof published === "string" ? published : null;
  if (vtep !== null && (link.mac === null || macKey(vtep) !== macKey(link.mac))) {
    r.add("VTEP_MAC_MISMATCH", {
      subject: want.name,
      message:
        "the other nodes send this node's traffic to the VtepMAC in the lease, which is not this device's MAC: it drops everything they send",
      expected: `${want.name} MAC ${vtep} (VtepMAC of lease ${fam === 4 ? own.subnet : own.ipv6Subnet})`,
      found: `MAC ${link.mac ?? "none"}`,
      fix: `ip link set ${want.name} address ${vtep}; or ${RESTART} (it publishes the device's MAC in the lease)`,
    });
  }
  if (link.mtu !== want.mtu) {
    const over = link.mtu > want.mtu;
    r.add("DEVICE_MTU_MISMATCH", {
      severity: over ? "error" : "warning",
      subject: want.name,
      message: over
        ? `${want.name}'s MTU leaves no room for the ${fam === 4 ? 50 : 70}-byte vxlan header on ${ext.name}: large packets are dropped`
        : `${want.name}'s MTU is below what flanneld sets (and reports as FLANNEL_MTU)`,
      expected: `mtu ${want.mtu} (${ext.name} ${ext.mtu} − ${fam === 4 ? 50 : 70})`,
      found: `mtu ${link.mtu}`,
      fix: `ip link set ${want.name} mtu ${want.mtu}`,
    });
  }
  r.ok(
    "device",
    `${want.name}: vxlan id ${want.vni}, up, ${wantAddr.address}, MAC ${link.mac}, mtu ${link.mtu}`,
  );
}
