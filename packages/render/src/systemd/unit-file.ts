import { invalidValue } from "../errors.js";
import { describeChar, findForbiddenChar } from "../shell/quote.js";

/**
 * One entry of a unit file. `raw` is the exact text (several lines joined by `\n` for a
 * directive continued with `\`), so formatting gives back the input byte for byte.
 */
export type UnitFileLine =
  | { readonly type: "blank"; readonly raw: string }
  | { readonly type: "comment"; readonly raw: string }
  | {
      readonly type: "directive";
      /** The key, whitespace-trimmed: `ExecStart`. */
      readonly key: string;
      /**
       * The value as systemd's parser sees it: continuation lines joined (each trailing `\`
       * becomes a space, comment lines inside are dropped), then trimmed. Escapes, specifiers and
       * quotes are left for the setting's own parser.
       */
      readonly value: string;
      readonly raw: string;
    }
  /** A line systemd rejects or ignores (`Missing '='`, a broken `[header`). */
  | { readonly type: "invalid"; readonly raw: string };

/** A `[Section]` and the entries under it. */
export interface UnitFileSection {
  /** The name between the brackets: `Service`. */
  readonly name: string;
  /** The header line as written (`[Service]`, maybe with surrounding whitespace). */
  readonly header: string;
  readonly lines: readonly UnitFileLine[];
}

/**
 * A systemd unit file (or drop-in) as an ordered model: sections in order, repeated sections and
 * repeated keys (`After=`, `EnvironmentFile=`, `ExecStart=` resets) kept, comments, blank lines and
 * `\` continuations kept. {@link formatUnitFile} of {@link parseUnitFile} is the identity.
 */
export interface UnitFile {
  /** Entries before the first section header (systemd ignores assignments there). */
  readonly preamble: readonly UnitFileLine[];
  readonly sections: readonly UnitFileSection[];
  /** Whether the text ends with a newline. */
  readonly finalNewline: boolean;
}

const WS = " \t\n\r";

function strip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && WS.includes(s[a]!)) a++;
  while (b > a && WS.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

function isCommentLine(line: string): boolean {
  const s = strip(line);
  return s.startsWith("#") || s.startsWith(";");
}

/** systemd's continuation test: the line ends with a backslash that is not itself escaped. */
function endsWithContinuation(s: string): boolean {
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    if (escaped) escaped = false;
    else if (s[i] === "\\") escaped = true;
  }
  return escaped;
}

/**
 * Parses a unit file into the ordered {@link UnitFile} model, losslessly, with systemd's line
 * rules (conf-parser.c): `#`/`;` comment lines (skipped even inside a continuation), a trailing
 * unescaped `\` continuing the value on the next line as a space, `[Name]` headers, `Key=value`
 * with both sides trimmed. Never throws: lines systemd would reject are kept as `invalid`.
 *
 * @example
 * ```ts
 * const unit = parseUnitFile("[Unit]\nAfter=a.service\nAfter=b.service\n");
 * getUnitValues(unit, "Unit", "After"); // ["a.service", "b.service"]
 * ```
 */
export function parseUnitFile(text: string): UnitFile {
  const finalNewline = text.endsWith("\n");
  const lines = text.split("\n");
  if (finalNewline || text === "") lines.pop();
  const preamble: UnitFileLine[] = [];
  const sections: { name: string; header: string; lines: UnitFileLine[] }[] = [];
  const target = (): UnitFileLine[] =>
    sections.length === 0 ? preamble : sections[sections.length - 1]!.lines;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const s = strip(line);
    if (s === "") {
      target().push({ type: "blank", raw: line });
      continue;
    }
    if (isCommentLine(line)) {
      target().push({ type: "comment", raw: line });
      continue;
    }
    if (s.startsWith("[") && !endsWithContinuation(line)) {
      if (s.endsWith("]") && s.length >= 2) {
        sections.push({ name: s.slice(1, -1), header: line, lines: [] });
      } else {
        target().push({ type: "invalid", raw: line });
      }
      continue;
    }
    const raw = [line];
    let logical = line;
    // The trailing backslash becomes a space; comment lines inside a continuation are skipped
    // without ending it. (The previous piece ends in that space, so each new piece can be tested
    // for a continuation on its own.)
    let continuing = endsWithContinuation(line);
    if (continuing) logical = `${logical.slice(0, -1)} `;
    while (continuing && i + 1 < lines.length) {
      const next = lines[++i]!;
      raw.push(next);
      if (isCommentLine(next)) continue;
      continuing = endsWithContinuation(next);
      logical += continuing ? `${next.slice(0, -1)} ` : next;
    }
    const eq = logical.indexOf("=");
    if (eq < 0) {
      target().push({ type: "invalid", raw: raw.join("\n") });
      continue;
    }
    target().push({
      type: "directive",
      key: strip(logical.slice(0, eq)),
      value: strip(logical.slice(eq + 1)),
      raw: raw.join("\n"),
    });
  }
  return { preamble, sections, finalNewline };
}

