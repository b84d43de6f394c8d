/**
 * The one JSON reader of core, with Go `encoding/json` semantics: the network config
 * (`config/parse.ts`) and lease values (`lease/json.ts`) both read through it. `JSON.parse`
 * cannot serve: it keeps only the last of two keys that differ in case while Go folds them onto
 * one field in document order, it decodes string escapes that Go hands raw to `UnmarshalJSON`
 * (flannel's CIDR, address and MAC fields), and its error messages are not Go's.
 * @internal
 */

import type { JsonValue } from "../lease/types.js";

/** One parsed JSON value; `start`/`end` delimit its raw text in the source. @internal */
export type GoNode =
  | {
      readonly kind: "object";
      readonly start: number;
      readonly end: number;
      /** Keys decoded, in document order, duplicates kept. */
      readonly members: GoMember[];
    }
  | {
      readonly kind: "array";
      readonly start: number;
      readonly end: number;
      readonly items: GoNode[];
    }
  | {
      readonly kind: "string";
      readonly start: number;
      readonly end: number;
      readonly value: string;
      /**
       * The literal holds a backslash escape. Go hands the raw token to a custom decoder
       * (`UnmarshalJSON`), which then sees the escape rather than the character it stands for.
       */
      readonly escaped: boolean;
    }
  | { readonly kind: "number"; readonly start: number; readonly end: number }
  | { readonly kind: "bool"; readonly start: number; readonly end: number; readonly value: boolean }
  | { readonly kind: "null"; readonly start: number; readonly end: number };

/** An object member, key decoded. @internal */
export interface GoMember {
  readonly key: string;
  readonly value: GoNode;
}

/**
 * A Go `json.SyntaxError`: `message` is Go's text (what flannel prints), `offset` the index in
 * the source string of the offending character (the length for an early end). @internal
 */
