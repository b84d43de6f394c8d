import { invalidValue } from "../errors.js";
import { isShellName } from "../shell/parse.js";
import { describeChar, findForbiddenChar } from "../shell/quote.js";
import { checkUnitValue, SYSTEMD_LIMITS } from "./unit-file.js";

/**
 * A reference to an environment variable inside an `Exec*=` command line. `split: true` is the
 * whole-word `$NAME` form (systemd splits the value into several arguments at whitespace);
 * otherwise `${NAME}`, replaced inside its word without splitting.
 */
export interface ExecEnvRef {
  readonly env: string;
  readonly split?: boolean;
}

/**
 * One argument of an `Exec*=` command line: a literal string (quoted and escaped as needed), an
 * environment reference, or a concatenation of literals and `${NAME}` references
 * (`["-etcd-prefix=", { env: "FLANNEL_ETCD_PREFIX" }]`).
 */
export type ExecWord = string | ExecEnvRef | readonly (string | ExecEnvRef)[];

function checkNoControl(value: string, field: string): void {
  const bad = findForbiddenChar(value);
  if (bad >= 0) {
    throw invalidValue(
      `${field} contains ${describeChar(value, bad)}, which a unit file cannot hold`,
      field,
      value,
    );
  }
}

/**
 * Escapes systemd specifiers: `%` becomes `%%`, so `%h`, `%n`… stay literal.
 *
 * @example
 * ```ts
 * escapeSpecifiers("100%"); // "100%%"
 * ```
 */
export function escapeSpecifiers(value: string): string {
  return value.replace(/%/g, "%%");
}

/**
 * Formats free text for a plain string setting (`Description=`, `Documentation=`): specifiers
 * escaped; control characters, surrounding whitespace and a trailing backslash refused.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * unitText("Flanneld overlay address etcd agent", "Description");
 * ```
 */
export function unitText(value: string, field: string): string {
  if (value === "") throw invalidValue(`${field} must not be empty`, field, value);
  const out = escapeSpecifiers(value);
  checkUnitValue(out, field);
  return out;
}

const UNIT_NAME_RE =
  /^[A-Za-z0-9:_.\\@-]+\.(service|socket|device|mount|automount|swap|target|path|timer|slice|scope)$/;

/**
 * Checks a unit name for a dependency setting (`After=`, `Wants=`, `RequiredBy=`…).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * unitName("docker.service", "Before"); // "docker.service"
 * ```
 */
export function unitName(name: string, field: string): string {
  if (typeof name !== "string" || name.length > 255 || !UNIT_NAME_RE.test(name)) {
    throw invalidValue(`${field}: invalid unit name ${JSON.stringify(name)}`, field, name);
  }
  return name;
}

/**
 * Checks an absolute path for a unit setting (`EnvironmentFile=`, an executable) and escapes its
 * specifiers. Paths with whitespace, quotes, backslashes, `$` or control characters are refused
 * (each setting would read them differently), as are relative paths, `.`/`..` components, `//` and
 * a trailing `/` (systemd would normalize them away), and paths past systemd's limits
 * ({@link SYSTEMD_LIMITS}: over 4,095 bytes, or a component over 255 bytes, which systemd ignores).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * unitPath("/etc/sysconfig/flanneld", "EnvironmentFile"); // "/etc/sysconfig/flanneld"
 * ```
 */
