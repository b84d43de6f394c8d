/**
 * Step 3: every file a node of the guide has, written under `<out>/<node>/` at its real path,
 * each produced by @flannel-sdk/render.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { INSTALL_GUIDE, type NetworkConfig } from "@flannel-sdk/core";
import {
  DEFAULT_DOCKER_OPTS_FILE,
  DEFAULT_SUBNET_FILE,
  type InstallPlan,
  installPlan,
  mkDockerOpts,
  renderIpMasqRules,
  renderSubnetEnv,
  subnetEnvFromLease,
  writeFileAtomic,
  writeInstallPlan,
} from "@flannel-sdk/render";
import type { JoinedNode } from "./join.js";

/** Where the ip-masq rules go in the demo tree; on a real node flanneld applies them, no file. */
export const IP_MASQ_RULES_FILE = "/run/flannel/ip-masq.rules";

/** One written file: its path on the node and its content. */
export interface NodeFile {
  /** Absolute path on the node (`/run/flannel/subnet.env`). */
  readonly path: string;
  readonly mode: number;
  readonly content: string;
  /** What writes it on a real node. */
  readonly origin: string;
}

/** A node's files: what the installer puts there, and what flanneld and mk-docker-opts write. */
export interface NodeFiles {
  /** `flanneld.service`, `/etc/sysconfig/flanneld`, `docker.service`, the mk-docker-opts wrapper. */
  readonly install: InstallPlan;
  /** Everything, install files included, in the order they are listed. */
  readonly files: readonly NodeFile[];
}

/** What a node's installer, its flanneld (`-ip-masq`) and its ExecStartPost leave on disk. */
export function nodeFiles(
  config: NetworkConfig,
  node: JoinedNode,
  mtu: number,
  etcdEndpoints: readonly string[],
  etcdPrefix: string,
): NodeFiles {
  const tls = etcdEndpoints.every((e) => e.startsWith("https:"));
  const { etcdCAFile, etcdCertFile, etcdKeyFile } = INSTALL_GUIDE;
  const install = installPlan({
    flanneld: INSTALL_GUIDE,
    sysconfig: {
      etcdEndpoints,
      etcdPrefix,
      publicIP: node.host.publicIP,
      ipMasq: true,
      ...(tls ? { etcdCAFile, etcdCertFile, etcdKeyFile } : {}),
    },
    docker: { mode: "unit" },
  });
  const files: NodeFile[] = install.files.map((f) => ({ ...f, origin: "installer" }));
  const env = subnetEnvFromLease(config, node.lease, { mtu, ipMasq: true });
  const subnetEnv = renderSubnetEnv(env);
  files.push({ path: DEFAULT_SUBNET_FILE, mode: 0o644, content: subnetEnv, origin: "flanneld" });
  files.push({
    path: INSTALL_GUIDE.dockerOptsFile,
    mode: 0o644,
    content: mkDockerOpts({ subnetEnv, combinedKey: INSTALL_GUIDE.dockerOptsKey }).content,
    origin: `mk-docker-opts -k ${INSTALL_GUIDE.dockerOptsKey} -d ${INSTALL_GUIDE.dockerOptsFile}`,
  });
  files.push({
    path: DEFAULT_DOCKER_OPTS_FILE,
    mode: 0o644,
    content: mkDockerOpts({ subnetEnv, individual: true }).content,
    origin: "mk-docker-opts -i",
  });
  files.push({
    path: IP_MASQ_RULES_FILE,
    mode: 0o644,
    content: renderIpMasqRules({ network: env.network!, subnet: node.lease.subnet }).restore,
    origin: "flanneld -ip-masq, as iptables-restore --noflush input",
  });
  return { install, files };
}

/** Writes a node's files under `<out>/<node>/`, replacing what an earlier run left there. */
export async function writeNodeFiles(
  out: string,
  node: JoinedNode,
  files: NodeFiles,
  signal?: AbortSignal,
): Promise<string> {
  const root = join(out, node.host.name);
  await rm(root, { recursive: true, force: true });
  await writeInstallPlan(root, files.install, { signal });
  for (const f of files.files) {
    if (f.origin === "installer") continue;
    await writeFileAtomic(join(root, f.path), f.content, { mode: f.mode, signal });
  }
  return root;
}
