/**
 * External interface selection as flanneld does it (reference §8.2, HEAD, IPv4): `--iface`,
 * `--iface-regex`, `--iface-can-reach`, `--public-ip`, else the default route's interface.
 */
import { FlannelError, isIPv4, parseIPv4, throwIfAborted } from "@flannel-sdk/core";
import type { NetlinkHandle } from "./handle.js";
import {
  IFA_F_DEPRECATED,
  IFA_F_PERMANENT,
  IFA_F_SECONDARY,
  RT_TABLE_MAIN,
} from "./nl/constants.js";
import type { Addr, CallOptions, Link } from "./types.js";

/** flanneld's interface flags. */
export interface SelectInterfaceOptions extends CallOptions {
  /** `--iface` values, tried in order: an IPv4 address (the interface holding it) or a name. */
  readonly iface?: readonly string[];
  /** `--iface-regex` values (unanchored), tried after every `--iface`. */
  readonly ifaceRegex?: readonly string[];
  /** `--iface-can-reach`: the interface of the route to this address. */
  readonly ifaceCanReach?: string | null;
  /** `--public-ip`; alone, it selects the interface holding that address. */
  readonly publicIP?: string | null;
}

/** The selected external interface. */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  /** Interface MTU (vxlan reports this − 50 as `FLANNEL_MTU`). */
  readonly mtu: number;
  /** The interface's IPv4 address flannel uses (vxlan `local`). */
  readonly address: string;
  /** `--public-ip` when given, else `address`: the node's identity in the lease. */
  readonly publicIP: string;
  readonly link: Link;
}

function notFound(message: string, details: Record<string, unknown> = {}): FlannelError {
  return new FlannelError("INTERFACE_NOT_FOUND", message, { details });
}

function isGlobalUnicast4(ip: number): boolean {
  const a = ip >>> 24;
  if (ip === 0 || ip === 0xffffffff) return false;
  if (a === 127 || a >= 224) return false;
  return !isLinkLocal4(ip);
}

function isLinkLocal4(ip: number): boolean {
  return ip >>> 16 === 0xa9fe; // 169.254/16
}

/**
 * flannel's address choice on an interface: global unicast or link-local IPv4, not deprecated;
 * global before link-local, permanent before dynamic, primary before secondary; the first wins.
 * Pure.
 * @example
 * ```ts
 * preferredAddress(addrs)?.ip; // "192.168.1.10"
 * ```
 */
export function preferredAddress(addrs: readonly Addr[]): Addr | null {
  const rank = (a: Addr): number => {
    const ip = parseIPv4(a.ip);
    return (
      (isGlobalUnicast4(ip) ? 0 : 4) +
      ((a.flags & IFA_F_PERMANENT) !== 0 ? 0 : 2) +
      ((a.flags & IFA_F_SECONDARY) !== 0 ? 1 : 0)
    );
  };
  const usable = addrs.filter((a) => {
    if (a.family !== 4 || (a.flags & IFA_F_DEPRECATED) !== 0) return false;
    const ip = parseIPv4(a.ip);
    return isGlobalUnicast4(ip) || isLinkLocal4(ip);
  });
  const sorted = usable
    .map((a, i) => ({ a, i, r: rank(a) }))
    .sort((x, y) => x.r - y.r || x.i - y.i);
  return sorted[0]?.a ?? null;
}

/**
 * Selects the external interface as flanneld does (§8.2): each `iface` (an address or a name),
 * then each `ifaceRegex` (first interface with an IPv4 address whose text matches, else first
 * whose name matches), then `ifaceCanReach`; with none of those, the interface holding
 * `publicIP`, else the default route's. Returns its MTU and address.
 *
 * @throws FlannelError `INTERFACE_NOT_FOUND` (flannel's messages), `INVALID_ARGUMENT` (bad regex), `NETLINK_ERROR`
 * @example
 * ```ts
 * const ext = await selectInterface(handle, { iface: ["eth1"] });
 * console.log(ext.name, ext.address, ext.mtu - 50); // FLANNEL_MTU for vxlan
 * ```
 */