export function unitPath(path: string, field: string): string {
  if (typeof path !== "string") throw invalidValue(`${field} must be a string`, field, path);
  checkNoControl(path, field);
  if (!path.startsWith("/")) {
    throw invalidValue(`${field} must be an absolute path: ${JSON.stringify(path)}`, field, path);
  }
  if (/[\s"'\\$]/.test(path)) {
    throw invalidValue(
      `${field}: paths with whitespace, quotes, backslashes or $ are not supported: ${JSON.stringify(path)}`,
      field,
      path,
    );
  }
  if (
    path
      .split("/")
      .some((c, i, all) => c === "." || c === ".." || (c === "" && i > 0 && all.length > 2))
  ) {
    throw invalidValue(`${field} must be a normalized path: ${JSON.stringify(path)}`, field, path);
  }
  // Checked on the path itself: systemd measures it once `%%` is resolved back to `%`.
  const bytes = Buffer.byteLength(path);
  if (bytes > SYSTEMD_LIMITS.pathBytes) {
    throw invalidValue(
      `${field}: the path is ${bytes} bytes, systemd takes at most ${SYSTEMD_LIMITS.pathBytes} (PATH_MAX) and would ignore it`,
      field,
      { bytes, limit: SYSTEMD_LIMITS.pathBytes },
    );
  }
  const long = path.split("/").find((c) => Buffer.byteLength(c) > SYSTEMD_LIMITS.fileNameBytes);
  if (long !== undefined) {
    throw invalidValue(
      `${field}: a path component is ${Buffer.byteLength(long)} bytes, systemd takes at most ${SYSTEMD_LIMITS.fileNameBytes} (NAME_MAX) and would ignore the path`,
      field,
      { component: long.slice(0, 64), limit: SYSTEMD_LIMITS.fileNameBytes },
    );
  }
  return escapeSpecifiers(path);
}

/** Characters that make a literal word need double quotes on a command line. */
const NEEDS_QUOTES = /[\s"'\\;]/;

function envRef(ref: ExecEnvRef, field: string): string {
  if (!isShellName(ref.env)) {
    throw invalidValue(
      `${field}: invalid variable name ${JSON.stringify(ref.env)}`,
      field,
      ref.env,
    );
  }
  return `\${${ref.env}}`;
}

/**
 * Formats one argument of an `Exec*=` line so systemd passes exactly the intended string: `%`
 * doubled (specifiers) and `$` doubled (environment substitution) in literal text; a word with
 * whitespace, quotes, a backslash or `;` (or an empty word) wrapped in double quotes with `\` and
 * `"` escaped; `${NAME}` / `$NAME` for references. Control characters are refused.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * formatExecWord(["-etcd-prefix=", { env: "FLANNEL_ETCD_PREFIX" }]); // "-etcd-prefix=${FLANNEL_ETCD_PREFIX}"
 * formatExecWord("a b"); // '"a b"'
 * ```
 */
export function formatExecWord(word: ExecWord, field = "ExecStart"): string {
  if (typeof word === "object" && !Array.isArray(word)) {
    const ref = word as ExecEnvRef;
    if (ref.split) {
      if (!isShellName(ref.env)) {
        throw invalidValue(
          `${field}: invalid variable name ${JSON.stringify(ref.env)}`,
          field,
          ref.env,
        );
      }
      return `$${ref.env}`;
    }
    return envRef(ref, field);
  }
  const parts = (typeof word === "string" ? [word] : word) as readonly (string | ExecEnvRef)[];
  let quote = parts.length === 0;
  let out = "";
  for (const part of parts) {
    if (typeof part === "string") {
      checkNoControl(part, field);
      if (NEEDS_QUOTES.test(part)) quote = true;
      out += part.replace(/[%$]/g, "$&$&");
    } else {
      if (part.split) {
        throw invalidValue(`${field}: a split $${part.env} must be a whole word`, field, part.env);
      }
      out += envRef(part, field);
    }
  }
  // An empty word, and one starting with `#`/`;` (a comment when it begins a continuation line).
  if (out === "" || out.startsWith("#") || out.startsWith(";")) quote = true;
  return quote ? `"${out.replace(/[\\"]/g, "\\$&")}"` : out;
}

/** Prefixes systemd accepts before an `Exec*=` executable (`-` ignores its exit status…). */
const EXEC_PREFIX_RE = /^(?:[-@:+]|!!?)*$/;

/**
 * Formats the executable of an `Exec*=` line: an optional prefix (`-`, `@`, `:`, `+`, `!`, `!!`)
 * and an absolute path.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * formatExecPath("/usr/bin/flanneld", "-"); // "-/usr/bin/flanneld"
 * ```
 */
export function formatExecPath(path: string, prefix = "", field = "ExecStart"): string {
  if (!EXEC_PREFIX_RE.test(prefix)) {
    throw invalidValue(
      `${field}: invalid executable prefix ${JSON.stringify(prefix)}`,
      field,
      prefix,
    );
  }
  return `${prefix}${unitPath(path, field)}`;
}

/**
 * Formats one `Environment=` assignment `NAME=value`: bare when it needs no quoting, else in
 * double quotes with `\` and `"` escaped; `%` doubled. Control characters are refused.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * formatEnvironmentAssignment("GOTRACEBACK", "crash"); // "GOTRACEBACK=crash"
 * ```
 */
export function formatEnvironmentAssignment(name: string, value: string): string {
  if (!isShellName(name)) {
    throw invalidValue(
      `Environment: invalid variable name ${JSON.stringify(name)}`,
      "Environment",
      name,
    );
  }
  checkNoControl(value, "Environment");
  const text = escapeSpecifiers(`${name}=${value}`);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/[\\"]/g, "\\$&")}"` : text;
}