/**
 * Formats the model back to text: every entry's `raw` text, one per line.
 *
 * @example
 * ```ts
 * formatUnitFile(parseUnitFile(text)) === text; // always
 * ```
 */
export function formatUnitFile(unit: UnitFile): string {
  const out: string[] = unit.preamble.map((l) => l.raw);
  for (const section of unit.sections) {
    out.push(section.header);
    for (const line of section.lines) out.push(line.raw);
  }
  const text = out.join("\n");
  return unit.finalNewline && out.length > 0 ? `${text}\n` : text;
}

/**
 * Every value of `key` in every section named `section`, in file order (systemd merges repeated
 * sections). An empty value (`ExecStart=`) is returned too: for list settings it resets the list.
 *
 * @example
 * ```ts
 * getUnitValues(unit, "Service", "EnvironmentFile");
 * ```
 */
export function getUnitValues(unit: UnitFile, section: string, key: string): string[] {
  const out: string[] = [];
  for (const s of unit.sections) {
    if (s.name !== section) continue;
    for (const l of s.lines) if (l.type === "directive" && l.key === key) out.push(l.value);
  }
  return out;
}

/**
 * The last value of `key` in `section` (the one systemd uses for a single-valued setting), or
 * `undefined`.
 *
 * @example
 * ```ts
 * getUnitValue(unit, "Service", "Restart"); // "always"
 * ```
 */
export function getUnitValue(unit: UnitFile, section: string, key: string): string | undefined {
  const all = getUnitValues(unit, section, key);
  return all[all.length - 1];
}

const KEY_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Throws `RENDER_INVALID_VALUE` unless `value` can be the right-hand side of a single unit-file
 * line and reach the setting's parser unchanged: no control character (a newline would start a new
 * directive), no leading or trailing whitespace (systemd trims it) and no trailing unescaped `\`
 * (it would continue onto the next line). The value is raw unit-file text: escape specifiers
 * (`%%`) and quote for the setting before calling.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * checkUnitValue("Flanneld overlay address etcd agent", "Description");
 * ```
 */
export function checkUnitValue(value: string, field: string): void {
  if (typeof value !== "string") throw invalidValue(`${field} must be a string`, field, value);
  const bad = findForbiddenChar(value);
  if (bad >= 0) {
    throw invalidValue(
      `${field} contains ${describeChar(value, bad)}, which a unit file line cannot hold`,
      field,
      value,
    );
  }
  if (value !== strip(value)) {
    throw invalidValue(`${field} has leading or trailing whitespace`, field, value);
  }
  if (endsWithContinuation(value)) {
    throw invalidValue(`${field} ends with a backslash, which continues the line`, field, value);
  }
}

/**
 * systemd's own limits on what a unit file may hold, checked when rendering (a unit past them
 * still passes `systemd-analyze verify` with a warning, or fails to load):
 * - `lineBytes` 1,048,575: the longest line — and the longest directive once `\` continuations
 *   are joined — systemd reads (`LONG_LINE_MAX`, 1 MiB with its terminator); a longer one makes
 *   the whole unit fail to load ("No buffer space available").
 * - `pathBytes` 4,095: the longest path, after specifiers (`%%`) are resolved (`PATH_MAX`, 4,096
 *   counted with the NUL byte); a longer `EnvironmentFile=` is ignored, a longer `ExecStart=`
 *   executable leaves the service without a command.
 * - `fileNameBytes` 255: the longest path component (`NAME_MAX`); a longer one is ignored too.
 *
 * @example
 * ```ts
 * SYSTEMD_LIMITS.pathBytes; // 4095
 * ```
 */