export class GoSyntaxError extends Error {
  override readonly name = "GoSyntaxError";
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

/**
 * Where a syntax error is, for people: 1-based `line` and `column` of `offset` in `src` (lines
 * end at LF; columns count UTF-16 code units, as editors mostly do), and `text`, the suffix the
 * SDK appends to Go's message: ` (line 3, column 14)`. @internal
 */
export function syntaxPosition(
  src: string,
  offset: number,
): { line: number; column: number; text: string } {
  let line = 1;
  let start = 0;
  for (let nl = src.indexOf("\n"); nl !== -1 && nl < offset; nl = src.indexOf("\n", nl + 1)) {
    line++;
    start = nl + 1;
  }
  const column = offset - start + 1;
  return { line, column, text: ` (line ${line}, column ${column})` };
}

// Go's scanner refuses nesting deeper than this (encoding/json maxNestingDepth).
const MAX_DEPTH = 10_000;

interface OpenObject {
  readonly kind: "object";
  readonly start: number;
  readonly members: GoMember[];
  key: string | null;
}
interface OpenArray {
  readonly kind: "array";
  readonly start: number;
  readonly items: GoNode[];
}
type Open = OpenObject | OpenArray;

/**
 * Parses `src` as one JSON document with Go's grammar (RFC 8259; whitespace is space, tab, CR,
 * LF; nesting up to Go's 10,000). Syntax errors carry the message Go's `checkValid` gives for the
 * same text (the first offending byte, quoted as Go quotes it). Iterative, so deep nesting ends
 * in Go's depth error, never in a stack overflow.
 *
 * @throws GoSyntaxError
 * @internal
 */
export function parseGoJson(src: string): GoNode {
  const stack: Open[] = [];
  const n = src.length;
  let i = 0;
  let result: GoNode | null = null;

  // What the parser expects next; mirrors the states in which Go's scanner words its errors.
  // 0 value, 1 value or "]", 2 key or "}", 3 key, 4 ":", 5 "," or "}", 6 "," or "]", 7 end.
  let expect = 0;

  const finish = (node: GoNode): void => {
    const top = stack[stack.length - 1];
    if (top === undefined) {
      result = node;
      expect = 7;
    } else if (top.kind === "object") {
      top.members.push({ key: top.key!, value: node });
      top.key = null;
      expect = 5;
    } else {
      top.items.push(node);
      expect = 6;
    }
  };

  for (;;) {
    // Whitespace is allowed between any two tokens.
    while (i < n) {
      const c = src.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) break;
      i++;
    }
    if (i >= n) {
      if (expect === 7) return result!;
      throw new GoSyntaxError("unexpected end of JSON input", n);
    }
    const c = src.charCodeAt(i);
    switch (expect) {
      case 7:
        throw syntax(src, i, "after top-level value");
      case 4:
        if (c !== 0x3a) throw syntax(src, i, "after object key");
        i++;
        expect = 0;
        continue;
      case 5:
        if (c === 0x2c) {
          i++;
          expect = 3;
          continue;
        }
        if (c === 0x7d) {
          i++;
          const open = stack.pop() as OpenObject;
          finish({ kind: "object", start: open.start, end: i, members: open.members });
          continue;
        }
        throw syntax(src, i, "after object key:value pair");
      case 6:
        if (c === 0x2c) {
          i++;
          expect = 0;
          continue;
        }
        if (c === 0x5d) {
          i++;
          const open = stack.pop() as OpenArray;
          finish({ kind: "array", start: open.start, end: i, items: open.items });
          continue;
        }
        throw syntax(src, i, "after array element");
      case 2:
      case 3: {
        if (expect === 2 && c === 0x7d) {
          i++;
          const open = stack.pop() as OpenObject;
          finish({ kind: "object", start: open.start, end: i, members: open.members });
          continue;
        }
        if (c !== 0x22) throw syntax(src, i, "looking for beginning of object key string");
        const end = scanString(src, i);
        (stack[stack.length - 1] as OpenObject).key = stringValue(src, i, end);
        i = end;
        expect = 4;
        continue;
      }
      default: {
        // expect 0 or 1: a value (or, after "[", the closing bracket).
        if (expect === 1 && c === 0x5d) {
          i++;
          const open = stack.pop() as OpenArray;
          finish({ kind: "array", start: open.start, end: i, items: open.items });
          continue;
        }
        if (c === 0x7b || c === 0x5b) {
          if (stack.length >= MAX_DEPTH) throw syntax(src, i, "exceeded max depth");
          if (c === 0x7b) {
            stack.push({ kind: "object", start: i, members: [], key: null });
            expect = 2;
          } else {
            stack.push({ kind: "array", start: i, items: [] });
            expect = 1;
          }
          i++;
          continue;
        }
        const start = i;
        if (c === 0x22) {
          i = scanString(src, i);
          const escaped = scanFlags & ESCAPE;
          finish({
            kind: "string",
            start,
            end: i,
            value: stringValue(src, start, i),
            escaped: escaped !== 0,
          });
        } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
          i = scanNumber(src, i);
          finish({ kind: "number", start, end: i });
        } else if (c === 0x74) {
          i = scanWord(src, i, "true");
          finish({ kind: "bool", start, end: i, value: true });
        } else if (c === 0x66) {
          i = scanWord(src, i, "false");
          finish({ kind: "bool", start, end: i, value: false });
        } else if (c === 0x6e) {
          i = scanWord(src, i, "null");
          finish({ kind: "null", start, end: i });
        } else {
          throw syntax(src, i, "looking for beginning of value");
        }
      }
    }
  }
}

/** The error Go reports for the byte at `i`, or, past the end, for the space its `eof()` feeds. */
function syntax(src: string, i: number, context: string): GoSyntaxError {
  const byte = i < src.length ? firstUtf8Byte(src, i) : 0x20;
  return new GoSyntaxError(`invalid character ${quoteChar(byte)} ${context}`, i);
}

// What the last scanString saw (scans are synchronous), so that a plain literal — nearly every
// one — is sliced out instead of decoded character by character.
const ESCAPE = 1;
const SURROGATE = 2;
let scanFlags = 0;

/**
 * Returns the index just past the closing quote of the string opening at `start`, and leaves in
 * `scanFlags` whether the literal holds an escape or a UTF-16 surrogate.
 */
