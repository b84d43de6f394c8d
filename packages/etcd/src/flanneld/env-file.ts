/**
 * systemd `EnvironmentFile=` syntax (what `/etc/sysconfig/flanneld` is read with) and systemd's
 * `$VAR` / `${VAR}` expansion on `ExecStart=` lines.
 */

/**
 * Parses an environment file the way systemd does: `KEY=VALUE` lines, `#` and `;` comment lines,
 * values in double or single quotes (a double-quoted value takes `\"`, `\\`, `\$`, `` \` `` and a
 * backslash-newline continuation), an unquoted value ends at the line end (a trailing backslash
 * continues it), surrounding blanks are dropped. Lines that are not assignments are skipped.
 *
 * @example
 * ```ts
 * parseEnvironmentFile('FLANNEL_ETCD_PREFIX="/kube-centos/network"\n').FLANNEL_ETCD_PREFIX;
 * // "/kube-centos/network"
 * ```
 */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const s = text.replace(/\r\n?/g, "\n");
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && /[ \t\n]/.test(s[i]!)) i++;
    if (i >= n) break;
    if (s[i] === "#" || s[i] === ";") {
      while (i < n && s[i] !== "\n") i++;
      continue;
    }
    const keyStart = i;
    while (i < n && /[A-Za-z0-9_]/.test(s[i]!)) i++;
    const key = s.slice(keyStart, i);
    while (i < n && (s[i] === " " || s[i] === "\t")) i++;
    if (key === "" || s[i] !== "=") {
      while (i < n && s[i] !== "\n") i++;
      continue;
    }
    i++;
    while (i < n && (s[i] === " " || s[i] === "\t")) i++;
    let value = "";
    let pendingBlanks = "";
    while (i < n && s[i] !== "\n") {
      const c = s[i]!;
      if (c === '"' || c === "'") {
        const quote = c;
        i++;
        value += pendingBlanks;
        pendingBlanks = "";
        while (i < n && s[i] !== quote) {
          if (quote === '"' && s[i] === "\\" && i + 1 < n) {
            const next = s[i + 1]!;
            if (next === "\n") {
              i += 2;
              continue;
            }
            if ('"\\$`'.includes(next)) {
              value += next;
              i += 2;
              continue;
            }
          }
          value += s[i];
          i++;
        }
        i++;
        continue;
      }
      if (c === "\\" && i + 1 < n) {
        if (s[i + 1] === "\n") {
          i += 2;
          continue;
        }
        value += pendingBlanks + s[i + 1];
        pendingBlanks = "";
        i += 2;
        continue;
      }
      if (c === " " || c === "\t") {
        pendingBlanks += c;
      } else {
        value += pendingBlanks + c;
        pendingBlanks = "";
      }
      i++;
    }
    out[key] = value;
  }
  return out;
}

/**
 * Splits a command line into words as systemd does for `ExecStart=`: blanks separate words,
 * double and single quotes group, `${VAR}` expands inside a word and `$VAR` standing alone
 * expands to the value split at blanks. An unset variable expands to nothing.
 *
 * @example
 * ```ts
 * expandExecStart("-etcd-prefix=${P} $OPTS", { P: "/p", OPTS: "-a -b" });
 * // ["-etcd-prefix=/p", "-a", "-b"]
 * ```
 */
export function expandExecStart(line: string, env: Readonly<Record<string, string>>): string[] {
  const words: string[] = [];
  const s = line.replace(/\\\n/g, " ");
  let i = 0;
  const n = s.length;
  while (i < n) {
    while (i < n && /\s/.test(s[i]!)) i++;
    if (i >= n) break;
    const whole = /^\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|$)/.exec(s.slice(i));
    if (whole) {
      const value = env[whole[1]!] ?? "";
      words.push(...value.split(/\s+/).filter((w) => w !== ""));
      i += whole[0].length;
      continue;
    }
    let word = "";
    while (i < n && !/\s/.test(s[i]!)) {
      const c = s[i]!;
      if (c === '"' || c === "'") {
        i++;
        while (i < n && s[i] !== c) {
          if (c === '"' && s[i] === "\\" && i + 1 < n) {
            word += s[i + 1];
            i += 2;
            continue;
          }
          if (c === '"' && s[i] === "$" && s[i + 1] === "{") {
            const end = s.indexOf("}", i);
            word += env[s.slice(i + 2, end)] ?? "";
            i = end + 1;
            continue;
          }
          word += s[i];
          i++;
        }
        i++;
        continue;
      }
      if (c === "$" && s[i + 1] === "{") {
        const end = s.indexOf("}", i);
        if (end > 0) {
          word += env[s.slice(i + 2, end)] ?? "";
          i = end + 1;
          continue;
        }
      }
      if (c === "\\" && i + 1 < n) {
        word += s[i + 1];
        i += 2;
        continue;
      }
      word += c;
      i++;
    }
    words.push(word);
  }
  return words;
}
