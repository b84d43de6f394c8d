export type {
  AllocateOptions,
  AllocationStrategy,
  SubnetAllocatorOptions,
} from "./allocator/subnet-allocator.js";
export { SubnetAllocator } from "./allocator/subnet-allocator.js";
export type { BackoffOptions, Clock, TimerHandle } from "./clock.js";
export { Backoff, sleep, systemClock } from "./clock.js";
export { formatNetworkConfig } from "./config/format.js";
export { parseNetworkConfig } from "./config/parse.js";
export { networkConfigText } from "./config/text.js";
export type {
  BackendConfig,
  BackendType,
  HostGwBackendConfig,
  IpipBackendConfig,
  IpsecBackendConfig,
  NetworkConfig,
  OtherBackendConfig,
  UdpBackendConfig,
  VxlanBackendConfig,
  WireguardBackendConfig,
} from "./config/types.js";
export { DEFAULT_ETCD_ENDPOINTS, DEFAULT_ETCD_PREFIX, INSTALL_GUIDE } from "./defaults.js";
export type { CoreErrorCode, ErrorLineOptions, FlannelErrorOptions } from "./errors.js";
export { errorLine, FlannelError, isFlannelError, throwIfAborted } from "./errors.js";
export { cidrContains } from "./ip/contains.js";
export { firstHost } from "./ip/first-host.js";
export { IP4Net, ipv4Mask } from "./ip/ip4net.js";
export { IP6Net, ipv6Mask } from "./ip/ip6net.js";
export { formatIPv4, isIPv4, parseIPv4 } from "./ip/ipv4.js";
export { formatIPv6, IPV6_MAX, isIPv6, parseIPv6 } from "./ip/ipv6.js";
export type { IPFamily, IPNet } from "./ip/parse.js";
export { canonicalCidr, canonicalIP, ipFamily, parseCidr, parseCidrOfFamily } from "./ip/parse.js";
export type { ParsedSubnetKey } from "./keys/subnet-key.js";
export { makeSubnetKey, parseSubnetKey } from "./keys/subnet-key.js";

export type {
  LeaseAcquisitionInput,
  LeaseAcquisitionPlan,
  LeaseCreateWrite,
  LeaseUpdateWrite,
  LeaseWrite,
} from "./lease/acquire.js";
export {
  isLeaseCompatible,
  LEASE_RACE_RETRIES,
  NO_IPV4_SUBNET,
  planLeaseAcquisition,
  SUBNET_TTL_SECONDS,
} from "./lease/acquire.js";
export type {
  LeaseAcquisitionBackend,
  LeaseAcquisitionSnapshot,
  RunLeaseAcquisitionOptions,
} from "./lease/acquire-loop.js";
export { runLeaseAcquisition } from "./lease/acquire-loop.js";
export type { HostGwBackendData, VxlanBackendData } from "./lease/backend-data.js";
export { vxlanBackendData } from "./lease/backend-data.js";
export type { FormatLeaseAttrsOptions, LeaseJsonShape } from "./lease/json.js";
export { formatLeaseAttrs, parseLeaseAttrs } from "./lease/json.js";
export type {
  KeepLeaseOptions,
  LeaseKeeperDriver,
  LeaseKeeperEvent,
  OwnLeaseState,
} from "./lease/keeper.js";
export { LeaseKeeper } from "./lease/keeper.js";
export type { ReservationInput, ReservationPlan } from "./lease/reserve.js";
export { planReservation } from "./lease/reserve.js";
export type { JsonValue, Lease, LeaseAttrs } from "./lease/types.js";
export type { LeaseBatch, LeaseWatcherOptions } from "./lease/watcher.js";
export { LeaseWatcher } from "./lease/watcher.js";
export { canonicalMAC, parseMacAddress } from "./mac.js";
export type { CommandBatch, PlanCommandOptions } from "./plan/commands.js";
export { planToBatches, planToCommands } from "./plan/commands.js";
export type { PlanDiff, PlanEntry } from "./plan/diff.js";
export { diffPlans, planEntries } from "./plan/diff.js";
export type { HostGwPlanInput } from "./plan/hostgw.js";
export { HOST_GW_NAT_MESSAGE, planHostGw } from "./plan/hostgw.js";
export type {
  ExternalInterfaceInfo,
  PlanInput,
  PlanResult,
  SkippedLease,
  SkipReason,
} from "./plan/input.js";
export type { RouteCommandSpec } from "./plan/iproute2.js";
export { cmdAddr, cmdFdb, cmdNeigh, cmdRoute } from "./plan/iproute2.js";
export type { BackendMtuOptions } from "./plan/mtu.js";
export { BACKEND_MTU_OVERHEAD, backendMtu, MIN_MTU } from "./plan/mtu.js";
export type {
  AddressPlan,
  DataPlanePlan,
  FdbPlan,
  NeighborPlan,
  PlanOwnership,
  RoutePlan,
  VxlanLinkPlan,
} from "./plan/types.js";
export type { VxlanPlanInput } from "./plan/vxlan.js";
export { planVxlan } from "./plan/vxlan.js";
export type {
  AddressDiscrepancy,
  AddressOp,
  AddressReconciliation,
} from "./reconcile/addresses.js";
export { reconcileAddresses } from "./reconcile/addresses.js";
export { macKey } from "./reconcile/canonical.js";
export type {
  KernelState,
  ObservedAddr,
  ObservedFdb,
  ObservedLink,
  ObservedNeigh,
  ObservedRoute,
} from "./reconcile/observed.js";
export type {
  PeerDiscrepancy,
  PeerOp,
  PeerReconciliation,
  PeerRouteOp,
  ReconcilePeersOptions,
} from "./reconcile/peers.js";
export { reconcilePeers, ZERO_MAC } from "./reconcile/peers.js";
export type { MemoryLeaseStoreOptions } from "./store/memory.js";
export { MemoryLeaseStore } from "./store/memory.js";
export type {
  AcquireLeaseOptions,
  CallOptions,
  LeaseEvent,
  LeaseList,
  LeaseStore,
  LeaseWatchResult,
  SkippedLeaseEntry,
  WatchLeasesOptions,
} from "./store/types.js";
export type { WaitForNetworkConfigOptions } from "./store/wait-config.js";
export { waitForNetworkConfig } from "./store/wait-config.js";
