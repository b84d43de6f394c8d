/**
 * External interface selection as flanneld does it (flannel's `LookupExtIface`: v0.11's
 * `main.go`, v0.20.2's `pkg/ipmatch/match.go`, which adds IPv6 and dual stack): `--iface`,
 * `--iface-regex`, `--iface-can-reach`, `--public-ip` / `--public-ipv6`, else the default
 * route's interface.
 */
import {
  canonicalIP,
  FlannelError,
  ipFamily,
  parseIPv4,
  parseIPv6,
  throwIfAborted,
} from "@flannel-sdk/core";
import type { NetlinkHandle } from "./handle.js";
import {
  IFA_F_DEPRECATED,
  IFA_F_PERMANENT,
  IFA_F_SECONDARY,
  RT_TABLE_MAIN,
} from "./nl/constants.js";
import type { Addr, CallOptions, Link } from "./types.js";

/** flanneld's interface flags, and which address families the network config enables. */
export interface SelectInterfaceOptions extends CallOptions {
  /** `--iface` values, tried in order: an IPv4 or IPv6 address (the interface holding it) or a name. */
  readonly iface?: readonly string[];
  /** `--iface-regex` values (unanchored), tried after every `--iface`. */
  readonly ifaceRegex?: readonly string[];
  /** `--iface-can-reach`: the interface of the route to this address (IPv4 or IPv6). */
  readonly ifaceCanReach?: string | null;
  /** `--public-ip`; alone, it selects the interface holding that address. */
  readonly publicIP?: string | null;
  /** `--public-ipv6`; alone (and without `publicIP`), it selects the interface holding it. */
  readonly publicIPv6?: string | null;
  /** The config's `EnableIPv4` (default true): an IPv4 address is required. */
  readonly enableIPv4?: boolean;
  /** The config's `EnableIPv6` (default false): an IPv6 address is required. */
  readonly enableIPv6?: boolean;
}

/** The selected external interface. */
export interface ExternalInterface {
  readonly name: string;
  readonly index: number;
  /** Interface MTU (vxlan reports this − 50 as `FLANNEL_MTU`). */
  readonly mtu: number;
  /** The interface's IPv4 address flannel uses (vxlan `local`); `null` when IPv4 is off. */
  readonly address: string | null;
  /** `--public-ip` when given, else `address`; `"0.0.0.0"` when IPv4 is off (flannel's lease value). */
  readonly publicIP: string;
  /** The interface's IPv6 address (the `flannel-v6` device's `local`); `null` when IPv6 is off. */
  readonly address6: string | null;
  /** `--public-ipv6` when given, else `address6`; `null` when IPv6 is off. */
  readonly publicIPv6: string | null;
  readonly link: Link;
}

function notFound(message: string, details: Record<string, unknown> = {}): FlannelError {
  return new FlannelError("INTERFACE_NOT_FOUND", message, { details });
}

function isLinkLocal4(ip: number): boolean {
  return ip >>> 16 === 0xa9fe; // 169.254/16
}

/** 0 = global unicast, 1 = link-local unicast, -1 = unusable. */
function scopeRank(a: Addr): number {
  if (a.family === 4) {
    const ip = parseIPv4(a.ip);
    const top = ip >>> 24;
    if (ip === 0 || ip === 0xffffffff || top === 127 || top >= 224) return -1;
    return isLinkLocal4(ip) ? 1 : 0;
  }
  const ip = parseIPv6(a.ip);
  if (ip <= 1n || ip >> 120n === 0xffn) return -1; // ::, ::1, multicast
  return ip >> 118n === 0x3fan ? 1 : 0; // fe80::/10
}

/**
 * flannel's address choice on an interface for one family (IPv4 by default): global unicast
 * or link-local, not deprecated; global before link-local, permanent before dynamic, primary
 * before secondary; the first wins. Pure.
 * @example
 * ```ts
 * preferredAddress(addrs)?.ip; // "192.168.1.10"
 * preferredAddress(addrs, 6)?.ip; // "fd99::11"
 * ```
 */
