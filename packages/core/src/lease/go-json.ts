/**
 * Just enough of Go's `encoding/json` to read and write lease values byte for byte as flanneld
 * does. Internal: not exported from the package.
 *
 * Why not `JSON.parse` / `JSON.stringify`: Go escapes `<`, `>`, `&`, U+2028 and U+2029, writes
 * `\b`/`\f` short escapes and lower-case `\u00xx`, turns lone surrogates into U+FFFD, lets the
 * last of several case-variant keys win in document order, and hands some values to custom
 * decoders as raw text (so an escape inside an address or a MAC makes Go refuse it). A tree
 * that remembers key order and whether a string had escapes lets us do the same.
 * @internal
 */

import type { JsonValue } from "./types.js";

/** A parsed JSON value that keeps what Go's decoders can see. @internal */
export type GoJsonNode =
  | { readonly t: "object"; readonly entries: readonly (readonly [string, GoJsonNode])[] }
  | { readonly t: "array"; readonly items: readonly GoJsonNode[] }
  | { readonly t: "string"; readonly value: string; readonly escaped: boolean }
  | { readonly t: "number"; readonly value: number }
  | { readonly t: "boolean"; readonly value: boolean }
  | { readonly t: "null" };

/** Thrown by {@link parseGoJson}; callers wrap it in their own `FlannelError`. @internal */
export class GoJsonSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}

// Go's decoder refuses nesting deeper than this.
const MAX_DEPTH = 10_000;

/**
 * Parses a whole JSON document with Go's grammar (RFC 8259, whitespace = space, tab, CR, LF).
 * @throws GoJsonSyntaxError
 * @internal
 */
export function parseGoJson(text: string): GoJsonNode {
  const parser = new Parser(text);
  parser.skipSpace();
  const node = parser.value(0);
  parser.skipSpace();
  if (parser.pos !== text.length) parser.fail("invalid character after top-level value");
  return node;
}

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new GoJsonSyntaxError(`${message} at offset ${this.pos}`, this.pos);
  }

  skipSpace(): void {
    const s = this.text;
    while (this.pos < s.length) {
      const c = s.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  value(depth: number): GoJsonNode {
    if (depth > MAX_DEPTH) this.fail("exceeded max depth");
    const s = this.text;
    const c = s.charCodeAt(this.pos);
    if (c === 0x7b) return this.object(depth + 1);
    if (c === 0x5b) return this.array(depth + 1);
    if (c === 0x22) return this.string();
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (s.startsWith("true", this.pos)) {
      this.pos += 4;
      return { t: "boolean", value: true };
    }
    if (s.startsWith("false", this.pos)) {
      this.pos += 5;
      return { t: "boolean", value: false };
    }
    if (s.startsWith("null", this.pos)) {
      this.pos += 4;
      return { t: "null" };
    }
    return this.fail(this.pos >= s.length ? "unexpected end of JSON input" : "invalid character");
  }

  object(depth: number): GoJsonNode {
    this.pos++;
    const entries: [string, GoJsonNode][] = [];
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return { t: "object", entries };
    }
    for (;;) {
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) !== 0x22) this.fail("expected object key");
      const key = this.string();
      this.skipSpace();
      if (this.text.charCodeAt(this.pos) !== 0x3a) this.fail("expected ':' after object key");
      this.pos++;
      this.skipSpace();
      entries.push([key.value, this.value(depth)]);
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x7d) return { t: "object", entries };
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or '}' in object");
      }
    }
  }

  array(depth: number): GoJsonNode {
    this.pos++;
    const items: GoJsonNode[] = [];
    this.skipSpace();
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return { t: "array", items };
    }
    for (;;) {
      this.skipSpace();
      items.push(this.value(depth));
      this.skipSpace();
      const c = this.text.charCodeAt(this.pos);
      this.pos++;
      if (c === 0x5d) return { t: "array", items };
      if (c !== 0x2c) {
        this.pos--;
        this.fail("expected ',' or ']' in array");
      }
    }
  }

  string(): { t: "string"; value: string; escaped: boolean } {
    const s = this.text;
    let i = ++this.pos;
    let out = "";
    let start = i;
    let escaped = false;
    for (;;) {
      if (i >= s.length) {
        this.pos = i;
        this.fail("unexpected end of JSON input in string");
      }
      const c = s.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) {
        this.pos = i;
        this.fail("invalid control character in string");
      }
      if (c === 0x5c) {
        escaped = true;
        out += s.slice(start, i);
        const e = s.charCodeAt(i + 1);
        i += 2;
        switch (e) {
          case 0x22:
            out += '"';
            break;
          case 0x5c:
            out += "\\";
            break;
          case 0x2f:
            out += "/";
            break;
          case 0x62:
            out += "\b";
            break;
          case 0x66:
            out += "\f";
            break;
          case 0x6e:
            out += "\n";
            break;
          case 0x72:
            out += "\r";
            break;
          case 0x74:
            out += "\t";
            break;
          case 0x75: {
            const unit = hex4(s, i);
            if (unit < 0) {
              this.pos = i;
              this.fail("invalid \\u escape in string");
            }
            i += 4;
            out += String.fromCharCode(unit);
            break;
          }
          default:
            this.pos = i - 1;
            this.fail("invalid escape in string");
        }
        start = i;
        continue;
      }
      i++;
    }
    out += s.slice(start, i);
    this.pos = i + 1;
    // Go decodes into UTF-8: a lone surrogate (escaped or not) becomes U+FFFD.
    return { t: "string", value: toWellFormed(out), escaped };
  }

  number(): GoJsonNode {
    const s = this.text;
    const start = this.pos;
    let i = start;
    if (s.charCodeAt(i) === 0x2d) i++;
    const first = s.charCodeAt(i);
    if (first === 0x30) i++;
    else if (first >= 0x31 && first <= 0x39) i = digits(s, i);
    else {
      this.pos = i;
      this.fail("invalid character in numeric literal");
    }
    if (s.charCodeAt(i) === 0x2e) {
      const j = digits(s, i + 1);
      if (j === i + 1) {
        this.pos = j;
        this.fail("invalid character after decimal point in numeric literal");
      }
      i = j;
    }
    const e = s.charCodeAt(i);
    if (e === 0x65 || e === 0x45) {
      i++;
      const sign = s.charCodeAt(i);
      if (sign === 0x2b || sign === 0x2d) i++;
      const j = digits(s, i);
      if (j === i) {
        this.pos = j;
        this.fail("invalid character in exponent of numeric literal");
      }
      i = j;
    }
    this.pos = i;
    const value = Number(s.slice(start, i));
    // Go keeps BackendData as raw bytes; we keep numbers as doubles, so refuse what a double
    // cannot hold rather than write back something else.
    if (!Number.isFinite(value)) this.fail("number out of range");
    return { t: "number", value };
  }
}

