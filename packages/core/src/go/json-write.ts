/**
 * The JSON writer for lease values: Go's `json.Marshal` byte for byte. `JSON.stringify` differs:
 * Go escapes `<`, `>`, `&`, U+2028 and U+2029, writes lone surrogates as `\ufffd`, and its
 * control-character escapes are `\b` `\f` and lower-case `\u00xx`.
 * @internal
 */

// Go's encoder refuses nesting deeper than this.
const MAX_DEPTH = 10_000;

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
