// biome-ignore-all lint/suspicious/noTemplateCurlyInString: unit-file text, `${NAME}` is meant literally
import { readFileSync } from "node:fs";
import { tierGate } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addUnitValue,
  buildUnitFile,
  formatUnitFile,
  getUnitValue,
  getUnitValues,
  parseUnitFile,
  removeUnitKey,
  setUnitValue,
  unitContinuedDirective,
} from "../src/systemd/index.js";
import { systemdMissing, UnitRoot } from "./helpers/systemd.js";

const golden = (name: string) => readFileSync(new URL(`golden/${name}`, import.meta.url), "utf8");

describe("parseUnitFile / formatUnitFile", () => {
  it("keeps repeated keys, continuations and their order (the guide's flanneld.service)", () => {
    const text = golden("guide/flanneld.service");
    const unit = parseUnitFile(text);
    expect(formatUnitFile(unit)).toBe(text);
    expect(unit.sections.map((s) => s.name)).toEqual(["Unit", "Service", "Install"]);
    expect(getUnitValues(unit, "Unit", "After")).toEqual([
      "network.target",
      "network-online.target",
      "etcd.service",
    ]);
    expect(getUnitValues(unit, "Service", "EnvironmentFile")).toEqual([
      "/etc/sysconfig/flanneld",
      "-/etc/sysconfig/docker-network",
    ]);
    expect(getUnitValue(unit, "Service", "ExecStart")).toBe(
      "/usr/bin/flanneld-start    -etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS}    -etcd-prefix=${FLANNEL_ETCD_PREFIX}    $FLANNEL_OPTIONS",
    );
    expect(getUnitValue(unit, "Install", "RequiredBy")).toBe("docker.service");
  });

  it("is lossless on the guide's docker.service (tab-indented continuation)", () => {
    const text = golden("guide/docker.service");
    expect(formatUnitFile(parseUnitFile(text))).toBe(text);
  });

  it("keeps comments, blank lines, odd lines and the missing final newline", () => {
    const text =
      "# head\n\n[Unit]\r\n ; semi\nBad line\n[broken\nA = spaced value  \nB=a \\\n# skipped\n  b \\\n\nC=1";
    const unit = parseUnitFile(text);
    expect(formatUnitFile(unit)).toBe(text);
    expect(unit.preamble.map((l) => l.type)).toEqual(["comment", "blank"]);
    expect(unit.sections[0]!.lines.map((l) => l.type)).toEqual([
      "comment",
      "invalid",
      "invalid",
      "directive",
      "directive",
      "directive",
    ]);
    expect(getUnitValue(unit, "Unit", "A")).toBe("spaced value");
    expect(getUnitValue(unit, "Unit", "B")).toBe("a    b");
  });

  const piece = fc.oneof(
    fc.constantFrom(
      "[Unit]",
      "[Service]",
      " [Install] ",
      "[bad",
      "",
      "   ",
      "# c",
      "; c",
      "  # c \\",
      "\r",
    ),
    fc
      .tuple(
        fc.constantFrom("After", "ExecStart", " Key ", "X-A"),
        fc.string({ maxLength: 8 }),
        fc.constantFrom("", " \\", "\\", "\\\\", "\r"),
      )
      .map(([k, v, e]) => `${k}=${v}${e}`),
    fc.string({ maxLength: 12 }),
  );

  it("property: format(parse(text)) === text", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), fc.boolean(), (lines, nl) => {
        const text = lines.join("\n") + (nl ? "\n" : "");
        expect(formatUnitFile(parseUnitFile(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        (text) => formatUnitFile(parseUnitFile(text)) === text,
      ),
    );
  });
});