export function preferredAddress(addrs: readonly Addr[], family: 4 | 6 = 4): Addr | null {
  const rank = (a: Addr): number =>
    scopeRank(a) * 4 +
    ((a.flags & IFA_F_PERMANENT) !== 0 ? 0 : 2) +
    ((a.flags & IFA_F_SECONDARY) !== 0 ? 1 : 0);
  const usable = addrs.filter(
    (a) => a.family === family && (a.flags & IFA_F_DEPRECATED) === 0 && scopeRank(a) >= 0,
  );
  const sorted = usable
    .map((a, i) => ({ a, i, r: rank(a) }))
    .sort((x, y) => x.r - y.r || x.i - y.i);
  return sorted[0]?.a ?? null;
}

function familyOf(text: string, field: string): 4 | 6 {
  const f = ipFamily(text);
  if (f === null) {
    throw new FlannelError("INVALID_ARGUMENT", `invalid ${field} address: ${text}`, { field });
  }
  return f;
}

/** `--public-ip` / `--public-ipv6`, canonical; an address of the other family is refused. */
function publicAddress(text: string | null | undefined, family: 4 | 6, field: string) {
  if (!text) return null;
  if (ipFamily(text) !== family) {
    const what = family === 4 ? "public IP" : "public IPv6";
    throw new FlannelError("INVALID_ARGUMENT", `invalid ${what} address: ${text}`, { field });
  }
  return canonicalIP(text);
}

/**
 * Selects the external interface as flanneld does at startup: each `iface` (an address of either
 * family, or a name), then each `ifaceRegex` (first interface with an address whose text
 * matches — in dual stack one IPv4 and one IPv6 address of the same interface — else first
 * whose name matches), then `ifaceCanReach`; with none of those, the interface holding
 * `publicIP` (else `publicIPv6`), else the default route's (in dual stack the IPv4 and IPv6
 * default routes must leave by the same interface). For each enabled family it returns the
 * interface's address (the one the flag named, else {@link preferredAddress}) and the public
 * address (`publicIP` / `publicIPv6` when given).
 *
 * Where flanneld v0.20.2 leaves a family without an address (dual stack with `-iface` or
 * `-iface-can-reach` naming an address of one family: its `IfaceV6Addr` stays nil, so the lease
 * gets no `PublicIPv6`), this picks the interface's preferred address of the other family.
 *
 * @throws FlannelError `INTERFACE_NOT_FOUND` (flannel's messages; also an enabled family with no
 * address on the interface: `failed to find IPv6 address for interface eth0`),
 * `INVALID_ARGUMENT` (bad regex; `publicIP` not IPv4 or `publicIPv6` not IPv6, field named;
 * neither family enabled), `NETLINK_ERROR`
 * @example
 * ```ts
 * const ext = await selectInterface(handle, { iface: ["eth1"], enableIPv6: true });
 * console.log(ext.name, ext.address, ext.address6, ext.mtu - 50); // FLANNEL_MTU for vxlan
 * ```
 */
