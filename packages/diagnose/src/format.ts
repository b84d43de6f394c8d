import type { Diagnosis } from "./types.js";

/** Options of {@link formatDiagnosis}. */
export interface FormatDiagnosisOptions {
  /** `"text"` (default) for people, `"json"` for tools (the {@link Diagnosis} as is, indented). */
  readonly format?: "text" | "json";
}

const MARK = { ok: "ok  ", error: "FAIL", warning: "warn", skipped: "skip" } as const;

function indent(label: string, value: string): string[] {
  const [first, ...rest] = value.split("\n");
  return [`    ${label.padEnd(9)}${first}`, ...rest.map((l) => `    ${" ".repeat(9)}${l}`)];
}

/**
 * A {@link Diagnosis} as text for people — one line per check, then each finding with what was
 * expected, what was found and the fix, errors first — or as JSON.
 *
 * @example
 * ```ts
 * console.log(formatDiagnosis(diagnoseNodeState(state)));
 * // flannel node 172.16.97.11: lease 172.30.62.0/24, vxlan, flannel.1, docker0
 * //   ok    config      /kube-centos/network/config: Network 172.30.0.0/16, SubnetLen 24, backend vxlan (…)
 * //   FAIL  device      1 finding(s)
 * //   …
 * // ERROR VTEP_MAC_MISMATCH flannel.1: the other nodes send this node's traffic to the VtepMAC …
 * //     expected flannel.1 MAC 3a:b9:84:c3:57:7c (VtepMAC of lease 172.30.62.0/24)
 * //     found    MAC 0e:…
 * //     fix      systemctl restart flanneld …
 * ```
 */
export function formatDiagnosis(
  diagnosis: Diagnosis,
  options: FormatDiagnosisOptions = {},
): string {
  if (options.format === "json") return `${JSON.stringify(diagnosis, null, 2)}\n`;
  const n = diagnosis.node;
  const parts = [
    n.subnet === null ? "no lease" : `lease ${n.subnet}`,
    n.backend,
    n.device,
    n.bridge,
  ].filter((p): p is string => p !== null);
  const out = [`flannel node ${n.publicIP ?? "(unknown)"}: ${parts.join(", ")}`];
  for (const c of diagnosis.checks) {
    out.push(`  ${MARK[c.status]}  ${c.check.padEnd(10)}  ${c.detail}`);
  }
  const ordered = [
    ...diagnosis.findings.filter((f) => f.severity === "error"),
    ...diagnosis.findings.filter((f) => f.severity === "warning"),
  ];
  for (const f of ordered) {
    out.push("");
    out.push(
      `${f.severity === "error" ? "ERROR" : "WARNING"} ${f.code} ${f.subject}: ${f.message}`,
    );
    out.push(
      ...indent("expected", f.expected),
      ...indent("found", f.found),
      ...indent("fix", f.fix),
    );
  }
  out.push("");
  out.push(
    diagnosis.findings.length === 0
      ? "No problems found."
      : `${diagnosis.errors} error(s), ${diagnosis.warnings} warning(s).`,
  );
  return `${out.join("\n")}\n`;
}
