export type { DiagnoseCheck, DiagnoseCode, DiagnoseSeverity, FindingKind } from "./catalogue.js";
export { DIAGNOSE_CODES, DIAGNOSE_FINDINGS } from "./catalogue.js";
export type { DiagnoseErrorCode } from "./errors.js";
export { diagnoseNodeState } from "./evaluate.js";
export type { FormatDiagnosisOptions } from "./format.js";
export { formatDiagnosis } from "./format.js";
export type { DiagnoseOptions } from "./gather.js";
export { diagnose, expectedRules, gatherNodeState, ipMasqFlavorRules } from "./gather.js";
export type {
  DiagnoseCheckResult,
  DiagnoseFinding,
  Diagnosis,
  ExpectedIptablesRule,
  IpMasqFlavorRules,
  NodeState,
  Read,
  ReadError,
  SubnetEnvState,
  SubnetEnvValues,
} from "./types.js";
