/**
 * flanneld's own defaults for where its config and leases live, shared by every package (the
 * stores, the renderers, diagnose), and {@link INSTALL_GUIDE}, the install guide's values as one
 * preset that is never a default.
 */

/**
 * flanneld's `-etcd-prefix` default: the config is `/coreos.com/network/config`, the leases
 * `/coreos.com/network/subnets/…`.
 *
 * @example
 * ```ts
 * `${DEFAULT_ETCD_PREFIX}/config`; // "/coreos.com/network/config"
 * ```
 */
export const DEFAULT_ETCD_PREFIX = "/coreos.com/network";

/**
 * flanneld's `-etcd-endpoints` default (plain HTTP on loopback, no TLS).
 *
 * @example
 * ```ts
 * DEFAULT_ETCD_ENDPOINTS.join(","); // "http://127.0.0.1:4001,http://127.0.0.1:2379"
 * ```
 */
export const DEFAULT_ETCD_ENDPOINTS: readonly string[] = Object.freeze([
  "http://127.0.0.1:4001",
  "http://127.0.0.1:2379",
]);

/**
 * The install guide's values (flannel v0.11 binary install on a RHEL-style host with a
 * three-member TLS etcd): a preset to pass on purpose, never a default. Its keys are the option
 * names of the renderers, so `renderFlanneldSysconfig(INSTALL_GUIDE)` writes the guide's
 * `/etc/sysconfig/flanneld` and `renderFlanneldUnit({ ...INSTALL_GUIDE, restart: "on-failure" })`
 * its `flanneld.service`, byte for byte (`@flannel-sdk/render`).
 *
 * @example
 * ```ts
 * const store = new MemoryLeaseStore({ config: INSTALL_GUIDE.networkConfig, prefix: INSTALL_GUIDE.etcdPrefix });
 * ```
 */
export const INSTALL_GUIDE = Object.freeze({
  /** The network config the guide writes with `etcdctl mk /kube-centos/network/config`. */
  networkConfig: '{"Network":"172.30.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}',
  etcdEndpoints: Object.freeze([
    "https://172.20.0.113:2379",
    "https://172.20.0.114:2379",
    "https://172.20.0.115:2379",
  ]),
  etcdPrefix: "/kube-centos/network",
  etcdCAFile: "/etc/kubernetes/ssl/ca.pem",
  etcdCertFile: "/etc/kubernetes/ssl/kubernetes.pem",
  etcdKeyFile: "/etc/kubernetes/ssl/kubernetes-key.pem",
  /** The RHEL package's wrapper the guide's unit runs (a release tarball has `/usr/bin/flanneld`). */
  flanneldPath: "/usr/bin/flanneld-start",
  flanneldUnitPath: "/usr/lib/systemd/system/flanneld.service",
  sysconfigPath: "/etc/sysconfig/flanneld",
  dockerNetworkPath: "/etc/sysconfig/docker-network",
  mkDockerOptsPath: "/usr/libexec/flannel/mk-docker-opts.sh",
  dockerOptsKey: "DOCKER_NETWORK_OPTIONS",
  dockerOptsFile: "/run/flannel/docker",
  dockerUnitPath: "/usr/lib/systemd/system/docker.service",
  /** The unit's `ExecStart=` arguments: how the sysconfig variables reach flanneld. */
  execStart:
    // biome-ignore lint/suspicious/noTemplateCurlyInString: systemd ExecStart= syntax
    "-etcd-endpoints=${FLANNEL_ETCD_ENDPOINTS} -etcd-prefix=${FLANNEL_ETCD_PREFIX} $FLANNEL_OPTIONS",
} as const);
