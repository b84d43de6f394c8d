export type { DockerOpts } from "./env/docker-opts.js";
export {
  DEFAULT_DOCKER_OPTS_FILE,
  parseDockerOptsEnv,
  renderDockerOptsEnv,
} from "./env/docker-opts.js";
export type {
  ParsedSubnetEnv,
  PreviousSubnets,
  SubnetEnv,
  SubnetEnvFromLeaseOptions,
  WriteSubnetEnvOptions,
} from "./env/subnet-env.js";
export {
  DEFAULT_SUBNET_FILE,
  parseSubnetEnv,
  previousSubnetFromFile,
  previousSubnetFromText,
  renderSubnetEnv,
  subnetEnvFromLease,
  writeSubnetEnv,
} from "./env/subnet-env.js";
export type { RenderErrorCode } from "./errors.js";
export type { WriteFileAtomicOptions } from "./fs/atomic.js";
export { makeDirectory, writeFileAtomic } from "./fs/atomic.js";
export type {
  DockerInstallMode,
  InstallPlan,
  InstallPlanOptions,
  PlannedDirectory,
  PlannedFile,
  WriteInstallPlanOptions,
} from "./install/plan.js";
export { installPlan, writeInstallPlan } from "./install/plan.js";
export type {
  ApplyIpMasqRulesOptions,
  IpMasqKeeperEvent,
  IptablesRunOptions,
  KeepIpMasqRulesOptions,
} from "./iptables/apply.js";
export {
  applyIpMasqRules,
  deleteIpMasqRules,
  IpMasqKeeper,
  iptablesSave,
  keepIpMasqRules,
  missingIptablesRules,
} from "./iptables/apply.js";
export type {
  IpMasqFlavor,
  IpMasqFlavorInfo,
  IpMasqRules,
  IpMasqRulesOptions,
  IptablesRule,
  IptablesTable,
  SavedIptablesRule,
} from "./iptables/masq.js";
export {
  formatIptablesRule,
  IP_MASQ_FLAVORS,
  ipMasqFlavorOf,
  iptablesRuleKey,
  renderIpMasqRules,
  savedIptablesRules,
} from "./iptables/masq.js";
export type {
  MkDockerOptsArgs,
  MkDockerOptsUsageOptions,
  ParsedMkDockerOptsArgs,
  RunMkDockerOptsOptions,
} from "./mk-docker-opts/cli.js";
export { mkDockerOptsUsage, parseMkDockerOptsArgs, runMkDockerOpts } from "./mk-docker-opts/cli.js";
export type { MkDockerOptsOptions, MkDockerOptsResult } from "./mk-docker-opts/mk-docker-opts.js";
export { mkDockerOpts } from "./mk-docker-opts/mk-docker-opts.js";
export type { CheckRouteConflictOptions } from "./mk-docker-opts/route-check.js";
export {
  checkRouteConflict,
  findRouteConflicts,
  routeCheckSubnet,
} from "./mk-docker-opts/route-check.js";
export type { ParseShellEnvOptions, ShellEnv } from "./shell/parse.js";
export { isShellName, MAX_SHELL_ENV_EXPANSION, parseShellEnv } from "./shell/parse.js";
export { checkEnvName, quoteEnvValue, renderEnvAssignment } from "./shell/quote.js";
export type { DockerDropInOptions, DockerUnitOptions } from "./systemd/docker.js";
export {
  DOCKER_DROP_IN_PATH,
  dockerUnitFile,
  renderDockerDropIn,
  renderDockerUnit,
} from "./systemd/docker.js";
export type { ExecEnvRef, ExecWord } from "./systemd/escape.js";
export type {
  FlanneldSysconfigOptions,
  FlanneldUnitOptions,
  MkDockerOptsStep,
  RestartPolicy,
} from "./systemd/flanneld.js";
export {
  flanneldUnitFile,
  renderFlanneldSysconfig,
  renderFlanneldUnit,
} from "./systemd/flanneld.js";
export type { NotifySystemdOptions } from "./systemd/notify.js";
export { notifySystemd } from "./systemd/notify.js";