export const SYSTEMD_LIMITS = {
  lineBytes: 1_048_575,
  pathBytes: 4_095,
  fileNameBytes: 255,
} as const;

function checkLineBytes(key: string, text: string): void {
  const bytes = Buffer.byteLength(text);
  if (bytes > SYSTEMD_LIMITS.lineBytes) {
    throw invalidValue(
      `${key}= is ${bytes} bytes: systemd reads at most ${SYSTEMD_LIMITS.lineBytes} per directive (LONG_LINE_MAX) and would not load the unit`,
      key,
      { bytes, limit: SYSTEMD_LIMITS.lineBytes },
    );
  }
}

/**
 * A directive entry `Key=value` (one line). `value` is raw unit-file text, checked with
 * {@link checkUnitValue}.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE` (also for a line over
 *   {@link SYSTEMD_LIMITS}`.lineBytes`, naming the key)
 * @example
 * ```ts
 * unitDirective("Restart", "always");
 * ```
 */
export function unitDirective(key: string, value: string): UnitFileLine {
  if (!KEY_RE.test(key)) throw invalidValue(`invalid unit key ${JSON.stringify(key)}`, "key", key);
  checkLineBytes(key, `${key}=${value}`);
  checkUnitValue(value, key);
  return { type: "directive", key, value, raw: `${key}=${value}` };
}

/**
 * A directive whose value is laid out over several lines with `\` continuations, as the install
 * guide writes `ExecStart=`: `lines[0]` follows `Key=`, each further line starts with its
 * `indent`. The model's `value` is what systemd reads (the pieces joined by single spaces).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE` (also when the joined directive is over
 *   {@link SYSTEMD_LIMITS}`.lineBytes`)
 * @example
 * ```ts
 * unitContinuedDirective("ExecStart", [
 *   { indent: "", text: "/usr/bin/flanneld-start" },
 *   { indent: "  ", text: "$FLANNEL_OPTIONS" },
 * ]);
 * ```
 */
export function unitContinuedDirective(
  key: string,
  lines: readonly { readonly indent: string; readonly text: string }[],
): UnitFileLine {
  if (!KEY_RE.test(key)) throw invalidValue(`invalid unit key ${JSON.stringify(key)}`, "key", key);
  if (lines.length === 0) throw invalidValue(`${key} needs at least one line`, key, lines);
  // systemd joins the continuation lines before it parses: the whole directive counts.
  checkLineBytes(key, `${key}=${lines.map((l) => `${l.indent}${l.text}`).join(" ")}`);
  const raw: string[] = [];
  lines.forEach((line, i) => {
    checkUnitValue(line.text, key);
    if (!/^[ \t]*$/.test(line.indent)) {
      throw invalidValue(`${key}: indent must be spaces and tabs`, key, line.indent);
    }
    if (i > 0 && isCommentLine(line.text)) {
      throw invalidValue(`${key}: a continuation line cannot start with # or ;`, key, line.text);
    }
    const last = i === lines.length - 1;
    raw.push(`${i === 0 ? `${key}=` : line.indent}${line.text}${last ? "" : " \\"}`);
  });
  return parseUnitFile(raw.join("\n")).preamble[0]!;
}

/**
 * Builds a unit file from sections of entries; `[key, value]` pairs become one-line directives,
 * and a blank line separates sections (the layout of the install guide's units).
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * formatUnitFile(buildUnitFile([{ name: "Unit", entries: [["Description", "x"]] }]));
 * // "[Unit]\nDescription=x\n"
 * ```
 */