function digits(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    i++;
  }
  return i;
}

function hex4(s: string, i: number): number {
  if (i + 4 > s.length) return -1;
  let n = 0;
  for (let k = i; k < i + 4; k++) {
    const c = s.charCodeAt(k);
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return -1;
    n = n * 16 + d;
  }
  return n;
}

/** Replaces lone surrogates with U+FFFD, as decoding into UTF-8 does. @internal */
export function toWellFormed(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
    }
    return wellFormedSlow(s);
  }
  return s;
}

function wellFormedSlow(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        out += s[i]! + s[i + 1]!;
        i++;
        continue;
      }
    }
    out += c >= 0xd800 && c <= 0xdfff ? "\ufffd" : s[i]!;
  }
  return out;
}

/**
 * Converts a parsed node into a plain {@link JsonValue}. A repeated key keeps its last value at
 * its first position, as `JSON.parse` does. @internal
 */
export function toJsonValue(node: GoJsonNode): JsonValue {
  switch (node.t) {
    case "object": {
      const out: Record<string, JsonValue> = {};
      for (const [k, v] of node.entries) setOwn(out, k, toJsonValue(v));
      return out;
    }
    case "array":
      return node.items.map(toJsonValue);
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

const HEX = "0123456789abcdef";

/**
 * Quotes a string exactly as Go's `json.Marshal` does (HTML escaping on).
 * @internal
 */
export function goQuote(s: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | null = null;
    if (c < 0x20) {
      switch (c) {
        case 0x08:
          rep = "\\b";
          break;
        case 0x0c:
          rep = "\\f";
          break;
        case 0x0a:
          rep = "\\n";
          break;
        case 0x0d:
          rep = "\\r";
          break;
        case 0x09:
          rep = "\\t";
          break;
        default:
          rep = `\\u00${HEX[c >> 4]}${HEX[c & 15]}`;
      }
    } else if (c === 0x22) rep = '\\"';
    else if (c === 0x5c) rep = "\\\\";
    else if (c === 0x3c) rep = "\\u003c";
    else if (c === 0x3e) rep = "\\u003e";
    else if (c === 0x26) rep = "\\u0026";
    else if (c === 0x2028) rep = "\\u2028";
    else if (c === 0x2029) rep = "\\u2029";
    else if (c >= 0xd800 && c <= 0xdfff) {
      const d = s.charCodeAt(i + 1);
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        i++;
        continue;
      }
      // An unpaired surrogate cannot be UTF-8; Go writes the replacement character escaped.
      rep = "\\ufffd";
    }
    if (rep !== null) {
      out += s.slice(start, i) + rep;
      start = i + 1;
    }
  }
  return out + s.slice(start) + '"';
}

/**
 * Compact JSON of a value, Go-style strings; object keys in insertion order.
 * @throws TypeError for anything that is not JSON (undefined, functions, non-finite numbers…)
 * @internal
 */
export function goStringify(value: unknown, depth = 0): string {
  if (depth > MAX_DEPTH) throw new TypeError("value nests too deeply");
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return goQuote(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`${value} is not a JSON number`);
      return JSON.stringify(value);
    case "object": {
      if (Array.isArray(value)) {
        return `[${value.map((v) => goStringify(v, depth + 1)).join(",")}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError("only plain objects and arrays are JSON");
      }
      const parts: string[] = [];
      for (const key of Object.keys(value)) {
        const v = (value as Record<string, unknown>)[key];
        parts.push(`${goQuote(key)}:${goStringify(v, depth + 1)}`);
      }
      return `{${parts.join(",")}}`;
    }
    default:
      throw new TypeError(`a ${typeof value} is not JSON`);
  }
}

/**
 * Go's key folding for matching JSON keys to struct fields (`encoding/json` `foldName`): ASCII
 * letters fold to upper case and every other rune to the smallest rune of its simple-folding
 * orbit, so only `ſ` (→ `S`) and the Kelvin sign `K` (→ `K`) reach ASCII. Compare results
 * with `===`.
 * @internal
 */
export function goFoldKey(key: string): string {
  if (/^[\x00-\x7f]*$/.test(key)) return key.toUpperCase();
  let out = "";
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x61 && c <= 0x7a) out += String.fromCharCode(c - 32);
    else if (c === 0x17f) out += "S";
    else if (c === 0x212a) out += "K";
    else out += key[i];
  }
  return out;
}
