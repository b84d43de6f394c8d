// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are shell text, `${NAME}` is meant literally
import { isFlannelError } from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SHELL_ENV_EXPANSION, parseShellEnv } from "../src/index.js";
import { sourceWithDash } from "./helpers/tools.js";

const ENV = { HOME: "/home/u", E1: "from env", E2: "a  b" };

/** Files people write by hand, and what sh makes of them (checked against dash below). */
const CASES: { name: string; text: string; want: Record<string, string> }[] = [
  {
    name: "flanneld's own output",
    text: "FLANNEL_SUBNET=10.1.74.1/24\nFLANNEL_MTU=1472\n",
    want: { FLANNEL_SUBNET: "10.1.74.1/24", FLANNEL_MTU: "1472" },
  },
  {
    name: "comments and blank lines",
    text: "# c\n\n  # indented\nA=1 # trailing\n#B=2\n",
    want: { A: "1" },
  },
  {
    name: "export forms",
    text: "export A=1\nexport B='2' C=\"3\"\nD=4\nexport D\n",
    want: { A: "1", B: "2", C: "3", D: "4" },
  },
  { name: "readonly", text: "readonly R=x\n", want: { R: "x" } },
  {
    name: "several assignments per line and ;",
    text: "A=1 B=2; C=3;D=4\n",
    want: { A: "1", B: "2", C: "3", D: "4" },
  },
  {
    name: "single quotes keep everything",
    text: "A='$HOME \\ \"x\" `y` # z'\n",
    want: { A: '$HOME \\ "x" `y` # z' },
  },
  {
    name: "double quotes: escapes and expansion",
    text: 'A="\\$ \\" \\\\ \\` \\a $E1 ${E2}"\n',
    want: { A: '$ " \\ ` \\a from env a  b' },
  },
  { name: "unquoted escapes", text: "A=a\\ b\\#c\\'\\\"\n", want: { A: "a b#c'\"" } },
  { name: "# inside a word is literal", text: "A=1#x B=#y\n", want: { A: "1#x", B: "#y" } },
  {
    name: "no field splitting in assignments",
    text: "A=$E2 B=${E2}x\n",
    want: { A: "a  b", B: "a  bx" },
  },
  {
    name: "earlier assignments are visible",
    text: "A=1 B=$A\nC=${B}2\n",
    want: { A: "1", B: "1", C: "12" },
  },
  {
    name: "literal dollars",
    text: 'A=$ B=a$/b C="$" D=$\'q\' E=$"r"\n',
    want: { A: "$", B: "a$/b", C: "$", D: "$q", E: "$r" },
  },
  { name: "unset variables expand to nothing", text: "A=x${NOPE}y$NOPE\n", want: { A: "xy" } },
  { name: "line continuation", text: 'A=abc\\\ndef B="x\\\ny"\n', want: { A: "abcdef", B: "xy" } },
  {
    name: "multi-line quoted values",
    text: "A='line1\nline2'\nB=\"l1\nl2\"\n",
    want: { A: "line1\nline2", B: "l1\nl2" },
  },
  { name: "CRLF keeps the CR, as sh does", text: "A=1\r\nB='2'\r\n", want: { A: "1\r", B: "2\r" } },
  {
    name: "tilde in assignments",
    text: "A=~ B=~/x C=/p:~:~/q D=x~ E='~'\n",
    want: { A: "/home/u", B: "/home/u/x", C: "/p:/home/u:/home/u/q", D: "x~", E: "~" },
  },
  { name: "unset", text: "A=1\nB=2\nunset A\nunset -v B\n", want: {} },
  { name: "trailing backslash at end of file", text: "A=x\\", want: { A: "x\\" } },
  { name: "empty values", text: "A= B='' C=\"\"\n", want: { A: "", B: "", C: "" } },
  { name: "tabs as blanks", text: "\tA=1\tB=2\t# c\n", want: { A: "1", B: "2" } },
  {
    name: "unicode",
    text: "A=héllo B='中文' C=\"ü $E1\"\n",
    want: { A: "héllo", B: "中文", C: "ü from env" },
  },
  { name: "no final newline", text: "A=1", want: { A: "1" } },
  { name: "export without arguments", text: "export\nA=1\n", want: { A: "1" } },
];

