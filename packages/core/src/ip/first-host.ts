/** The first host address of a subnet: what flanneld writes as `FLANNEL_SUBNET`. */
import type { IPNet } from "./parse.js";

/**
 * A subnet's first host address with the subnet's prefix: `172.30.8.0/24` → `172.30.8.1/24`
 * (flanneld's `FLANNEL_SUBNET`, docker's `--bip`), `fd00:0:0:8::/64` → `fd00:0:0:8::1/64`. Host
 * bits of `subnet` are ignored.
 *
 * @throws FlannelError `INVALID_ARGUMENT` when the subnet has no second address (a /32, a /128).
 * @example
 * ```ts
 * firstHost(IP4Net.parse("172.30.8.0/24")).toString(); // "172.30.8.1/24"
 * ```
 */
export function firstHost<N extends IPNet>(subnet: N): N {
  return subnet.network().hostAt(1) as N;
}
