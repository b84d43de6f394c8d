// A throwaway flannel node for the docs' code blocks (scripts/doc-blocks.mjs): the install guide's
// machine, real and private to this run.
//   - a network namespace `docs-<random>-<n>` with the guide's addresses inside it only: eth0
//     172.16.97.244/24 (the default route), eth1, eth2, a docker0 bridge, and the guide's etcd
//     members 172.20.0.113-115 on its loopback;
//   - one real etcd in it (v2 API enabled) serving https://172.20.0.113-115:2379 with a throwaway
//     CA, and http://127.0.0.1:2379 (flanneld's default endpoint);
//   - each block runs in that namespace and in a private mount namespace where /etc, /usr, /var
//     and /root are overlays (writes land in this node's state dir, never on the host), /run is this node's own
//     directory (empty at start, kept between the blocks of one doc, as on a node) and /tmp a
//     fresh tmpfs; /etc holds the guide's /etc/sysconfig/flanneld and /etc/kubernetes/ssl/*.pem,
//     and NODE_EXTRA_CA_CERTS trusts the node's CA as a node trusts its cluster's.
// Everything is removed by close(), also after a failure.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const PREFIX = `docs-${randomBytes(3).toString("hex")}`;
const ETCD_IPS = ["172.20.0.113", "172.20.0.114", "172.20.0.115"];
/** The host directories a block sees copy-on-write. */
const OVERLAID = ["etc", "usr", "var", "root"];
let nodes = 0;
/** Nodes not closed yet: removed at exit (a crash, a signal, a closed stdout) as well. */
const live = new Set();
const removeLive = () => {
  for (const remove of live) remove();
};
process.once("exit", removeLive);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"])
  process.once(signal, () => {
    removeLive();
    process.kill(process.pid, signal); // the handler is gone: the default action
  });