export function buildUnitFile(
  sections: readonly {
    readonly name: string;
    readonly entries: readonly (UnitFileLine | readonly [string, string])[];
  }[],
): UnitFile {
  return {
    preamble: [],
    sections: sections.map((s, i) => {
      if (!/^[A-Za-z0-9 _-]+$/.test(s.name)) {
        throw invalidValue(`invalid section name ${JSON.stringify(s.name)}`, "section", s.name);
      }
      const lines = s.entries.map((e) =>
        Array.isArray(e) ? unitDirective(e[0], e[1]) : e,
      ) as UnitFileLine[];
      if (i < sections.length - 1) lines.push({ type: "blank", raw: "" });
      return { name: s.name, header: `[${s.name}]`, lines };
    }),
    finalNewline: true,
  };
}

function mapSections(
  unit: UnitFile,
  section: string,
  fn: (lines: readonly UnitFileLine[], index: number) => readonly UnitFileLine[],
): UnitFile {
  let index = 0;
  return {
    ...unit,
    sections: unit.sections.map((s) =>
      s.name === section ? { ...s, lines: fn(s.lines, index++) } : s,
    ),
  };
}

/**
 * Removes every `key=` line from `section`.
 *
 * @example
 * ```ts
 * removeUnitKey(unit, "Service", "Restart");
 * ```
 */
export function removeUnitKey(unit: UnitFile, section: string, key: string): UnitFile {
  return mapSections(unit, section, (lines) =>
    lines.filter((l) => !(l.type === "directive" && l.key === key)),
  );
}

/**
 * Adds `key=value` to `section`: after the last line of that key if there is one, else after the
 * section's last directive (a section is appended when missing). Other lines are untouched.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * addUnitValue(unit, "Unit", "After", "flanneld.service");
 * ```
 */
export function addUnitValue(
  unit: UnitFile,
  section: string,
  key: string,
  value: string,
): UnitFile {
  const entry = unitDirective(key, value);
  const last = unit.sections.map((s) => s.name).lastIndexOf(section);
  if (last < 0) {
    const needsBlank = unit.sections.length > 0;
    const prev = unit.sections.map((s, i) =>
      needsBlank && i === unit.sections.length - 1 && s.lines[s.lines.length - 1]?.type !== "blank"
        ? { ...s, lines: [...s.lines, { type: "blank", raw: "" } as const] }
        : s,
    );
    return {
      ...unit,
      sections: [...prev, { name: section, header: `[${section}]`, lines: [entry] }],
      finalNewline: true,
    };
  }
  // Prefer the section that already has the key, else the last section of that name.
  let targetIndex = last;
  unit.sections.forEach((s, i) => {
    if (s.name === section && s.lines.some((l) => l.type === "directive" && l.key === key)) {
      targetIndex = i;
    }
  });
  return {
    ...unit,
    sections: unit.sections.map((s, i) => {
      if (i !== targetIndex) return s;
      let at = -1;
      s.lines.forEach((l, j) => {
        if (l.type === "directive" && l.key === key) at = j;
      });
      if (at < 0) {
        s.lines.forEach((l, j) => {
          if (l.type === "directive") at = j;
        });
      }
      const lines = [...s.lines];
      lines.splice(at + 1, 0, entry);
      return { ...s, lines };
    }),
  };
}

/**
 * Sets `key` in `section` to exactly `values` (one line each): the first existing line of the key
 * is replaced in place, the others removed; with no existing line they are added as by
 * {@link addUnitValue}.
 *
 * @throws FlannelError `RENDER_INVALID_VALUE`
 * @example
 * ```ts
 * setUnitValue(unit, "Service", "Restart", "always");
 * ```
 */
export function setUnitValue(
  unit: UnitFile,
  section: string,
  key: string,
  values: string | readonly string[],
): UnitFile {
  const list = typeof values === "string" ? [values] : values;
  const entries = list.map((v) => unitDirective(key, v));
  const has = getUnitValues(unit, section, key).length > 0;
  if (!has) return list.reduce((u, v) => addUnitValue(u, section, key, v), unit);
  let placed = false;
  return mapSections(unit, section, (lines) =>
    lines.flatMap((l) => {
      if (l.type !== "directive" || l.key !== key) return [l];
      if (placed) return [];
      placed = true;
      return entries;
    }),
  );
}
