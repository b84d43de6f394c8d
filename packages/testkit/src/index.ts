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
export { freePorts } from "./ports.js";
export { tierGate } from "./tier.js";
