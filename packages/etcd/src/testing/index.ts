export type { CertPair, TestCertificates } from "./certs.js";
export { makeTestCertificates, opensslMissingReason } from "./certs.js";
export type { EtcdServerTls, MemberPorts, StartEtcdOptions } from "./etcd-server.js";
export {
  EtcdCluster,
  EtcdServer,
  etcdMissingReason,
  findEtcdBinary,
  startEtcd,
  startEtcdCluster,
  sumMetric,
} from "./etcd-server.js";
export type { EtcdctlOptions } from "./etcdctl.js";
export { etcdctl, etcdctlMissingReason } from "./etcdctl.js";
export { freePorts } from "./ports.js";
export type { TcpProxyOptions } from "./tcp-proxy.js";
export { startTcpProxy, TcpProxy } from "./tcp-proxy.js";