function sh(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: exit ${r.status}\n${r.stderr}`);
  return r.stdout;
}

/** Why a node cannot be made here (root, etcd, openssl, iproute2, util-linux), or null. */
export function nodeMissing() {
  if (process.getuid?.() !== 0)
    return "running the docs' blocks needs root (network and mount namespaces)";
  const onPath = (cmd) =>
    (process.env.PATH ?? "").split(":").some((d) => d !== "" && existsSync(join(d, cmd)));
  const need = { etcd: "etcd-server", openssl: "openssl", ip: "iproute2", unshare: "util-linux" };
  const missing = Object.entries(need).filter(([cmd]) => !onPath(cmd));
  if (missing.length === 0) return null;
  return `${missing.map(([c]) => c).join(", ")} not found: apt-get install -y ${missing.map(([, p]) => p).join(" ")}`;
}

/**
 * The guide's PKI, once per run: a CA, etcd's server certificate for the member addresses and
 * a client certificate, under the guide's file names (`/etc/kubernetes/ssl/…`).
 */
export function makeGuidePki(dir) {
  mkdirSync(dir, { recursive: true });
  const ssl = (...args) => sh("openssl", args, { cwd: dir });
  const key = (name) =>
    ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name);
  key("ca-key.pem");
  ssl(
    "req",
    "-x509",
    "-new",
    "-key",
    "ca-key.pem",
    "-subj",
    "/CN=docs CA",
    "-days",
    "2",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.pem",
  );
  const issue = (name, cn, ext) => {
    key(`${name}-key.pem`);
    ssl("req", "-new", "-key", `${name}-key.pem`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    );
  };
  const sans = [...ETCD_IPS, "127.0.0.1"].map((ip) => `IP:${ip}`).join(",");
  issue("etcd", "etcd", `subjectAltName=DNS:localhost,${sans}\nextendedKeyUsage=serverAuth\n`);
  issue("kubernetes", "kubernetes", "extendedKeyUsage=clientAuth\n");
  return dir;
}

/**
 * Starts a node: its namespace, its etcd. `etc` is a directory copied into the node's /etc.
 * @returns `run(argv, { cwd, env, timeoutMs, daemonMs })` and `close()`
 */
export async function startNode({ work, pki, etc }) {
  const name = `${PREFIX}-${++nodes}`;
  const state = join(work, name);
  for (const d of [...OVERLAID.flatMap((o) => [`${o}.u`, `${o}.w`]), "run", "etcd"])
    mkdirSync(join(state, d), { recursive: true });
  cpSync(etc, join(state, "etc.u"), { recursive: true });
  const ssl = join(state, "etc.u/kubernetes/ssl");
  mkdirSync(ssl, { recursive: true });
  for (const f of ["ca.pem", "kubernetes.pem", "kubernetes-key.pem"])
    cpSync(join(pki, f), join(ssl, f));

  let etcd = null;
  const remove = () => {
    etcd?.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", name]);
    rmSync(state, { recursive: true, force: true });
  };
  sh("ip", ["netns", "add", name]);
  live.add(remove);
  const close = async () => {
    live.delete(remove);
    if (etcd?.exitCode === null) {
      const exited = new Promise((r) => etcd.once("exit", r));
      etcd.kill("SIGTERM");
      await exited;
    }
    remove();
  };
  try {
    const ip = (...args) => sh("ip", ["-n", name, ...args]);
    ip("link", "set", "lo", "up");
    for (const a of ETCD_IPS) ip("addr", "add", `${a}/32`, "dev", "lo");
    for (const [i, dev] of ["eth0", "eth1", "eth2"].entries()) {
      ip("link", "add", dev, "type", "veth", "peer", "name", `${dev}-peer`);
      ip("addr", "add", `172.16.${97 + i}.244/24`, "dev", dev);
      ip("link", "set", `${dev}-peer`, "up");
      ip("link", "set", dev, "up");
    }
    ip("route", "add", "default", "via", "172.16.97.1", "dev", "eth0");
    ip("link", "add", "docker0", "type", "bridge");

    const clientUrls = ["http://127.0.0.1:2379", ...ETCD_IPS.map((a) => `https://${a}:2379`)];
    etcd = spawn(
      "ip",
      [
        "netns",
        "exec",
        name,
        "etcd",
        "--name",
        "docs",
        "--data-dir",
        join(state, "etcd"),
        "--listen-client-urls",
        clientUrls.join(","),
        "--advertise-client-urls",
        clientUrls[0], // etcdctl (v2) talks to what etcd advertises
        "--listen-peer-urls",
        "http://127.0.0.1:2380",
        "--initial-advertise-peer-urls",
        "http://127.0.0.1:2380",
        "--initial-cluster",
        "docs=http://127.0.0.1:2380",
        "--cert-file",
        join(pki, "etcd.pem"),
        "--key-file",
        join(pki, "etcd-key.pem"),
        "--enable-v2=true",
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    await new Promise((resolve, reject) => {
      let log = "";
      const timer = setTimeout(
        () => reject(new Error(`etcd did not start in 20 s:\n${log}`)),
        20_000,
      );
      etcd.stderr.setEncoding("utf8");
      etcd.stderr.on("data", (chunk) => {
        log += chunk;
        if (
          (log.match(/serving (insecure )?client requests on/g) ?? []).length === clientUrls.length
        ) {
          clearTimeout(timer);
          etcd.stderr.removeAllListeners("data");
          etcd.stderr.resume(); // etcd logs on; nobody reads it
          resolve();
        }
      });
      etcd.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`etcd exited (${code}):\n${log}`));
      });
    });
  } catch (e) {
    await close();
    throw e;
  }

  const script = [
    "set -e",
    "state=$1 work=$2; shift 2",
    "mount -t tmpfs docs /mnt",
    'mkdir /mnt/work && mount --bind "$work" /mnt/work',
    `for d in ${OVERLAID.join(" ")}; do mount -t overlay overlay -o "lowerdir=/$d,upperdir=$state/$d.u,workdir=$state/$d.w" "/$d"; done`,
    'mount --bind "$state/run" /run',
    "mount -t tmpfs tmp /tmp",
    'mkdir -p "$work" && mount --bind /mnt/work "$work"',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: sh syntax
    'cd "${DOCS_CWD:-$(mktemp -d)}"',
    'exec "$@"',
  ].join("\n");

  /**
   * Runs `argv` on the node (cwd: `cwd`, else a fresh temp dir). Resolves `{ code, stdout,
   * stderr, timedOut, alive }`: killed after `timeoutMs` (`timedOut`), or, a daemon, stopped after
   * `daemonMs` (`alive`).
   */
  const run = (argv, { cwd, env = {}, timeoutMs = 60_000, daemonMs } = {}) =>
    new Promise((resolve) => {
      const { NOTIFY_SOCKET: _, ...inherited } = process.env;
      const child = spawn(
        "ip",
        [
          "netns",
          "exec",
          name,
          "unshare",
          "--mount",
          "--propagation",
          "private",
          "sh",
          "-c",
          script,
          "sh",
          state,
          work,
          ...argv,
        ],
        {
          detached: true,
          env: {
            ...inherited,
            NODE_EXTRA_CA_CERTS: "/etc/kubernetes/ssl/ca.pem",
            ...(cwd ? { DOCS_CWD: cwd } : {}),
            ...env,
          },
        },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (c) => (stdout += c));
      child.stderr.on("data", (c) => (stderr += c));
      let stopped = null;
      const timer = setTimeout(() => {
        stopped = daemonMs === undefined ? "timedOut" : "alive";
        try {
          process.kill(-child.pid, "SIGKILL"); // the block's process group
        } catch {} // it has just exited
      }, daemonMs ?? timeoutMs);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({
          code,
          stdout,
          stderr,
          timedOut: stopped === "timedOut",
          alive: stopped === "alive",
        });
      });
    });

  return { name, run, close };
}
