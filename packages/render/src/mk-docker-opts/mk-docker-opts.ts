import { FlannelError } from "@flannel-sdk/core";
import { type DockerOpts, renderDockerOptsEnv } from "../env/docker-opts.js";
import { invalidValue } from "../errors.js";
import { isShellName, nullRecord, parseShellEnv } from "../shell/parse.js";

/** Options of {@link mkDockerOpts}: the script's flags, and what it reads. */
export interface MkDockerOptsOptions {
  /**
   * Text of the flannel env file (`-f`), or `null` when that file does not exist (the script then
   * uses the `FLANNEL_*` variables of its environment).
   */
  subnetEnv: string | null;
  /**
   * The environment the script inherits: `FLANNEL_*` fallbacks, inherited `DOCKER_OPT_*`
   * variables, and the current value of the combined key. Default: empty.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** `-i`: write the individual `DOCKER_OPT_*` lines. */
  individual?: boolean;
  /** `-c`: write the combined line. When neither `individual` nor `combined` is set, both are. */
  combined?: boolean;
  /** `-k`: the combined variable's name. Default `DOCKER_OPTS`. */
  combinedKey?: string;
  /** `false` is `-m`: no `--ip-masq` option at all (and `FLANNEL_IPMASQ` is not checked). */
  ipMasq?: boolean;
}

/** What {@link mkDockerOpts} computed. */
export interface MkDockerOptsResult {
  /** The output file's bytes, exactly what the script writes. */
  readonly content: string;
  /** The same, as data. */
  readonly opts: DockerOpts;
  /**
   * Every variable the script sees after sourcing the env file and deriving the
   * `DOCKER_OPT_*` values (null-prototype record).
   */
  readonly variables: Readonly<Record<string, string>>;
}

/** Field splitting then joining with one space: what `echo $VAR` prints in the script. */
function fieldJoin(value: string): string {
  return value
    .split(/[ \t\n]+/)
    .filter((w) => w !== "")
    .join(" ");
}

/** Byte order of variable names, which is the order of dash's `set` listing. */
function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * flannel's `dist/mk-docker-opts.sh` as a function: derives `DOCKER_OPT_BIP` from
 * `FLANNEL_SUBNET`, `DOCKER_OPT_MTU` from `FLANNEL_MTU` and `DOCKER_OPT_IPMASQ` from
 * `FLANNEL_IPMASQ` (inverted: when flannel masquerades docker must not), lists every variable
 * whose name contains `DOCKER_OPT_` (inherited ones too) in byte order, and builds the combined
 * value: the combined key's current value plus a space when non-empty, then ` value` for each
 * option — hence the leading space. Values are whitespace-normalised as the script's
 * `echo $VAR` does. Pure: the caller reads the env file and writes the result.
 *
 * @throws FlannelError `IPMASQ_INVALID` (message `Invalid value of FLANNEL_IPMASQ: <v>`, the
 * script's), `ENV_SYNTAX` (the env file needs more than the shell subset), `RENDER_INVALID_VALUE`
 * (an invalid combined key; a value the output file cannot hold)
 * @example
 * ```ts
 * mkDockerOpts({
 *   subnetEnv: "FLANNEL_SUBNET=172.30.8.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n",
 *   combinedKey: "DOCKER_NETWORK_OPTIONS",
 * }).content;
 * // DOCKER_OPT_BIP="--bip=172.30.8.1/24"
 * // DOCKER_OPT_IPMASQ="--ip-masq=false"
 * // DOCKER_OPT_MTU="--mtu=1450"
 * // DOCKER_NETWORK_OPTIONS=" --bip=172.30.8.1/24 --ip-masq=false --mtu=1450"
 * ```
 */
export function mkDockerOpts(options: MkDockerOptsOptions): MkDockerOptsResult {
  const key = options.combinedKey ?? "DOCKER_OPTS";
  if (!isShellName(key)) {
    throw invalidValue(`invalid combined key ${JSON.stringify(key)}`, "combinedKey", key);
  }
  let individual = options.individual ?? false;
  let combined = options.combined ?? false;
  if (!individual && !combined) {
    individual = true;
    combined = true;
  }

  const envOnly = parseShellEnv("", options.env === undefined ? {} : { env: options.env });
  const vars = new Map<string, string>(
    Object.entries(
      options.subnetEnv === null
        ? envOnly.variables
        : parseShellEnv(options.subnetEnv, { env: envOnly.variables }).variables,
    ),
  );
  const get = (name: string): string => vars.get(name) ?? "";

  const subnet = get("FLANNEL_SUBNET");
  if (subnet !== "") vars.set("DOCKER_OPT_BIP", `--bip=${subnet}`);
  const mtu = get("FLANNEL_MTU");
  if (mtu !== "") vars.set("DOCKER_OPT_MTU", `--mtu=${mtu}`);
  const masq = get("FLANNEL_IPMASQ");
  if (masq !== "" && (options.ipMasq ?? true)) {
    if (masq === "true") vars.set("DOCKER_OPT_IPMASQ", "--ip-masq=false");
    else if (masq === "false") vars.set("DOCKER_OPT_IPMASQ", "--ip-masq=true");
    else {
      throw new FlannelError("IPMASQ_INVALID", `Invalid value of FLANNEL_IPMASQ: ${masq}`, {
        field: "FLANNEL_IPMASQ",
        details: { value: masq },
      });
    }
  }

  let combinedValue = get(key);
  if (combinedValue !== "") combinedValue += " ";
  const names = [...vars.keys()].filter((n) => n.includes("DOCKER_OPT_")).sort(byName);
  const lines: [string, string][] = [];
  for (const name of names) {
    const value = fieldJoin(get(name));
    if (individual) lines.push([name, value]);
    combinedValue += ` ${value}`;
  }
  const opts: DockerOpts = {
    individual: lines,
    combined: combined ? { key, value: combinedValue } : null,
  };
  return {
    content: renderDockerOptsEnv(opts),
    opts,
    variables: nullRecord(vars),
  };
}