function scanString(src: string, start: number): number {
  const n = src.length;
  let i = start + 1;
  let flags = 0;
  for (;;) {
    if (i >= n) throw new GoSyntaxError("unexpected end of JSON input", n);
    const c = src.charCodeAt(i);
    if (c === 0x22) {
      scanFlags = flags;
      return i + 1;
    }
    if (c < 0x20) throw syntax(src, i, "in string literal");
    if (c !== 0x5c) {
      if (c >= 0xd800 && c <= 0xdfff) flags |= SURROGATE;
      i++;
      continue;
    }
    flags |= ESCAPE;
    i++;
    if (i >= n) throw syntax(src, i, "in string escape code");
    const e = src.charCodeAt(i);
    if (e === 0x75) {
      i++;
      for (let k = 0; k < 4; k++, i++) {
        if (i >= n || !isHex(src.charCodeAt(i))) {
          throw syntax(src, i, "in \\u hexadecimal character escape");
        }
      }
      continue;
    }
    if (
      e === 0x22 ||
      e === 0x5c ||
      e === 0x2f ||
      e === 0x62 ||
      e === 0x66 ||
      e === 0x6e ||
      e === 0x72 ||
      e === 0x74
    ) {
      i++;
      continue;
    }
    throw syntax(src, i, "in string escape code");
  }
}

/** Returns the index just past the number starting at `start` (Go's number grammar). */
function scanNumber(src: string, start: number): number {
  let i = start;
  if (src.charCodeAt(i) === 0x2d) {
    i++;
    const c = src.charCodeAt(i);
    if (!(c >= 0x30 && c <= 0x39)) throw syntax(src, i, "in numeric literal");
  }
  if (src.charCodeAt(i) === 0x30) i++;
  else while (isDigit(src.charCodeAt(i))) i++;
  if (src.charCodeAt(i) === 0x2e) {
    i++;
    if (!isDigit(src.charCodeAt(i))) throw syntax(src, i, "after decimal point in numeric literal");
    while (isDigit(src.charCodeAt(i))) i++;
  }
  const e = src.charCodeAt(i);
  if (e === 0x65 || e === 0x45) {
    i++;
    const s = src.charCodeAt(i);
    if (s === 0x2b || s === 0x2d) i++;
    if (!isDigit(src.charCodeAt(i))) throw syntax(src, i, "in exponent of numeric literal");
    while (isDigit(src.charCodeAt(i))) i++;
  }
  return i;
}

function scanWord(src: string, start: number, word: string): number {
  for (let k = 1; k < word.length; k++) {
    if (src.charCodeAt(start + k) !== word.charCodeAt(k)) {
      throw syntax(src, start + k, `in literal ${word} (expecting '${word[k]}')`);
    }
  }
  return start + word.length;
}

/** The decoded value of the literal the last {@link scanString} delimited. */
function stringValue(src: string, start: number, end: number): string {
  return scanFlags === 0 ? src.slice(start + 1, end - 1) : decodeString(src, start, end);
}

/**
 * Decodes the string literal `src[start, end)` (quotes included) as Go does: escapes resolved,
 * an unpaired surrogate (escaped or raw) becomes U+FFFD.
 */
function decodeString(src: string, start: number, end: number): string {
  let out = "";
  let run = start + 1;
  const last = end - 1;
  let i = run;
  while (i < last) {
    const c = src.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = src.charCodeAt(i + 1);
      if (c <= 0xdbff && i + 1 < last && d >= 0xdc00 && d <= 0xdfff) {
        i += 2;
        continue;
      }
      out += src.slice(run, i) + "\ufffd";
      i++;
      run = i;
      continue;
    }
    if (c !== 0x5c) {
      i++;
      continue;
    }
    out += src.slice(run, i);
    const e = src.charCodeAt(i + 1);
    if (e === 0x75) {
      let r = hex4(src, i + 2);
      i += 6;
      if (r >= 0xd800 && r <= 0xdfff) {
        // A high surrogate pairs only with an immediately following escaped low surrogate;
        // otherwise Go substitutes U+FFFD and leaves the next escape for its own turn.
        if (r <= 0xdbff && src.charCodeAt(i) === 0x5c && src.charCodeAt(i + 1) === 0x75) {
          const r2 = hex4(src, i + 2);
          if (r2 >= 0xdc00 && r2 <= 0xdfff) {
            out += String.fromCharCode(r, r2);
            i += 6;
            run = i;
            continue;
          }
        }
        r = 0xfffd;
      }
      out += String.fromCharCode(r);
    } else {
      out += ESCAPES[e] ?? "";
      i += 2;
    }
    run = i;
  }
  return out + src.slice(run, last);
}

