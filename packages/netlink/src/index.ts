export type { ApplyOptions, ApplyReport, Change } from "./apply.js";
export type { RegisterBackendOptions, RegisteredBackend } from "./backend.js";
export { registerBackend } from "./backend.js";
export {
  cmdAddr,
  cmdBridgeAdd,
  cmdFdb,
  cmdLinkDel,
  cmdLinkSet,
  cmdNeigh,
  cmdRoute,
  cmdVxlanAdd,
} from "./commands.js";
export type { NetlinkErrorCode } from "./errors.js";
export type { OpenHandleOptions } from "./handle.js";
export { NetlinkHandle, openHandle } from "./handle.js";
export type { ExternalInterface, SelectInterfaceOptions } from "./iface.js";
export { preferredAddress, selectInterface } from "./iface.js";
export type { DataPlaneKeeper, KeepDataPlaneOptions } from "./keeper.js";
export { keepDataPlane } from "./keeper.js";
export type { LinkEvent } from "./subscription.js";
export { LinkSubscription } from "./subscription.js";
export type { LinkSupervisorEvent, SuperviseLinkOptions } from "./supervisor.js";
export { LinkSupervisor, superviseLink } from "./supervisor.js";
export type {
  Addr,
  BridgeSpec,
  CallOptions,
  DeviceRef,
  Dump,
  EnsureResult,
  FdbEntry,
  FdbSpec,
  KernelSnapshot,
  Link,
  Neigh,
  NeighSpec,
  Route,
  RouteSpec,
  VxlanInfo,
  VxlanLink,
  VxlanSpec,
} from "./types.js";
export { vxlanIncompatibility } from "./vxlan-compat.js";
