// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings are shell text, `${NAME}` is meant literally
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isFlannelError } from "@flannel-sdk/core";
import { missingCommand, tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseShellEnv, quoteEnvValue, renderEnvAssignment } from "../src/index.js";
import { HOSTILE, isForbidden } from "./helpers/corpus.js";
import { sourceWithDash, tempDir } from "./helpers/tools.js";

function tryQuote(value: string): string | null {
  try {
    return quoteEnvValue(value);
  } catch (e) {
    expect(isFlannelError(e, "RENDER_INVALID_VALUE")).toBe(true);
    return null;
  }
}

describe("quoteEnvValue", () => {
  it("quotes for sh and systemd alike", () => {
    expect(quoteEnvValue('say "hi" to $USER')).toBe('"say \\"hi\\" to \\$USER"');
    expect(quoteEnvValue("a\\b`c")).toBe('"a\\\\b\\`c"');
    expect(renderEnvAssignment("FLANNEL_ETCD_PREFIX", "/kube-centos/network")).toBe(
      'FLANNEL_ETCD_PREFIX="/kube-centos/network"',
    );
  });

  it("refuses exactly the values with control characters or lone surrogates", () => {
    for (const v of HOSTILE) expect([v, tryQuote(v) === null]).toEqual([v, isForbidden(v)]);
  });

  it("refuses invalid names", () => {
    for (const name of ["", "1A", "A-B", "A B", "A\n", "é"]) {
      expect(() => renderEnvAssignment(name, "x")).toThrow(/invalid variable name/);
    }
  });

  it("round-trips through the package's own sh parser", () => {
    for (const v of HOSTILE) {
      const q = tryQuote(v);
      if (q !== null) expect(parseShellEnv(`V=${q}\n`).assigned.V).toBe(v);
    }
  });
});

const dashMissing = missingCommand("dash", "dash");

/** Renders every value as V<i>="…" (refused ones skipped); returns the file and the kept values. */
function envFile(values: readonly string[]): { text: string; kept: Map<string, string> } {
  const kept = new Map<string, string>();
  let text = "";
  values.forEach((v, i) => {
    const q = tryQuote(v);
    if (q === null) {
      expect(isForbidden(v)).toBe(true);
      return;
    }
    kept.set(`V${i}`, v);
    text += `V${i}=${q}\n`;
  });
  return { text, kept };
}

describe.runIf(tierGate("dash", dashMissing))("env values sourced by a real dash", () => {
  const check = (values: readonly string[]) => {
    const { text, kept } = envFile(values);
    const dash = sourceWithDash(text, [...kept.keys(), "EVIL"], { HOME: "/home/u" });
    expect(dash.status, dash.stderr).toBe(0);
    expect(dash.values.get("EVIL")).toBeUndefined();
    for (const [name, v] of kept) expect([name, dash.values.get(name)]).toEqual([name, v]);
  };

  it("hostile corpus: what is sourced is what was meant", () => check(HOSTILE));

  it("property: every string round-trips render → dash, or is refused", () => {
    const str = fc.oneof(
      fc.string({ unit: "binary", maxLength: 12 }),
      fc.string({
        unit: fc.constantFrom("\ufdd0", "\uffff", "\u{10fffe}", "\u{1fffe}", "a", " "),
        maxLength: 4,
      }),
      fc.string({
        unit: fc.constantFrom(..." \"'\\$`#;&|<>(){}~*?%\n\t=é".split("")),
        maxLength: 12,
      }),
    );
    fc.assert(
      fc.property(fc.array(str, { minLength: 1, maxLength: 25 }), (values) => check(values)),
      { numRuns: 60 },
    );
  });
});

/**
 * systemd's env-file reader, offline: the environment.d generator parses files with the same
 * parser as `EnvironmentFile=` (parse_env_file). It also expands `$VAR` afterwards, which
 * `EnvironmentFile=` does not, so values with `$` are left to the dash check.
 */
const generator = "/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator";
const generatorMissing = existsSync(generator)
  ? null
  : `${generator} not found: apt-get install -y systemd`;

function readWithSystemd(text: string): Map<string, string> {
  const dir = tempDir("render-envd-");
  try {
    mkdirSync(join(dir.path, "environment.d"));
    writeFileSync(join(dir.path, "environment.d", "90-render.conf"), text);
    const r = spawnSync(generator, [], { env: { XDG_CONFIG_HOME: dir.path }, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const out = new Map<string, string>();
    for (const line of r.stdout.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) out.set(line.slice(0, eq), line.slice(eq + 1));
    }
    return out;
  } finally {
    dir.cleanup();
  }
}

/** The generator prints values shell-quoted when needed: undo that. */
function unquoteGenerator(v: string): string {
  if (!v.startsWith('"')) return v;
  return v.slice(1, -1).replace(/\\(.)/g, "$1");
}

describe.runIf(tierGate("systemd", generatorMissing))("env values read by systemd's parser", () => {
  const check = (values: readonly string[]) => {
    // The generator drops empty assignments (EnvironmentFile= keeps them): leave those out too.
    const { text, kept } = envFile(values.filter((v) => !v.includes("$") && v !== ""));
    const got = readWithSystemd(text);
    expect(got.has("EVIL")).toBe(false);
    for (const [name, v] of kept)
      expect([name, unquoteGenerator(got.get(name) ?? "\0missing")]).toEqual([name, v]);
  };

  it("hostile corpus", () => check(HOSTILE));

  it("property: every string without $ round-trips render → systemd, or is refused", () => {
    const str = fc.string({
      unit: fc.oneof(
        fc.constantFrom(..." \"'\\`#;&|<>(){}~*?%=é".split("")),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
      ),
      maxLength: 12,
    });
    fc.assert(
      fc.property(fc.array(str, { minLength: 1, maxLength: 25 }), (values) => check(values)),
      { numRuns: 40 },
    );
  });
});
