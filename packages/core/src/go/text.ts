/**
 * Go's view of JavaScript strings: Go strings are UTF-8 bytes, so lengths count bytes, case
 * mapping is rune by rune, and a lone UTF-16 surrogate (which UTF-8 cannot hold) is U+FFFD.
 * @internal
 */

/** Go's `strings.ToLower`, rune by rune (simple case mapping, no context rules). @internal */
export function goToLower(s: string): string {
  let out = "";
  for (const ch of s) {
    if (ch === "\u0130") out += "i";
    else {
      const lower = ch.toLowerCase();
      out += [...lower].length === 1 ? lower : ch;
    }
  }
  return out;
}

/** Length in bytes of the UTF-8 encoding (Go's `len` of a string). @internal */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Replaces lone surrogates with U+FFFD, as converting to UTF-8 does. @internal */
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
