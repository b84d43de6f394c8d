import { invalidValue } from "../errors.js";
import { isShellName, parseShellEnv } from "../shell/parse.js";
import { describeChar, findForbiddenChar } from "../shell/quote.js";

/**
 * mk-docker-opts' default output file (`-d`).
 *
 * @example
 * ```ts
 * await writeFileAtomic(DEFAULT_DOCKER_OPTS_FILE, mkDockerOpts({ subnetEnv, individual: true }).content);
 * ```
 */
export const DEFAULT_DOCKER_OPTS_FILE = "/run/docker_opts.env";

/**
 * The content of a `docker_opts.env` / `/run/flannel/docker` file as data: the individual
 * `DOCKER_OPT_*` variables and the combined variable, in file order.
 */
export interface DockerOpts {
  /** `[name, value]` pairs such as `["DOCKER_OPT_BIP", "--bip=10.1.74.1/24"]`. */
  readonly individual: readonly (readonly [string, string])[];
  /** The combined variable (`DOCKER_OPTS`, `DOCKER_NETWORK_OPTIONS`…), or `null`. */
  readonly combined: { readonly key: string; readonly value: string } | null;
}

/**
 * Throws `RENDER_INVALID_VALUE` unless `value` can sit between the double quotes mk-docker-opts
 * writes (`NAME="value"`, no escaping) and read back the same by `/bin/sh` and by systemd's
 * `EnvironmentFile=`: no `"`, `\`, `` ` ``, `$`, control character, DEL or lone surrogate.
 * @internal
 */
export function checkDockerOptValue(name: string, value: string): void {
  const bad = findForbiddenChar(value);
  if (bad >= 0) {
    throw invalidValue(
      `${name} contains ${describeChar(value, bad)}, which cannot be written to a docker options file`,
      name,
      value,
    );
  }
  const special = /["\\`$]/.exec(value);
  if (special !== null) {
    throw invalidValue(
      `${name} contains ${JSON.stringify(special[0])}, which cannot be written between double quotes unescaped`,
      name,
      value,
    );
  }
}

function checkName(name: string, field: string): void {
  if (!isShellName(name)) {
    throw invalidValue(`invalid variable name ${JSON.stringify(name)}`, field, name);
  }
}

/**
 * Renders a docker options file in mk-docker-opts' exact format: one `NAME="value"` line per
 * individual option, then `KEY="combined"`, each ending in `\n` (an empty file when there is
 * nothing). Values are written unescaped, as the script writes them, so values the script could
 * not write safely are refused.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * renderDockerOptsEnv({
 *   individual: [["DOCKER_OPT_BIP", "--bip=172.30.8.1/24"]],
 *   combined: { key: "DOCKER_NETWORK_OPTIONS", value: " --bip=172.30.8.1/24" },
 * });
 * // 'DOCKER_OPT_BIP="--bip=172.30.8.1/24"\nDOCKER_NETWORK_OPTIONS=" --bip=172.30.8.1/24"\n'
 * ```
 */
export function renderDockerOptsEnv(opts: DockerOpts): string {
  let out = "";
  for (const [name, value] of opts.individual) {
    checkName(name, "individual");
    checkDockerOptValue(name, value);
    out += `${name}="${value}"\n`;
  }
  if (opts.combined !== null) {
    checkName(opts.combined.key, "combined.key");
    checkDockerOptValue(opts.combined.key, opts.combined.value);
    out += `${opts.combined.key}="${opts.combined.value}"\n`;
  }
  return out;
}

/**
 * Reads a docker options file (`/run/docker_opts.env`, `/run/flannel/docker`) the way `/bin/sh`
 * sources it. Variables whose name contains `DOCKER_OPT_` are the individual options; the last
 * other variable is the combined one.
 *
 * @throws FlannelError `ENV_SYNTAX`
 * @example
 * ```ts
 * parseDockerOptsEnv('DOCKER_OPT_MTU="--mtu=1450"\nDOCKER_OPTS=" --mtu=1450"\n').combined;
 * // { key: "DOCKER_OPTS", value: " --mtu=1450" }
 * ```
 */
export function parseDockerOptsEnv(text: string): DockerOpts {
  const { assigned } = parseShellEnv(text);
  const individual: [string, string][] = [];
  let combined: { key: string; value: string } | null = null;
  for (const [name, value] of Object.entries(assigned)) {
    if (name.includes("DOCKER_OPT_")) individual.push([name, value]);
    else combined = { key: name, value };
  }
  return { individual, combined };
}
