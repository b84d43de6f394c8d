/**
 * The addresses' part of reconciling a plan with the kernel: each planned address on its device
 * (flannel: the lease's network address as /32 on `flannel.<VNI>`), and no other address of the
 * device inside the plan's `exclusiveWithin` network (a previous lease's).
 */
import { parseCidr } from "../ip/parse.js";
import type { AddressPlan, DataPlanePlan } from "../plan/types.js";
import type { ObservedAddr } from "./observed.js";

/** One address change (`ip addr add` / `ip addr del`); `cidr` keeps the host bits. */
export interface AddressOp {
  readonly action: "add" | "delete";
  readonly dev: string;
  readonly cidr: string;
}

/** What differs between a planned address and its device. */
export type AddressDiscrepancy =
  | {
      readonly kind: "address-missing";
      readonly want: AddressPlan;
      /** The device's addresses of the family. */
      readonly found: readonly ObservedAddr[];
    }
  | {
      readonly kind: "address-extra";
      readonly want: AddressPlan;
      /** The device's other addresses inside `want.exclusiveWithin`. */
      readonly found: readonly ObservedAddr[];
    };

/** The result of {@link reconcileAddresses}. */
export interface AddressReconciliation {
  /** Per planned address, in plan order: the deletions of the extra ones, then its addition. */
  readonly ops: readonly AddressOp[];
  /** Planned addresses already present. */
  readonly unchanged: number;
  readonly discrepancies: readonly AddressDiscrepancy[];
}

/**
 * Compares a plan's addresses with the kernel's: the operations that converge the devices and
 * the discrepancies they repair. An address is present when its device holds the same IP with
 * the same prefix length. Pure.
 *
 * @example
 * ```ts
 * const { ops } = reconcileAddresses(plan, kernel.addrs);
 * // [{ action: "delete", dev: "flannel.1", cidr: "172.30.9.0/32" },
 * //  { action: "add", dev: "flannel.1", cidr: "172.30.8.0/32" }]
 * ```
 */
export function reconcileAddresses(
  plan: Pick<DataPlanePlan, "addresses">,
  addrs: readonly ObservedAddr[],
): AddressReconciliation {
  const ops: AddressOp[] = [];
  const discrepancies: AddressDiscrepancy[] = [];
  let unchanged = 0;
  for (const want of plan.addresses) {
    const net = parseCidr(want.address);
    const onDev = addrs.filter((a) => a.dev === want.dev && a.family === net.family);
    const within = want.exclusiveWithin === null ? null : parseCidr(want.exclusiveWithin);
    const isWanted = (a: ObservedAddr) => a.ip === net.ipString && a.prefixLen === net.prefixLen;
    const extra = onDev.filter(
      (a) => !isWanted(a) && within !== null && within.family === a.family && within.contains(a.ip),
    );
    for (const a of extra) ops.push({ action: "delete", dev: want.dev, cidr: cidrOf(a) });
    if (extra.length > 0) discrepancies.push({ kind: "address-extra", want, found: extra });
    if (onDev.some(isWanted)) unchanged++;
    else {
      ops.push({ action: "add", dev: want.dev, cidr: `${net.ipString}/${net.prefixLen}` });
      discrepancies.push({ kind: "address-missing", want, found: onDev });
    }
  }
  return { ops, unchanged, discrepancies };
}

function cidrOf(a: ObservedAddr): string {
  return `${a.ip}/${a.prefixLen}`;
}
