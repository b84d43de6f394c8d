import { FlannelError } from "@flannel-sdk/core";

/** Options of {@link parseShellEnv}. */
export interface ParseShellEnvOptions {
  /**
   * Variables that exist before the file runs (what `/bin/sh` inherits from its environment):
   * `$NAME` in the file reads them and the file's assignments override them. Entries whose name
   * is not a valid shell name are ignored, as dash ignores them. Default: none.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** `$HOME` for tilde expansion (`A=~/x`); default `env.HOME`, else `""`. */
  home?: string;
}

/**
 * Most characters the `$NAME` / `${NAME}` / `~` expansions of one env file may produce, all
 * expansions of the file together: 1 MiB (1,048,576 UTF-16 code units). A real env file expands
 * a few hundred bytes (`subnet.env`, `docker_opts.env`); Linux passes no single environment
 * string over 128 KiB (`MAX_ARG_STRLEN`) to a program, and all of them together stay under
 * `ARG_MAX` (2 MiB with the default stack). Without a bound, 31 lines of `A=$A$A` (241 bytes)
 * would double a value to a gigabyte. {@link parseShellEnv} refuses a file that goes over with
 * `ENV_TOO_LARGE`.
 *
 * @example
 * ```ts
 * MAX_SHELL_ENV_EXPANSION; // 1048576
 * ```
 */
export const MAX_SHELL_ENV_EXPANSION = 1024 * 1024;

/** What sourcing an env file does, as data. */
export interface ShellEnv {
  /**
   * The file's own variables: each name it assigned and did not unset, with its final value, in
   * the order of first assignment. A null-prototype record.
   */
  readonly assigned: Readonly<Record<string, string>>;
  /**
   * Every variable after the file ran: `options.env` overlaid with the file's assignments and
   * unsets. A null-prototype record.
   */
  readonly variables: Readonly<Record<string, string>>;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * True when `name` is a valid POSIX shell variable name (`[A-Za-z_][A-Za-z0-9_]*`).
 *
 * @example
 * ```ts
 * isShellName("DOCKER_NETWORK_OPTIONS"); // true
 * isShellName("A-B"); // false
 * ```
 */
export function isShellName(name: string): boolean {
  return NAME_RE.test(name);
}

/** @internal A record without a prototype, so names like `constructor` are plain keys. */
export function nullRecord(entries: Iterable<readonly [string, string]>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const [k, v] of entries) out[k] = v;
  return out;
}

