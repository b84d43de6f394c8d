import type { LeaseAttrs } from "@flannel-sdk/core";
import { FlannelError, INSTALL_GUIDE } from "@flannel-sdk/core";
import { type CertPair, etcdctl } from "@flannel-sdk/testkit";

/** vxlan attrs of a test node. */
export function node(i: number, mac = "c6:d2:32:6f:8f:44"): LeaseAttrs {
  return {
    publicIP: `192.168.${Math.floor(i / 250)}.${(i % 250) + 1}`,
    publicIPv6: null,
    backendType: "vxlan",
    backendData: { VNI: 1, VtepMAC: mac },
    backendV6Data: null,
  };
}

/** The code of the FlannelError a promise rejects with (or "resolved"). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof FlannelError || (e as { name?: string }).name === "FlannelError"
      ? (e as FlannelError).code
      : `not a FlannelError: ${String(e)}`;
  }
}

/** The network config the install guide writes (core's preset). */
export const GUIDE_CONFIG: string = INSTALL_GUIDE.networkConfig;

/** Unique prefix per test so tests can share one etcd. */
let n = 0;
export function uniquePrefix(tag: string): string {
  return `/flannel-sdk-test/${tag}-${process.pid}-${++n}/network`;
}

/** Both wires of `EtcdLeaseStore`: every v3 test runs over each. */
export const TRANSPORTS = ["http", "grpc"] as const;

/**
 * `etcdctl` against one TLS member as `client` (the CA of `caFile`), optionally as an etcd user
 * (`name:password`), for the tests that set up auth.
 */
export function tlsEtcdctl(
  api: 2 | 3,
  endpoint: string,
  caFile: string,
  client: CertPair,
): (args: string[], user?: string) => Promise<string> {
  return (args, user) =>
    etcdctl(args, {
      api,
      endpoints: [endpoint],
      caFile,
      certFile: client.certFile,
      keyFile: client.keyFile,
      ...(user ? { user } : {}),
    });
}

/** etcd's lease IDs: every granted lease, and those at least one key hangs on. */
export async function leaseAccounting(
  endpoint: string,
): Promise<{ granted: string[]; attached: string[] }> {
  const opts = { api: 3 as const, endpoints: [endpoint] };
  // etcdctl -w json prints IDs as JSON numbers beyond 2^53: read the digits, never JSON.parse.
  const leases = await etcdctl(["lease", "list", "-w", "json"], opts);
  const kvs = await etcdctl(["get", "", "--from-key", "--keys-only", "-w", "json"], opts);
  const granted = [...leases.matchAll(/"id":(\d+)/g)].map((m) => m[1]!);
  const attached = [...kvs.matchAll(/"lease":(\d+)/g)].map((m) => m[1]!).filter((id) => id !== "0");
  return { granted: [...new Set(granted)].sort(), attached: [...new Set(attached)].sort() };
}

/**
 * Asserts that etcd holds no lease grant without a key: its lease count equals the number of
 * distinct leases attached to keys. Revocations after a failure run in the background, so it
 * waits up to `timeoutMs` for the two to agree before it fails with both lists.
 */
export async function expectNoLeakedGrants(endpoint: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = await leaseAccounting(endpoint);
  while (seen.granted.join() !== seen.attached.join() && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    seen = await leaseAccounting(endpoint);
  }
  if (seen.granted.join() !== seen.attached.join()) {
    const leaked = seen.granted.filter((id) => !seen.attached.includes(id));
    throw new Error(
      `etcd has ${seen.granted.length} lease grants but keys hang on ${seen.attached.length}: leaked ${leaked.length} (${leaked.slice(0, 5).join(", ")}${leaked.length > 5 ? ", …" : ""})`,
    );
  }
}
