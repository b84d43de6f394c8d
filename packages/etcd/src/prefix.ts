/**
 * Key paths under the flannel prefix, built the way flannel builds them (Go `path.Join`).
 */
import { posix } from "node:path";
import { DEFAULT_ETCD_PREFIX } from "@flannel-sdk/core";

/** flanneld's default `--etcd-prefix`: core's `DEFAULT_ETCD_PREFIX`, the one default of every package. */
export const DEFAULT_PREFIX: string = DEFAULT_ETCD_PREFIX;

/** The keys a store uses, derived once from the prefix. */
export interface KeyLayout {
  /** The prefix as given. */
  readonly prefix: string;
  /** `<prefix>/config`. */
  readonly config: string;
  /** `<prefix>/subnets` (the v2 directory). */
  readonly subnetsDir: string;
  /** `<prefix>/subnets/`: the range every lease key starts with. */
  readonly subnets: string;
}

function goPathJoin(...parts: string[]): string {
  // Go's path.Join drops empty elements and Cleans the result; posix.join does the same here
  // except that it turns an empty result into ".", which Go turns into "".
  const joined = posix.join(...parts.filter((p) => p !== ""));
  return joined === "." ? "" : joined;
}

/**
 * The config and subnets keys under `prefix` (a trailing slash is normalised away, as flannel's
 * `path.Join` does).
 *
 * @example
 * ```ts
 * keyLayout("/kube-centos/network/").config; // "/kube-centos/network/config"
 * ```
 */
export function keyLayout(prefix: string = DEFAULT_PREFIX): KeyLayout {
  const subnetsDir = goPathJoin(prefix, "subnets");
  return {
    prefix,
    config: goPathJoin(prefix, "config"),
    subnetsDir,
    subnets: `${subnetsDir}/`,
  };
}