const REFUSED: { name: string; text: string; line: number }[] = [
  { name: "a command", text: "A=1\necho hi\n", line: 2 },
  { name: "a command after assignments", text: "A=1 ls\n", line: 1 },
  { name: "command substitution", text: "A=$(id)\n", line: 1 },
  { name: "backquotes", text: "A=`id`\n", line: 1 },
  { name: "backquotes in double quotes", text: 'A="`id`"\n', line: 1 },
  { name: "${x:-y}", text: "\nA=${B:-c}\n", line: 2 },
  { name: "positional parameter", text: "A=$1\n", line: 1 },
  { name: "special parameter", text: "A=$$\n", line: 1 },
  { name: "a pipe", text: "A=1 | B=2\n", line: 1 },
  { name: "a redirection", text: "A=1 >x\n", line: 1 },
  { name: "a subshell", text: "(A=1)\n", line: 1 },
  { name: "&&", text: "A=1 && B=2\n", line: 1 },
  { name: "an unterminated single quote", text: "A='x\n\n", line: 1 },
  { name: "an unterminated double quote", text: 'A=1\nB="x\n', line: 2 },
  { name: "~user", text: "A=~root\n", line: 1 },
  { name: "a NUL byte", text: "A=1\nB=\0\n", line: 2 },
  { name: "A+=1", text: "A+=1\n", line: 1 },
  { name: "a quoted name", text: '"A"=1\n', line: 1 },
  { name: "export of an expansion", text: "export $A\n", line: 1 },
  { name: "unset -f", text: "unset -f A\n", line: 1 },
  { name: ";;", text: "A=1;;\n", line: 1 },
  { name: "if", text: "if true; then A=1; fi\n", line: 1 },
];

describe("parseShellEnv", () => {
  for (const c of CASES) {
    it(c.name, () => {
      expect({ ...parseShellEnv(c.text, { env: ENV }).assigned }).toEqual(c.want);
    });
  }

  for (const c of REFUSED) {
    it(`refuses ${c.name}`, () => {
      let error: unknown;
      try {
        parseShellEnv(c.text, { env: ENV });
      } catch (e) {
        error = e;
      }
      expect(isFlannelError(error, "ENV_SYNTAX")).toBe(true);
      expect((error as { details: { line: number } }).details.line).toBe(c.line);
    });
  }

  it("refuses a file whose expansions together exceed MAX_SHELL_ENV_EXPANSION (ENV_TOO_LARGE)", () => {
    const bomb = `A=x\n${"A=$A$A\n".repeat(30)}`;
    let error: unknown;
    try {
      parseShellEnv(bomb);
    } catch (e) {
      error = e;
    }
    // 2^20 characters of expansions are reached while reading line 21 (A doubles to 2^20).
    expect(error).toSatisfy((e) => isFlannelError(e, "ENV_TOO_LARGE"));
    expect((error as { details: unknown }).details).toEqual({
      line: 21,
      limit: MAX_SHELL_ENV_EXPANSION,
    });
    // Up to the limit is fine: one value of exactly the limit, expanded once.
    const big = "x".repeat(MAX_SHELL_ENV_EXPANSION);
    expect(parseShellEnv("B=$A\n", { env: { A: big } }).assigned.B).toBe(big);
    expect(() => parseShellEnv("B=$A$C\n", { env: { A: big, C: "y" } })).toThrow(
      expect.objectContaining({ code: "ENV_TOO_LARGE" }),
    );
    // Many small expansions add up as well.
    expect(() =>
      parseShellEnv(`${"B=$A\n".repeat(1025)}`, { env: { A: "x".repeat(1024) } }),
    ).toThrow(expect.objectContaining({ code: "ENV_TOO_LARGE" }));
  });

  it("overlays the environment and keeps odd names as plain keys", () => {
    const r = parseShellEnv("A=2\nunset E1\nconstructor=c __proto__=p\n", {
      env: { A: "1", E1: "x", KEEP: "k", "not-a-name": "ignored" },
    });
    expect(r.variables.A).toBe("2");
    expect(r.variables.KEEP).toBe("k");
    expect(Object.hasOwn(r.variables, "E1")).toBe(false);
    expect(Object.hasOwn(r.variables, "not-a-name")).toBe(false);
    expect(r.assigned.constructor).toBe("c");
    expect(Object.keys(r.assigned)).toEqual(["A", "constructor", "__proto__"]);
    expect(Object.hasOwn(parseShellEnv("").variables, "constructor")).toBe(false);
  });
});