export async function selectInterface(
  handle: NetlinkHandle,
  options: SelectInterfaceOptions = {},
): Promise<ExternalInterface> {
  const { signal } = options;
  throwIfAborted(signal);
  const ifaces = options.iface ?? [];
  const regexes = (options.ifaceRegex ?? []).map((r) => {
    try {
      return new RegExp(r);
    } catch (e) {
      throw new FlannelError("INVALID_ARGUMENT", `invalid --iface-regex ${r}: ${String(e)}`, {
        field: "ifaceRegex",
        cause: e,
      });
    }
  });
  const canReach = options.ifaceCanReach ?? null;
  const publicIP = options.publicIP ?? null;
  const links = [...(await handle.linkList({ signal }))].sort((a, b) => a.index - b.index);
  const addrs = await handle.addrList({ family: 4, signal });
  const addrsOf = (l: Link) => addrs.filter((a) => a.index === l.index);
  const byAddress = (ip: string) => links.find((l) => addrsOf(l).some((a) => a.ip === ip)) ?? null;

  let link: Link | null = null;
  let address: string | null = null;
  const tried: string[] = [];

  if (ifaces.length === 0 && regexes.length === 0 && canReach === null) {
    if (publicIP !== null) {
      link = byAddress(publicIP);
      if (link === null) {
        throw notFound(`error looking up interface ${publicIP}: no interface with given IP found`, {
          publicIP,
        });
      }
      address = publicIP;
    } else {
      const routes = await handle.routeList({ family: 4, table: RT_TABLE_MAIN, signal });
      const def = routes.find((r) => r.dst === "0.0.0.0/0");
      if (def === undefined) throw notFound("unable to find default route");
      if (def.index === null || def.index <= 0) {
        throw notFound("found default route but could not determine interface");
      }
      link = links.find((l) => l.index === def.index) ?? null;
      if (link === null) throw notFound("found default route but could not determine interface");
    }
  } else {
    for (const value of ifaces) {
      if (isIPv4(value)) {
        const l = byAddress(value);
        if (l !== null) {
          link = l;
          address = value;
          break;
        }
        tried.push(`${value}: no interface with given IP found`);
      } else {
        const l = links.find((x) => x.name === value) ?? null;
        if (l !== null) {
          link = l;
          break;
        }
        tried.push(`${value}: no such network interface`);
      }
    }
    if (link === null) {
      for (const re of regexes) {
        for (const l of links) {
          const hit = addrsOf(l).find((a) => re.test(a.ip));
          if (hit !== undefined) {
            link = l;
            address = hit.ip;
            break;
          }
        }
        if (link === null) link = links.find((l) => re.test(l.name)) ?? null;
        if (link !== null) break;
        tried.push(`regex ${re.source}: no match`);
      }
    }
    if (link === null && canReach !== null) {
      const r = await handle.routeGet(canReach, { signal });
      link = links.find((l) => l.index === r.index) ?? null;
      if (link !== null && r.prefsrc !== null) address = r.prefsrc;
      if (link === null) tried.push(`can-reach ${canReach}: no interface`);
    }
    if (link === null) {
      throw notFound(
        "Failed to find interface to use that matches the interfaces and/or regexes provided",
        { tried },
      );
    }
  }

  if (address === null) {
    const chosen = preferredAddress(addrsOf(link));
    if (chosen === null) {
      throw notFound(`failed to find IPv4 address for interface ${link.name}`, {
        iface: link.name,
      });
    }
    address = chosen.ip;
  }
  if (link.mtu === 0) throw notFound(`failed to determine MTU for ${link.name} interface`);
  return {
    name: link.name,
    index: link.index,
    mtu: link.mtu,
    address,
    publicIP: publicIP ?? address,
    link,
  };
}