const ESCAPES: Record<number, string> = {
  34: '"',
  92: "\\",
  47: "/",
  98: "\b",
  102: "\f",
  110: "\n",
  114: "\r",
  116: "\t",
};

function hex4(src: string, at: number): number {
  return Number.parseInt(src.slice(at, at + 4), 16);
}

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * The first byte of the UTF-8 encoding of the character at `i`, which is what Go's byte-wise
 * scanner reports; an unpaired surrogate counts as U+FFFD (its UTF-8 starts with 0xEF).
 */
function firstUtf8Byte(src: string, i: number): number {
  const c = src.charCodeAt(i);
  if (c < 0x80) return c;
  if (c < 0x800) return 0xc0 | (c >> 6);
  if (c >= 0xd800 && c <= 0xdfff) {
    const d = src.charCodeAt(i + 1);
    if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
      return 0xf0 | ((0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)) >> 18);
    }
    return 0xef;
  }
  return 0xe0 | (c >> 12);
}

/** Go's `quoteChar`: a byte as a single-quoted character literal, escaped like `strconv.Quote`. */
function quoteChar(b: number): string {
  if (b === 0x27) return "'\\''";
  if (b === 0x22) return "'\"'";
  return `'${quoteRune(b)}'`;
}

function quoteRune(r: number): string {
  switch (r) {
    case 0x07:
      return "\\a";
    case 0x08:
      return "\\b";
    case 0x0c:
      return "\\f";
    case 0x0a:
      return "\\n";
    case 0x0d:
      return "\\r";
    case 0x09:
      return "\\t";
    case 0x0b:
      return "\\v";
    case 0x5c:
      return "\\\\";
  }
  if (r < 0x20 || r === 0x7f) return `\\x${r.toString(16).padStart(2, "0")}`;
  if ((r >= 0x80 && r <= 0xa0) || r === 0xad) return `\\u${r.toString(16).padStart(4, "0")}`;
  return String.fromCharCode(r);
}

/**
 * The key Go's field matching compares after an exact match failed (`encoding/json` `foldName`):
 * ASCII letters upper-cased, and the two non-ASCII runes whose simple case folding reaches an
 * ASCII letter (KELVIN SIGN → `K`, LATIN SMALL LETTER LONG S → `S`) mapped onto it. Other runes
 * never fold onto an ASCII field name, so they are kept. Compare results with `===`.
 * @internal
 */
export function foldKey(key: string): string {
  if (ASCII.test(key)) return key.toUpperCase();
  let out = "";
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32);
    else if (c === 0x212a) out += "K";
    else if (c === 0x17f) out += "S";
    else out += key[i];
  }
  return out;
}

const ASCII = /^[\x00-\x7f]*$/;

/**
 * Converts a parsed node of `src` into a plain {@link JsonValue}. A repeated key keeps its last
 * value at its first position, as `JSON.parse` does; a `"__proto__"` key stays a plain key.
 *
 * @throws RangeError for a number a double cannot hold (Go would keep its raw text).
 * @internal
 */
export function toJsonValue(src: string, node: GoNode): JsonValue {
  switch (node.kind) {
    case "object": {
      const out: Record<string, JsonValue> = {};
      for (const { key, value } of node.members) setOwn(out, key, toJsonValue(src, value));
      return out;
    }
    case "array":
      return node.items.map((item) => toJsonValue(src, item));
    case "number": {
      const value = Number(src.slice(node.start, node.end));
      if (!Number.isFinite(value)) {
        throw new RangeError(`number ${src.slice(node.start, node.end)} is out of range`);
      }
      return value;
    }
    case "null":
      return null;
    default:
      return node.value;
  }
}

/** Sets an own data property, so a `"__proto__"` key stays a plain key. @internal */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}
