/**
 * Options shared by {@link EtcdLeaseStore} and {@link EtcdV2LeaseStore}.
 */
import { type AllocationStrategy, type Clock, DEFAULT_ETCD_ENDPOINTS } from "@flannel-sdk/core";
import type { EtcdTlsOptions } from "./tls.js";

/** flanneld's default `--etcd-endpoints`: core's `DEFAULT_ETCD_ENDPOINTS`. */
export const DEFAULT_ENDPOINTS: readonly string[] = DEFAULT_ETCD_ENDPOINTS;

/** flannel's lease TTL: 24 h, in seconds (`subnetTTL`). */
export const SUBNET_TTL_SECONDS = 86_400;

/** flannel's create-race retries (`raceRetries`). */
export const RACE_RETRIES = 10;

/**
 * User name and password for etcd's auth (flanneld `--etcd-username` / `--etcd-password`). On
 * etcd v3 the store authenticates once and sends the token; when etcd answers that the token is
 * stale (`invalid auth token`: expired, or forgotten in a restart; `revision of auth store is
 * old`: issued before a change to etcd's users or roles, with JWT tokens) it authenticates again
 * and retries that call once, as etcd's own client does. On v2 both go with every request.
 */
export interface EtcdAuthOptions {
  readonly username: string;
  readonly password: string;
}

/** Options of both etcd lease stores. */
export interface EtcdStoreOptions {
  /**
   * Client URLs. `https://` endpoints use TLS (with `tls` material if given); prefer
   * `https://localhost:…` over an IP for TLS. Default flanneld's
   * `http://127.0.0.1:4001,http://127.0.0.1:2379`.
   */
  readonly endpoints?: readonly string[];
  /** Key prefix (flanneld `--etcd-prefix`). Default `/coreos.com/network`. */
  readonly prefix?: string;
  /** CA, client certificate and key: file paths or PEM. */
  readonly tls?: EtcdTlsOptions;
  /** etcd user name and password. */
  readonly auth?: EtcdAuthOptions;
  /**
   * Lease TTL in seconds. flannel fixes it at 86400 (24 h); change it only for tests and
   * experiments. Default 86400.
   */
  readonly leaseTTL?: number;
  /** Deadline of each request (not of watches). Default 10 s. */
  readonly requestTimeoutMs?: number;
  /** Attempts of one acquisition before `MAX_RETRIES`. Default 10 (flannel's `raceRetries`). */
  readonly raceRetries?: number;
  /** Wall clock and timers. Default the system clock. */
  readonly clock?: Clock;
  /** Randomness in [0, 1) for subnet choice and retry jitter. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * How a free subnet is chosen for a new lease. Default `"hashed"`: start at a hash of the
   * node's PublicIP and take the next free subnet, so nodes booting together rarely want the
   * same one, and a node whose lease expired tends to get the same subnet back. `"random"` is
   * flanneld's exact behaviour (uniform among the first 100 free subnets: racing nodes collide
   * and retry); `"sequential"` the lowest free one (for a single writer). docs/decisions.md.
   */
  readonly strategy?: AllocationStrategy;
}
