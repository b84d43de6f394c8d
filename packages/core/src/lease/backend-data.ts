/**
 * Lease data per backend, typed: what a backend writes as `BackendData` / `BackendV6Data` and
 * reads back from its peers' leases. The lease model keeps the raw JSON (`JsonValue`) so that
 * flannel's JSON round trip stays exact; these read a typed view out of it.
 */
import { foldKey } from "../go/json.js";
import type { IPFamily } from "../ip/parse.js";
import { canonicalMAC } from "../mac.js";
import type { JsonValue, LeaseAttrs } from "./types.js";

/**
 * vxlan's lease data (flannel's `vxlanLeaseAttrs`): `{"VNI":1,"VtepMAC":"…"}`. A type alias, so
 * it is a `JsonValue` and can be written as `backendData` as is.
 */
export type VxlanBackendData = {
  /** The VXLAN network identifier (flannel writes the config's `VNI`). */
  readonly VNI: number;
  /** The MAC of the node's `flannel.<VNI>` device, canonical (lower case). */
  readonly VtepMAC: string;
};

/** host-gw writes no backend data: its lease is `PublicIP` and `BackendType` only. */
export type HostGwBackendData = null;

/**
 * `VtepMAC` of vxlan backend data the way Go's `json.Unmarshal` finds it (case-insensitive
 * keys, the last one wins); `undefined` when absent or when `data` is not an object.
 * @internal
 */
export function vtepMacField(data: JsonValue | null | undefined): unknown {
  if (typeof data !== "object" || data === null || Array.isArray(data)) return undefined;
  let found: unknown;
  for (const [key, value] of Object.entries(data as Record<string, JsonValue>)) {
    if (key === "VtepMAC" || foldKey(key) === "VTEPMAC") found = value;
  }
  return found;
}

/**
 * A vxlan lease's data, typed, as flanneld decodes it: `VtepMAC` (canonical) and `VNI` (0 when
 * absent, as Go leaves it). `family` 6 reads `BackendV6Data`.
 *
 * @returns `null` when the lease is not vxlan's or its data has no valid VtepMAC (flanneld
 * skips such a peer); never throws
 * @example
 * ```ts
 * const attrs = parseLeaseAttrs('{"PublicIP":"10.0.0.2","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"1E:38:19:E2:7E:3A"}}');
 * vxlanBackendData(attrs)?.VtepMAC; // "1e:38:19:e2:7e:3a", a string: no cast
 * ```
 */
export function vxlanBackendData(attrs: LeaseAttrs, family: IPFamily = 4): VxlanBackendData | null {
  if (attrs.backendType !== "vxlan") return null;
  const data = family === 4 ? attrs.backendData : attrs.backendV6Data;
  const mac = vtepMacField(data);
  if (typeof mac !== "string") return null;
  let VtepMAC: string;
  try {
    VtepMAC = canonicalMAC(mac);
  } catch {
    return null;
  }
  let vni: unknown;
  for (const [key, value] of Object.entries(data as Record<string, JsonValue>)) {
    if (foldKey(key) === "VNI") vni = value;
  }
  if (vni === undefined || vni === null) vni = 0;
  if (typeof vni !== "number" || !Number.isInteger(vni) || vni < 0 || vni > 0xff_ffff) {
    return null;
  }
  return { VNI: vni, VtepMAC };
}