function isNameStart(c: string | undefined): boolean {
  return c !== undefined && ((c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c === "_");
}

function isNameChar(c: string | undefined): boolean {
  return isNameStart(c) || (c !== undefined && c >= "0" && c <= "9");
}

/** Characters that end a word when unquoted. */
const WORD_END = new Set([" ", "\t", "\n", ";", "|", "&", "<", ">", "(", ")"]);
const OPERATORS = new Set(["|", "&", "<", ">", "(", ")"]);
const SPECIAL_PARAMS = new Set(["@", "*", "#", "?", "-", "$", "!"]);

interface Word {
  /** The word after quote removal and expansion. */
  text: string;
  /** Set when the word is an assignment `NAME=value`. */
  name?: string;
  /** True when the word contained an expansion (`$x`). */
  expanded: boolean;
  /** Index of the word's first character in the logical text. */
  start: number;
}

/**
 * Removes backslash-newline continuations the way dash's input layer does (everywhere except
 * inside single quotes and comments), keeping for each remaining character its original line.
 */
function joinContinuations(text: string): { text: string; lines: number[] } {
  let out = "";
  const lines: number[] = [];
  let line = 1;
  let state: "plain" | "single" | "double" | "comment" = "plain";
  let wordStart = true;
  const push = (c: string) => {
    out += c;
    lines.push(line);
    if (c === "\n") line++;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (state === "single") {
      if (c === "'") state = "plain";
      push(c);
    } else if (state === "comment") {
      if (c === "\n") state = "plain";
      push(c);
    } else if (c === "\\") {
      if (text[i + 1] === "\n") {
        line++;
        i++;
      } else {
        push(c);
        if (i + 1 < text.length) push(text[++i]!);
        wordStart = false;
      }
    } else if (state === "double") {
      if (c === '"') state = "plain";
      push(c);
    } else {
      if (c === "'") state = "single";
      else if (c === '"') state = "double";
      else if (c === "#" && wordStart) state = "comment";
      push(c);
      // Only an unescaped, unquoted blank or operator ends a word.
      wordStart = WORD_END.has(c);
    }
  }
  lines.push(line);
  return { text: out, lines };
}

/**
 * The subset of `sh` a hand-edited env file uses, evaluated the way dash evaluates it.
 * Supported: assignments (several per line), `export` / `readonly` with names or assignments,
 * `unset [-v] NAME…`, comments, blank lines, `;`, backslash-newline continuations, single and
 * double quotes, backslash escapes, `$NAME` / `${NAME}` expansion, and `~` at the start of an
 * assignment value or after a `:` in it. Anything else would run code and is refused.
 */
class ShellEnvParser {
  private pos = 0;
  private readonly text: string;
  private readonly lines: number[];
  private readonly vars: Map<string, string>;
  private readonly own = new Map<string, string>();
  /** Characters produced by expansions so far (bounded by MAX_SHELL_ENV_EXPANSION). */
  private expandedChars = 0;

  constructor(
    source: string,
    env: Map<string, string>,
    private readonly home: string,
  ) {
    const joined = joinContinuations(source);
    this.text = joined.text;
    this.lines = joined.lines;
    this.vars = env;
  }

  private fail(message: string, at = this.pos): never {
    const line = this.lines[Math.min(at, this.lines.length - 1)]!;
    throw new FlannelError("ENV_SYNTAX", `line ${line}: ${message}`, { details: { line } });
  }

  /** Counts an expansion's output against {@link MAX_SHELL_ENV_EXPANSION}. */
  private expansion(value: string): string {
    this.expandedChars += value.length;
    if (this.expandedChars > MAX_SHELL_ENV_EXPANSION) {
      const line = this.lines[Math.min(this.pos, this.lines.length - 1)]!;
      throw new FlannelError(
        "ENV_TOO_LARGE",
        `line ${line}: the file's expansions exceed ${MAX_SHELL_ENV_EXPANSION} characters (MAX_SHELL_ENV_EXPANSION); no env file needs that much`,
        { details: { line, limit: MAX_SHELL_ENV_EXPANSION } },
      );
    }
    return value;
  }

  run(): ShellEnv {
    const nul = this.text.indexOf("\0");
    if (nul >= 0) this.fail("NUL byte", nul);
    let words: Word[] = [];
    const t = this.text;
    while (this.pos < t.length) {
      const c = t[this.pos]!;
      if (c === " " || c === "\t") {
        this.pos++;
      } else if (c === "#") {
        // A `#` at the start of a word starts a comment (inside a word it is literal).
        while (this.pos < t.length && t[this.pos] !== "\n") this.pos++;
      } else if (c === "\n" || c === ";") {
        this.execute(words);
        words = [];
        this.pos++;
        if (c === ";" && t[this.pos] === ";") this.fail("unsupported `;;`");
      } else if (OPERATORS.has(c)) {
        this.fail(`unsupported shell operator ${JSON.stringify(c)}`);
      } else {
        const w = this.word();
        words.push(w);
        // Leading assignments take effect one by one, so `A=1 B=$A` sees A=1 (dash does this).
        if (w.name !== undefined && words.every((x) => x.name !== undefined)) {
          this.assign(w.name, w.text.slice(w.name.length + 1));
        }
      }
    }
    this.execute(words);
    return {
      assigned: nullRecord(this.own),
      variables: nullRecord(this.vars),
    };
  }

  /**
   * Reads one word. A word starting `NAME=` is marked as an assignment; whether it acts as one
   * (a command prefix, or an argument of `export`/`readonly`) is decided by execute().
   */
  private word(): Word {
    const t = this.text;
    const start = this.pos;
    let name: string | undefined;
    if (isNameStart(t[this.pos])) {
      let end = this.pos + 1;
      while (isNameChar(t[end])) end++;
      if (t[end] === "=") {
        name = t.slice(this.pos, end);
        this.pos = end + 1;
      }
    }
    const value = this.wordBody(name !== undefined);
    return name === undefined
      ? { text: value.text, expanded: value.expanded, start }
      : { text: `${name}=${value.text}`, name, expanded: value.expanded, start };
  }

  private wordBody(assignment: boolean): { text: string; expanded: boolean } {
    const t = this.text;
    let out = "";
    let expanded = false;
    // Tilde expansion applies at the start of an assignment value and after each unquoted `:`.
    let tildeOk = assignment;
    for (;;) {
      const c = t[this.pos];
      if (c === undefined || WORD_END.has(c)) break;
      if (c === "~" && tildeOk) {
        const next = t[this.pos + 1];
        if (next === undefined || next === "/" || next === ":" || WORD_END.has(next)) {
          out += this.expansion(this.home);
          expanded = true;
          this.pos++;
          tildeOk = false;
          continue;
        }
        // `~name` looks up a user's home directory, which this parser cannot do; a tilde
        // followed by anything else (a quote, `$`, `.`) stays literal, as in dash.
        if (isNameChar(next)) this.fail("unsupported `~user` expansion");
      }
      tildeOk = false;
      if (c === "\\") {
        const next = t[this.pos + 1];
        if (next === undefined) {
          out += "\\";
          this.pos++;
        } else {
          out += next;
          this.pos += 2;
        }
      } else if (c === "'") {
        const end = t.indexOf("'", this.pos + 1);
        if (end < 0) this.fail("unterminated single quote");
        out += t.slice(this.pos + 1, end);
        this.pos = end + 1;
      } else if (c === '"') {
        const open = this.pos;
        this.pos++;
        for (;;) {
          const d = t[this.pos];
          if (d === undefined) this.fail("unterminated double quote", open);
          if (d === '"') {
            this.pos++;
            break;
          }
          if (d === "\\") {
            const next = t[this.pos + 1];
            if (next === "$" || next === "`" || next === '"' || next === "\\") {
              out += next;
              this.pos += 2;
            } else {
              out += "\\";
              this.pos++;
            }
          } else if (d === "$") {
            const v = this.dollar();
            if (v !== null) expanded = true;
            out += v ?? "$";
          } else if (d === "`") {
            this.fail("unsupported command substitution");
          } else {
            out += d;
            this.pos++;
          }
        }
      } else if (c === "$") {
        const v = this.dollar();
        if (v !== null) expanded = true;
        out += v ?? "$";
      } else if (c === "`") {
        this.fail("unsupported command substitution");
      } else {
        out += c;
        this.pos++;
        if (c === ":" && assignment) tildeOk = true;
      }
    }
    return { text: out, expanded };
  }

  /** At a `$`: returns the expansion, or null for a literal `$` (the `$` is consumed). */
  private dollar(): string | null {
    const t = this.text;
    const next = t[this.pos + 1];
    if (next === "{") {
      const close = t.indexOf("}", this.pos + 2);
      const name = close < 0 ? "" : t.slice(this.pos + 2, close);
      if (!isShellName(name)) this.fail(`unsupported parameter expansion \`\${…}\``);
      this.pos = close + 1;
      return this.expansion(this.vars.get(name) ?? "");
    }
    if (isNameStart(next)) {
      let end = this.pos + 2;
      while (isNameChar(t[end])) end++;
      const name = t.slice(this.pos + 1, end);
      this.pos = end;
      return this.expansion(this.vars.get(name) ?? "");
    }
    if (next === "(") this.fail("unsupported command substitution `$(…)`");
    if (next !== undefined && ((next >= "0" && next <= "9") || SPECIAL_PARAMS.has(next))) {
      this.fail(`unsupported special parameter \`$${next}\``);
    }
    this.pos++;
    return null;
  }

  private assign(name: string, value: string): void {
    this.vars.set(name, value);
    this.own.set(name, value);
  }

  private execute(words: Word[]): void {
    if (words.length === 0) return;
    let i = 0;
    // Leading `NAME=value` words are assignments; the first other word is the command.
    while (i < words.length && words[i]!.name !== undefined) i++;
    // Only assignments: already performed while reading them.
    if (i === words.length) return;
    const command = words[i]!;
    if (i > 0) this.fail("unsupported assignment before a command", command.start);
    if (command.expanded) this.fail("unsupported command word with an expansion", command.start);
    const args = words.slice(i + 1);
    switch (command.text) {
      case "export":
      case "readonly": {
        for (const a of args) {
          if (a.name !== undefined) this.assign(a.name, a.text.slice(a.name.length + 1));
          else if (!a.expanded && isShellName(a.text)) continue;
          else this.fail(`unsupported ${command.text} argument ${JSON.stringify(a.text)}`, a.start);
        }
        return;
      }
      case "unset": {
        let rest = args;
        if (rest[0] !== undefined && rest[0].text === "-v" && !rest[0].expanded)
          rest = rest.slice(1);
        for (const a of rest) {
          if (a.expanded || a.name !== undefined || !isShellName(a.text)) {
            this.fail(`unsupported unset argument ${JSON.stringify(a.text)}`, a.start);
          }
          this.vars.delete(a.text);
          this.own.delete(a.text);
        }
        return;
      }
      default:
        this.fail(`unsupported command ${JSON.stringify(command.text)}`, command.start);
    }
  }
}

/**
 * Evaluates an env file the way `/bin/sh` (dash) sources it with `.`, for the subset of shell a
 * hand-edited env file uses: `KEY=value` assignments (several per line; the value unquoted,
 * 'single-' or "double-quoted", with backslash escapes), `export` / `readonly`, `unset`, comments,
 * blank lines, `;`, backslash-newline continuations, `$NAME` / `${NAME}` (from earlier lines or
 * `options.env`) and `~` in assignment values. Values keep every byte the shell would keep (a
 * trailing `\r` of a CRLF file stays in the value, as it does in sh). Anything that would run code
 * or needs more of the shell (commands, `$(…)`, backquotes, `${x:-y}`, `$1`, redirections,
 * pipes) is refused rather than guessed.
 *
 * @throws FlannelError `ENV_SYNTAX` (with the line number in `details.line`), `ENV_TOO_LARGE`
 *   when the file's expansions together exceed {@link MAX_SHELL_ENV_EXPANSION} characters
 * @example
 * ```ts
 * parseShellEnv("export FLANNEL_MTU='1450' # vxlan\n").assigned; // { FLANNEL_MTU: "1450" }
 * ```
 */
export function parseShellEnv(text: string, options: ParseShellEnvOptions = {}): ShellEnv {
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v !== undefined && isShellName(k)) env.set(k, v);
  }
  const home = options.home ?? env.get("HOME") ?? "";
  return new ShellEnvParser(text, env, home).run();
}
