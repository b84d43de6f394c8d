/**
 * flannel's rule for reusing an existing vxlan device (`pkg/backend/vxlan/device.go`,
 * `vxlanLinksIncompat`). Pure: no socket.
 */
import { ipBytes, ipText } from "./nl/address.js";
import type { Link, VxlanSpec } from "./types.js";

/**
 * flannel's compatibility rule for an existing vxlan device (`vxlanLinksIncompat`): the reason it
 * must be recreated, or `null` when it can be reused unchanged. MTU, MAC and learning are not
 * compared, as in flannel.
 *
 * @example
 * ```ts
 * vxlanIncompatibility({ name: "flannel.1", vni: 1 }, null, existing); // null or "vni: 1 vs 2"
 * ```
 */
export function vxlanIncompatibility(
  want: VxlanSpec,
  wantLowerIndex: number | null,
  existing: Link,
): string | null {
  if (existing.kind !== "vxlan" || existing.vxlan === null) {
    return `link type: vxlan vs ${existing.kind ?? "device"}`;
  }
  const v = existing.vxlan;
  if (want.vni !== v.vni) return `vni: ${want.vni} vs ${v.vni}`;
  if (
    wantLowerIndex !== null &&
    wantLowerIndex > 0 &&
    v.lowerIndex !== null &&
    wantLowerIndex !== v.lowerIndex
  ) {
    return `vtep (external) interface: ${wantLowerIndex} vs ${v.lowerIndex}`;
  }
  const local = want.local ?? null;
  if (local !== null && v.local !== null && ipText(ipBytes(local).bytes) !== v.local) {
    return `vtep (external) IP: ${local} vs ${v.local}`;
  }
  if (v.l2miss) return "l2miss: false vs true";
  const port = want.port ?? 0;
  if (port > 0 && v.port > 0 && port !== v.port) return `port: ${port} vs ${v.port}`;
  if ((want.gbp ?? false) !== v.gbp) return `gbp: ${want.gbp ?? false} vs ${v.gbp}`;
  return null;
}
