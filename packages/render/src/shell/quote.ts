import { invalidValue } from "../errors.js";
import { isShellName } from "./parse.js";

/**
 * Finds the first character no env-file or unit-file value may hold: a C0 control character
 * (newline, tab, carriage return, NUL…), DEL, a lone UTF-16 surrogate (which has no UTF-8
 * encoding) or a Unicode noncharacter (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF: systemd's UTF-8 check
 * refuses them and drops the whole assignment). Returns its index, or -1.
 * @internal
 */
export function findForbiddenChar(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return i;
    let cp = c;
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = value.charCodeAt(i + 1);
      if (!(d >= 0xdc00 && d <= 0xdfff)) return i;
      cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return i;
    }
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return i;
    if (cp > 0xffff) i++;
  }
  return -1;
}

/** @internal Describes a character for an error message: `U+000A`. */
export function describeChar(value: string, index: number): string {
  const c = value.codePointAt(index) ?? 0;
  return `U+${c.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Throws `RENDER_INVALID_VALUE` unless `name` is a valid variable name for both `/bin/sh` and
 * systemd's `EnvironmentFile=` (`[A-Za-z_][A-Za-z0-9_]*`).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * checkEnvName("FLANNEL_OPTIONS"); // ok
 * ```
 */
export function checkEnvName(name: string): void {
  if (typeof name !== "string" || !isShellName(name)) {
    throw invalidValue(`invalid variable name ${JSON.stringify(name)}`, "name", name);
  }
}

/**
 * Quotes a value for an env file that is both sourced by `/bin/sh` and read by systemd's
 * `EnvironmentFile=`: double quotes, with `"`, `\`, `` ` `` and `$` escaped by a backslash. Both
 * readers then give back exactly `value`. Values with a control character (newline, tab, CR…),
 * DEL or a lone surrogate are refused: the two readers do not agree on them, and a newline could
 * smuggle in another assignment.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * quoteEnvValue('say "hi" to $USER'); // '"say \\"hi\\" to \\$USER"'
 * ```
 */
export function quoteEnvValue(value: string, field?: string): string {
  if (typeof value !== "string") throw invalidValue("value must be a string", field, value);
  const bad = findForbiddenChar(value);
  if (bad >= 0) {
    throw invalidValue(
      `${field ?? "value"} contains ${describeChar(value, bad)}, which an env file cannot hold`,
      field,
      value,
    );
  }
  return `"${value.replace(/["\\`$]/g, "\\$&")}"`;
}

/**
 * One `NAME="value"` line (without the newline) for an env file read by both `/bin/sh` and
 * systemd.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * renderEnvAssignment("FLANNEL_ETCD_PREFIX", "/kube-centos/network");
 * // 'FLANNEL_ETCD_PREFIX="/kube-centos/network"'
 * ```
 */
export function renderEnvAssignment(name: string, value: string): string {
  checkEnvName(name);
  return `${name}=${quoteEnvValue(value, name)}`;
}
