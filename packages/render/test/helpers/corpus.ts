// biome-ignore-all lint/suspicious/noTemplateCurlyInString: shell text, `${NAME}` is meant literally
/** Values that try to break out of an env file: each is quoted to mean itself, or refused. */
export const HOSTILE: readonly string[] = [
  "",
  " ",
  " leading",
  "trailing ",
  "a b",
  'say "hi"',
  "it's",
  "'single'",
  "back\\slash",
  "trailing\\",
  "\\",
  "\\\\n",
  "$HOME",
  "${HOME}",
  "$(id)",
  "`id`",
  "$$",
  "$",
  "a;b",
  "a&&b",
  "a|b",
  "a>b",
  "#not a comment",
  "x # nor this",
  "~",
  "~/x",
  "%h %n %%",
  "*",
  "[a-z]?",
  "é中文🙂",
  "A=B",
  '" ; export EVIL=1 ; "',
  "\\$EVIL",
  "a\nEVIL=1",
  "a\rb",
  "tab\there",
  "nul\0x",
  "bell\x07",
  "del\x7f",
  "lone\ud800surrogate",
];

/**
 * What every writer must refuse: C0 controls, DEL, lone surrogates and Unicode noncharacters
 * (systemd's UTF-8 check drops an assignment holding one). Written independently of the code.
 */
export function isForbidden(value: string): boolean {
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f) return true;
    if (cp >= 0xd800 && cp <= 0xdfff) return true;
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || cp % 0x10000 >= 0xfffe) return true;
  }
  return false;
}
