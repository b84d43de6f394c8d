export { missingCommand, missingCommands, which } from "./commands.js";
export type { CertPair, TestCertificates } from "./etcd/certs.js";
export { makeTestCertificates, opensslMissingReason } from "./etcd/certs.js";
export type { EtcdServerTls, MemberPorts, StartEtcdOptions } from "./etcd/etcd-server.js";
export {
  EtcdCluster,
  EtcdServer,
  etcdMissingReason,
  findEtcdBinary,
  startEtcd,
  startEtcdCluster,
  sumMetric,
} from "./etcd/etcd-server.js";
export type { EtcdctlOptions } from "./etcd/etcdctl.js";
export { etcdctl, etcdctlMissingReason } from "./etcd/etcdctl.js";
export type { TcpProxyOptions } from "./etcd/tcp-proxy.js";
export { startTcpProxy, TcpProxy } from "./etcd/tcp-proxy.js";
export type { FlannelVersion } from "./flannel.js";
export {
  FLANNEL_DIR,
  FLANNEL_VERSIONS,
  REPO_ROOT,
  RealFlannel,
  realFlannelMissing,
} from "./flannel.js";
export type { NetnsRelayOptions } from "./netns-relay.js";
export { NetnsRelay } from "./netns-relay.js";
export { NotifySocket } from "./notify-socket.js";
export { freePorts } from "./ports.js";
export type { CollectedOutput } from "./process.js";
export { runCollect } from "./process.js";
export { tierGate } from "./tier.js";
