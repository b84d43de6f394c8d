/**
 * A config as the text a store keeps: what a store's `config` option and
 * `putNetworkConfig` accept, turned into the document written to `<prefix>/config`.
 */

import { FlannelError } from "../errors.js";
import { formatNetworkConfig } from "./format.js";
import type { NetworkConfig } from "./types.js";

const NULLABLE_TEXT = [
  "network",
  "subnetMin",
  "subnetMax",
  "ipv6Network",
  "ipv6SubnetMin",
  "ipv6SubnetMax",
] as const;

/**
 * True when `value` has the shape of a parsed {@link NetworkConfig} (every field, with its
 * type), as opposed to a config document written as an object.
 */
export function isNetworkConfig(value: object): value is NetworkConfig {
  const v = value as Record<string, unknown>;
  const backend = v.backend as Record<string, unknown> | null | undefined;
  return (
    typeof v.enableIPv4 === "boolean" &&
    typeof v.enableIPv6 === "boolean" &&
    typeof v.enableNFTables === "boolean" &&
    typeof v.subnetLen === "number" &&
    typeof v.ipv6SubnetLen === "number" &&
    NULLABLE_TEXT.every((k) => v[k] === null || typeof v[k] === "string") &&
    typeof backend === "object" &&
    backend !== null &&
    typeof backend.type === "string"
  );
}

/**
 * The config document for `config`: JSON text as is, a parsed {@link NetworkConfig} in
 * flannel's spelling ({@link formatNetworkConfig}), any other object as `JSON.stringify` writes it.
 *
 * Every store's `config` option and `putNetworkConfig` write what this returns, so a parsed
 * config round-trips through any store.
 *
 * @throws FlannelError `INVALID_ARGUMENT` for anything else; `CONFIG_INVALID` for a
 *   `NetworkConfig` flanneld would refuse.
 *
 * @example
 * ```ts
 * networkConfigText(parseNetworkConfig('{"Network":"10.244.0.0/16"}')); // '{"Network":"10.244.0.0/16",…}'
 * ```
 */
export function networkConfigText(config: string | object): string {
  if (typeof config === "string") return config;
  if (typeof config === "object" && config !== null) {
    return isNetworkConfig(config) ? formatNetworkConfig(config) : JSON.stringify(config);
  }
  throw new FlannelError(
    "INVALID_ARGUMENT",
    "a network config is JSON text, an object, or a NetworkConfig",
  );
}
