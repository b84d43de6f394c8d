import { execFile } from "node:child_process";
import { IP4Net, throwIfAborted } from "@flannel-sdk/core";

/** dash's built-in `PATH` when the environment has none. */
const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Route types `ip route show` prints before the destination of a non-unicast route. */
const ROUTE_TYPES = new Set([
  "unicast",
  "local",
  "broadcast",
  "multicast",
  "throw",
  "unreachable",
  "prohibit",
  "blackhole",
  "nat",
  "anycast",
]);

/**
 * The network the route check looks for: `FLANNEL_SUBNET` with its host bits cleared
 * (`10.1.74.1/24` → `10.1.74.0/24`), or `null` when it is not an IPv4 CIDR (then there is nothing
 * to check). The script subtracts 1 from the last octet instead, which agrees for every value
 * flanneld writes.
 *
 * @example
 * ```ts
 * routeCheckSubnet("10.1.74.1/24"); // "10.1.74.0/24"
 * ```
 */
export function routeCheckSubnet(flannelSubnet: string): string | null {
  try {
    return IP4Net.parse(flannelSubnet).network().toString();
  } catch {
    return null;
  }
}

function destination(line: string): IP4Net | null {
  const tokens = line.trim().split(/\s+/);
  let dest = tokens[0];
  if (dest !== undefined && ROUTE_TYPES.has(dest)) dest = tokens[1];
  if (dest === undefined || dest === "default") return null;
  try {
    return IP4Net.parse(dest.includes("/") ? dest : `${dest}/32`);
  } catch {
    return null;
  }
}

/**
 * Finds, in `ip route show` output, the routes whose destination is exactly `subnet` and that go
 * via a gateway (`via`, also on a multipath route's `nexthop` lines): the routes that make the
 * node's docker bridge subnet unreachable. Returns each such route's lines, as `ip` printed them.
 * (The script greps for the subnet text and `via` anywhere on a line, so `110.1.74.0/24 via …`
 * also trips it for `10.1.74.0/24`; this matches the destination exactly.)
 *
 * @example
 * ```ts
 * findRouteConflicts("10.1.74.0/24 via 192.0.2.2 dev eth0 \n", "10.1.74.0/24");
 * // ["10.1.74.0/24 via 192.0.2.2 dev eth0 "]
 * ```
 */
export function findRouteConflicts(routeTable: string, subnet: string): string[] {
  const want = IP4Net.parse(subnet).network();
  const groups: string[][] = [];
  for (const line of routeTable.split("\n")) {
    if (line === "") continue;
    if (/^\s/.test(line) && groups.length > 0) groups[groups.length - 1]!.push(line);
    else groups.push([line]);
  }
  const out: string[] = [];
  for (const group of groups) {
    const dest = destination(group[0]!);
    if (dest === null || !dest.equals(want)) continue;
    if (group.some((l) => /(^|\s)via\s/.test(l))) out.push(...group);
  }
  return out;
}

/** Options of {@link checkRouteConflict}. */
export interface CheckRouteConflictOptions {
  /** Environment for finding and running `ip` (its `PATH`). Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Where the routing table comes from: resolves to `ip route show` output, or `null` when it
   * cannot be read (the check then passes, as the script's does without `ip`). Default: runs
   * `ip route show` found in `env`'s `PATH`. Pass your own to read another network namespace's
   * table (`ip -n NS route show`) or a fixed table in a test.
   */
  readRoutes?: (signal?: AbortSignal) => Promise<string | null>;
  signal?: AbortSignal;
}

/** `ip route show` as the script runs it; `null` when `ip` is missing or fails. */
function ipRouteShow(
  env: Readonly<Record<string, string | undefined>>,
  signal?: AbortSignal,
): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      "ip",
      ["route", "show"],
      {
        env: { ...env, PATH: env.PATH ?? DEFAULT_PATH },
        encoding: "utf8",
        ...(signal === undefined ? {} : { signal }),
      },
      (error, stdout) => resolve(error === null ? stdout : null),
    );
  });
}

/**
 * mk-docker-opts' v0.18+ route-conflict check: runs `ip route show` and returns the routes that
 * send `FLANNEL_SUBNET`'s network via a gateway ({@link findRouteConflicts}); empty when there are
 * none, when `FLANNEL_SUBNET` is not an IPv4 CIDR, or when `ip` is missing or fails (the script's
 * check passes then too). `readRoutes` replaces `ip route show` as the source of the table.
 *
 * @throws FlannelError `ABORTED`
 * @example
 * ```ts
 * const lines = await checkRouteConflict("10.1.74.1/24");
 * if (lines.length > 0) console.error(`Your routing table already contains the subnet: ${lines.join("\n")}`);
 * // another namespace's table:
 * await checkRouteConflict("10.1.74.1/24", {
 *   readRoutes: async () => execFileSync("ip", ["-n", "node1", "route", "show"], { encoding: "utf8" }),
 * });
 * ```
 */
export async function checkRouteConflict(
  flannelSubnet: string,
  options: CheckRouteConflictOptions = {},
): Promise<string[]> {
  throwIfAborted(options.signal);
  const subnet = routeCheckSubnet(flannelSubnet);
  if (subnet === null) return [];
  const table = await (options.readRoutes ?? ((s) => ipRouteShow(options.env ?? process.env, s)))(
    options.signal,
  );
  throwIfAborted(options.signal);
  return table === null ? [] : findRouteConflicts(table, subnet);
}
