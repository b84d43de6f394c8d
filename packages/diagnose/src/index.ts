export type { DiagnoseErrorCode } from "./errors.js";
export type { DiagnoseOptions } from "./gather.js";
export { diagnose, expectedRules, gatherNodeState, ipMasqFlavorRules } from "./gather.js";
