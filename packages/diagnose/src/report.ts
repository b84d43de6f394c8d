/**
 * What every check shares: the report the findings go into, the fixes they name most, and
 * reading a network of either family from text that may be absent or wrong.
 */
import { IP4Net, type IPNet, parseCidrOfFamily } from "@flannel-sdk/core";
import {
  DIAGNOSE_FINDINGS,
  type DiagnoseCheck,
  type DiagnoseCode,
  type DiagnoseSeverity,
} from "./catalogue.js";
import type { DiagnoseCheckResult, DiagnoseFinding } from "./types.js";

/** The checks, in the order they run and report. */
export const CHECKS: readonly DiagnoseCheck[] = [
  "config",
  "lease",
  "subnet-env",
  "device",
  "bridge",
  "peers",
  "ip-masq",
];

/** The fix most findings name. */
export const RESTART = "systemctl restart flanneld";

/** Restarting reprograms every remote lease: flanneld (and flanneld-ts) program all leases at start. */
export const REPROGRAM = `${RESTART} (it programs every lease at start)`;

/** An IPv4 network, or `null` when the text is absent or not one. */
export function net4(text: string | null | undefined): IP4Net | null {
  if (typeof text !== "string") return null;
  try {
    return IP4Net.parse(text);
  } catch {
    return null;
  }
}

/** A network of the family, or `null` when the text is absent or not one. */
export function netOf(text: string | null | undefined, family: 4 | 6): IPNet | null {
  if (typeof text !== "string") return null;
  try {
    return parseCidrOfFamily(text, family);
  } catch {
    return null;
  }
}

/** What a check says of one finding: the node's own values, and overrides of the catalogue. */
interface FindingFields {
  readonly subject: string;
  readonly message: string;
  readonly expected: string;
  readonly found: string;
  readonly fix: string;
  readonly check?: DiagnoseCheck;
  readonly severity?: DiagnoseSeverity;
}

/** The findings and each check's status, as the checks report them. */
export class Report {
  readonly findings: DiagnoseFinding[] = [];
  readonly #status = new Map<DiagnoseCheck, DiagnoseCheckResult>();

  /**
   * Reports a finding: of the check and severity the catalogue gives its code, unless `f`
   * names others (a code two checks report; a severity that depends on the state).
   */
  add(code: DiagnoseCode, f: FindingFields): void {
    const { check, severity, ...rest } = f;
    const kind = DIAGNOSE_FINDINGS[code];
    this.findings.push({
      code,
      severity: severity ?? kind.severity,
      check: check ?? kind.check,
      ...rest,
    });
  }

  ok(check: DiagnoseCheck, detail: string): void {
    const was = this.#status.get(check);
    // a dual-stack node reports each family's device / peers: the details join
    if (was?.status === "ok")
      this.#status.set(check, { ...was, detail: `${was.detail}; ${detail}` });
    else if (was === undefined) this.#status.set(check, { check, status: "ok", detail });
  }

  skip(check: DiagnoseCheck, detail: string): void {
    if (!this.#status.has(check)) this.#status.set(check, { check, status: "skipped", detail });
  }

  results(): DiagnoseCheckResult[] {
    return CHECKS.map((check) => {
      const mine = this.findings.filter((f) => f.check === check);
      const status = this.#status.get(check);
      if (mine.some((f) => f.severity === "error")) {
        return { check, status: "error", detail: `${mine.length} finding(s)` };
      }
      if (mine.length > 0) return { check, status: "warning", detail: `${mine.length} finding(s)` };
      return status ?? { check, status: "skipped", detail: "not reached" };
    });
  }
}