const dashMissing = missingCommand("dash", "dash");

describe.runIf(tierGate("dash", dashMissing))("parseShellEnv agrees with dash", () => {
  it("on every hand-written case", () => {
    for (const c of CASES) {
      const names = [...new Set([...Object.keys(c.want), "A", "B", "C", "D", "E"])];
      const dash = sourceWithDash(c.text, names, ENV);
      expect(dash.status, `${c.name}: ${dash.stderr}`).toBe(0);
      const got = parseShellEnv(c.text, { env: ENV }).variables;
      for (const n of names) expect([n, got[n]]).toEqual([n, dash.values.get(n)]);
    }
  });

  it("dash refuses or runs code where the parser refuses", () => {
    // The refused constructs are real shell: dash either fails on them or would run something.
    for (const c of REFUSED.filter((r) => r.name.startsWith("an unterminated"))) {
      expect(sourceWithDash(c.text, ["A"], ENV).status).not.toBe(0);
    }
  });

  // Files built from the supported grammar: the parser must give what dash gives, every time.
  const NAMES = ["A", "B", "FLANNEL_SUBNET", "X_1", "E1"];
  const plainChar = fc.constantFrom(..."abcXYZ019/.:-_=,@%+#{}[]!?*^é中".split(""));
  const anyChar = fc.constantFrom(..."ab $\"'`\\#;|&<>(){}~*? \té中\r".split(""));
  const ref = fc.constantFrom(...NAMES, "NOPE").chain((n) => fc.constantFrom(`$${n}`, `\${${n}}`));
  const segment = fc.oneof(
    fc.string({ unit: plainChar, minLength: 1, maxLength: 4 }),
    anyChar.map((c) => `\\${c}`),
    fc
      .string({
        unit: fc.oneof(
          anyChar.filter((c) => c !== "'"),
          fc.constant("\n"),
        ),
        maxLength: 5,
      })
      .map((s) => `'${s}'`),
    fc
      .array(
        fc.oneof(
          fc.string({
            unit: anyChar.filter((c) => !'"\\$`'.includes(c)),
            minLength: 1,
            maxLength: 3,
          }),
          anyChar.map((c) => `\\${c}`),
          ref,
          fc.constant("$ "),
          fc.constant("\n"),
        ),
        { maxLength: 4 },
      )
      .map((parts) => `"${parts.join("")}"`),
    ref,
    fc.constantFrom("~/", ":~", "$/", "\\\n"),
  );
  const value = fc.array(segment, { maxLength: 4 }).map((s) => s.join(""));
  const assignment = fc.tuple(fc.constantFrom(...NAMES), value).map(([n, v]) => `${n}=${v}`);
  const blanks = fc.constantFrom(" ", "\t", "  ");
  const line = fc.oneof(
    {
      weight: 5,
      arbitrary: fc
        .tuple(
          fc.constantFrom("", "export "),
          fc.array(assignment, { minLength: 1, maxLength: 3 }),
          blanks,
          fc.constantFrom("", "# note", "#"),
        )
        .map(([e, a, b, c]) => `${e}${a.join(" ")}${c === "" ? "" : b + c}`),
    },
    { weight: 1, arbitrary: fc.constantFrom("", "# comment", "   ", "unset A", "export B") },
  );
  const file = fc.array(line, { maxLength: 6 }).map((lines) => `${lines.join("\n")}\n`);

  it("property: random env files evaluate like dash", () => {
    fc.assert(
      fc.property(file, (text) => {
        const dash = sourceWithDash(text, NAMES, ENV);
        expect(dash.status, dash.stderr).toBe(0);
        let got: Readonly<Record<string, string>>;
        try {
          got = parseShellEnv(text, { env: ENV }).variables;
        } catch (e) {
          // The one construct the generator can produce that the parser refuses on purpose:
          // `~name` (a user's home directory).
          expect(String(e)).toContain("~user");
          return;
        }
        for (const n of NAMES) expect([n, got[n]]).toEqual([n, dash.values.get(n)]);
      }),
      { numRuns: 150 },
    );
  });
});
