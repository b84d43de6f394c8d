/**
 * `@flannel-sdk/render/systemd`: systemd unit files as data, for a tool that edits units of its
 * own or someone else's: a lossless parser and formatter (`parseUnitFile` / `formatUnitFile`),
 * the editors (`setUnitValue`, `addUnitValue`, `removeUnitKey`, …) and the escaping helpers that
 * quote a value the way systemd reads it back (`formatExecWord`, `unitPath`, `unitText`, …). The
 * renderers of flannel's own units (`renderFlanneldUnit`, `renderDockerUnit`, …) are in the root
 * `@flannel-sdk/render`, which builds on these.
 */
export type { ExecEnvRef, ExecWord } from "./escape.js";
export {
  escapeSpecifiers,
  formatEnvironmentAssignment,
  formatExecPath,
  formatExecWord,
  unitName,
  unitPath,
  unitText,
} from "./escape.js";
export type { UnitFile, UnitFileLine, UnitFileSection } from "./unit-file.js";
export {
  addUnitValue,
  buildUnitFile,
  checkUnitValue,
  formatUnitFile,
  getUnitValue,
  getUnitValues,
  parseUnitFile,
  removeUnitKey,
  SYSTEMD_LIMITS,
  setUnitValue,
  unitContinuedDirective,
  unitDirective,
} from "./unit-file.js";