export async function selectInterface(
  handle: NetlinkHandle,
  options: SelectInterfaceOptions = {},
): Promise<ExternalInterface> {
  const { signal } = options;
  throwIfAborted(signal);
  const v4 = options.enableIPv4 ?? true;
  const v6 = options.enableIPv6 ?? false;
  if (!v4 && !v6) {
    throw new FlannelError("INVALID_ARGUMENT", "none defined stack", { field: "EnableIPv4" });
  }
  const publicIP = publicAddress(options.publicIP, 4, "publicIP");
  const publicIPv6 = publicAddress(options.publicIPv6, 6, "publicIPv6");
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
  const links = [...(await handle.linkList({ signal }))].sort((a, b) => a.index - b.index);
  const addrs = (await handle.addrList({ signal })).filter(
    (a) => (a.family === 4 && v4) || (a.family === 6 && v6),
  );
  const addrsOf = (l: Link, family: 4 | 6) =>
    addrs.filter((a) => a.index === l.index && a.family === family);
  const byAddress = (ip: string) =>
    links.find((l) => addrs.some((a) => a.index === l.index && a.ip === ip)) ?? null;

  let link: Link | null = null;
  const chosen: { 4: string | null; 6: string | null } = { 4: null, 6: null };
  const tried: string[] = [];

  const defaultRouteLink = async (family: 4 | 6): Promise<Link> => {
    const any = family === 4 ? "0.0.0.0/0" : "::/0";
    const routes = await handle.routeList({ family, table: RT_TABLE_MAIN, signal });
    const def = routes.find((r) => r.dst === any);
    const v = family === 6 ? " v6" : "";
    if (def === undefined) throw notFound(`unable to find default${v} route`);
    const l = def.index !== null && def.index > 0 ? links.find((x) => x.index === def.index) : null;
    if (!l) throw notFound(`found default${v} route but could not determine interface`);
    return l;
  };

  if (ifaces.length === 0 && regexes.length === 0 && canReach === null) {
    const pinned = publicIP ?? publicIPv6;
    if (pinned !== null) {
      link = byAddress(pinned);
      if (link === null) {
        throw notFound(`error looking up interface ${pinned}: no interface with given IP found`, {
          publicIP: pinned,
        });
      }
      chosen[familyOf(pinned, "publicIP")] = pinned;
    } else {
      link = await defaultRouteLink(v4 ? 4 : 6);
      if (v4 && v6) {
        const l6 = await defaultRouteLink(6);
        if (l6.index !== link.index) {
          throw notFound(
            `v6 default route interface ${l6.name} must be the same with v4 default route interface ${link.name}`,
          );
        }
      }
    }
  } else {
    for (const value of ifaces) {
      const family = ipFamily(value);
      if (family !== null) {
        const ip = canonicalIP(value);
        const l = byAddress(ip);
        if (l !== null) {
          link = l;
          chosen[family] = ip;
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
          const hit4 = v4 ? addrsOf(l, 4).find((a) => re.test(a.ip)) : null;
          const hit6 = v6 ? addrsOf(l, 6).find((a) => re.test(a.ip)) : null;
          if ((v4 && !hit4) || (v6 && !hit6)) continue;
          link = l;
          chosen[4] = hit4?.ip ?? null;
          chosen[6] = hit6?.ip ?? null;
          break;
        }
        if (link === null) link = links.find((l) => re.test(l.name)) ?? null;
        if (link !== null) break;
        tried.push(`regex ${re.source}: no match`);
      }
    }
    if (link === null && canReach !== null) {
      const r = await handle.routeGet(canonicalIP(canReach), { signal });
      link = links.find((l) => l.index === r.index) ?? null;
      if (link !== null && r.prefsrc !== null) {
        const f = familyOf(r.prefsrc, "ifaceCanReach");
        if ((f === 4 && v4) || (f === 6 && v6)) chosen[f] = r.prefsrc;
      }
      if (link === null) tried.push(`can-reach ${canReach}: no interface`);
    }
    if (link === null) {
      throw notFound(
        "Failed to find interface to use that matches the interfaces and/or regexes provided",
        { tried },
      );
    }
  }

  const found = link;
  if (publicIPv6 !== null && v6 && chosen[6] === null) {
    // flanneld: in dual stack the interface holding --public-ipv6 must be the IPv4 one.
    const l6 = byAddress(publicIPv6);
    if (l6 !== null && l6.index !== found.index) {
      throw notFound(`v6 interface ${l6.name} must be the same with v4 interface ${found.name}`);
    }
    if (l6 !== null) chosen[6] = publicIPv6;
  }
  for (const family of [4, 6] as const) {
    if (!(family === 4 ? v4 : v6) || chosen[family] !== null) continue;
    const a = preferredAddress(addrsOf(found, family), family);
    if (a === null) {
      throw new FlannelError(
        "INTERFACE_NOT_FOUND",
        `failed to find IPv${family} address for interface ${found.name}`,
        { field: family === 4 ? "EnableIPv4" : "EnableIPv6", details: { iface: found.name } },
      );
    }
    chosen[family] = a.ip;
  }
  if (found.mtu === 0) throw notFound(`failed to determine MTU for ${found.name} interface`);
  return {
    name: found.name,
    index: found.index,
    mtu: found.mtu,
    address: v4 ? chosen[4] : null,
    publicIP: v4 ? (publicIP ?? (chosen[4] as string)) : "0.0.0.0",
    address6: v6 ? chosen[6] : null,
    publicIPv6: v6 ? (publicIPv6 ?? chosen[6]) : null,
    link: found,
  };
}