describe("editing the model", () => {
  const base = parseUnitFile(golden("guide/flanneld.service"));

  it("setUnitValue replaces in place, addUnitValue appends after the same key", () => {
    const a = setUnitValue(base, "Service", "Restart", "always");
    expect(formatUnitFile(a)).toBe(
      golden("guide/flanneld.service").replace("Restart=on-failure", "Restart=always"),
    );
    const b = addUnitValue(base, "Unit", "After", "flanneld-pre.service");
    expect(getUnitValues(b, "Unit", "After")).toEqual([
      "network.target",
      "network-online.target",
      "etcd.service",
      "flanneld-pre.service",
    ]);
    expect(formatUnitFile(b)).toContain(
      "After=etcd.service\nAfter=flanneld-pre.service\nBefore=docker.service",
    );
    const c = addUnitValue(base, "Service", "RestartSec", "5");
    expect(formatUnitFile(c)).toContain("Restart=on-failure\nRestartSec=5\n\n[Install]");
    const d = addUnitValue(base, "X-Flannel", "Note", "x");
    expect(formatUnitFile(d).endsWith("RequiredBy=docker.service\n\n[X-Flannel]\nNote=x\n")).toBe(
      true,
    );
    const e = removeUnitKey(base, "Unit", "After");
    expect(getUnitValues(e, "Unit", "After")).toEqual([]);
    const f = setUnitValue(base, "Unit", "After", ["a.service", "b.service"]);
    expect(formatUnitFile(f)).toContain(
      "[Unit]\nDescription=Flanneld overlay address etcd agent\nAfter=a.service\nAfter=b.service\nWants=",
    );
  });

  it("refuses values that would spill into another line or lose bytes", () => {
    for (const v of ["a\nExecStartPre=/bin/evil", "a\rb", " lead", "trail ", "ends\\", "nul\0"]) {
      expect(() => setUnitValue(base, "Unit", "Description", v)).toThrow(
        expect.objectContaining({ code: "RENDER_INVALID_VALUE" }),
      );
    }
    expect(() => setUnitValue(base, "Unit", "Bad Key", "x")).toThrow(/invalid unit key/);
    expect(() =>
      unitContinuedDirective("ExecStart", [
        { indent: "", text: "/bin/x" },
        { indent: "  ", text: "# not an arg" },
      ]),
    ).toThrow(/cannot start with #/);
    expect(() => buildUnitFile([{ name: "Bad]", entries: [] }])).toThrow(/invalid section name/);
  });
});

describe.runIf(tierGate("systemd", systemdMissing()))(
  "the model reads values as systemd does",
  () => {
    let root: UnitRoot;
    beforeAll(() => {
      root = new UnitRoot();
    });
    afterAll(() => root?.cleanup());

    const safe = fc.string({
      unit: fc.constantFrom(..."ab Z9#;\\=[]-_.'\"é".split("")),
      minLength: 1,
      maxLength: 6,
    });
    it("property: continuation lines and inner comments join like systemd's parser", () => {
      let n = 0;
      fc.assert(
        fc.property(
          fc.array(fc.tuple(safe, fc.constantFrom("", " ", "\t")), { minLength: 1, maxLength: 4 }),
          fc.boolean(),
          (parts, comment) => {
            // A last line ending in a backslash would continue into the next section header.
            // So would a last line that is itself a comment (it is skipped, the continuation goes on).
            const last = parts[parts.length - 1]![0];
            if (last.endsWith("\\") || (parts.length > 1 && /^\s*[#;]/.test(last))) return;
            const lines = parts.map(([text, indent], i) => {
              const cont = i < parts.length - 1 ? " \\" : "";
              return `${i === 0 ? "Description=" : indent}${text}${cont}`;
            });
            if (comment && lines.length > 1) lines.splice(1, 0, "# inside the continuation");
            const text = `[Unit]\n${lines.join("\n")}\n`;
            const unit = parseUnitFile(text);
            const name = `model${n++}.service`;
            root.addUnit(name, `${text}[Service]\nType=oneshot\nExecStart=/bin/true\n`);
            root.addExecutable("/bin/true");
            const dump = root.dump(name);
            const want = getUnitValue(unit, "Unit", "Description");
            if (want === undefined || want === "") return;
            expect(dump.fields.get("Description")?.[0]).toBe(want);
          },
        ),
        { numRuns: 40 },
      );
    });
  },
);
