import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePorts } from "../ports.js";

/** TLS files an etcd test server serves its client port with. */
export interface EtcdServerTls {
  /** CA that signed client certificates (`--trusted-ca-file`). */
  readonly caFile: string;
  /** Server certificate (`--cert-file`); its SAN must cover `localhost` and `127.0.0.1`. */
  readonly certFile: string;
  /** Server key (`--key-file`). */
  readonly keyFile: string;
  /**
   * Require a client certificate signed by `caFile` (`--client-cert-auth`, `--trusted-ca-file`).
   * `false` leaves both out: TLS proves the server only. Default true.
   */
  readonly clientCertAuth?: boolean;
}

/** Options of {@link startEtcd} and {@link startEtcdCluster}. */
export interface StartEtcdOptions {
  /** Serve the v2 keys API too (`--enable-v2=true`). Default false. */
  readonly enableV2?: boolean;
  /** Serve clients over TLS. The client URL then uses `https://localhost:<port>`. */
  readonly tls?: EtcdServerTls;
  /** Where the temporary data dir goes. Default `/dev/shm` when writable, else the OS temp dir. */
  readonly dataDirRoot?: string;
  /** The etcd binary. Default `$ETCD_BIN` or `etcd` on the PATH. */
  readonly binary?: string;
  /** Extra command-line flags. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for `/health`. Default 20 s. */
  readonly readyTimeoutMs?: number;
  /** Raft heartbeat in ms. Default 50 (etcd's own default is 100; tests want fast elections). */
  readonly heartbeatMs?: number;
  /** Raft election timeout in ms. Default 500. */
  readonly electionTimeoutMs?: number;
}

/** The loopback ports of one etcd member. */
export interface MemberPorts {
  /** Client URLs: the gRPC API, the JSON gateway (`/v3/…`) and, with v2 on, `/v2/keys`. */
  client: number;
  peer: number;
  /** `--listen-metrics-urls`: `/metrics` and `/health` over plain HTTP. */
  metrics: number;
}

const live = new Set<EtcdServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A crashed test must not leave etcd processes or data dirs behind.
  process.once("exit", () => {
    for (const server of live) server.destroySync();
  });
}

function defaultDataRoot(): string {
  // etcd fsyncs every commit; tmpfs makes that cheap, which keeps the tests fast.
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

/**
 * Finds the etcd binary: `binary`, else `$ETCD_BIN`, else `etcd` on the PATH. Returns `null`
 * when there is none, so a test tier can say what is missing.
 *
 * @example
 * ```ts
 * const run = tierGate("etcd", findEtcdBinary() ? null : "etcd not found: apt-get install -y etcd-server");
 * ```
 */
export function findEtcdBinary(binary?: string): string | null {
  const wanted = binary ?? process.env.ETCD_BIN ?? "etcd";
  if (wanted.includes("/")) return existsSync(wanted) ? wanted : null;
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, wanted))) return join(dir, wanted);
  }
  return null;
}

/**
 * Returns `null` when etcd is installed, else how to get it (for `tierGate`).
 *
 * @example
 * ```ts
 * describe.runIf(tierGate("etcd", etcdMissingReason()))("on real etcd", () => {});
 * ```
 */
export function etcdMissingReason(): string | null {
  if (findEtcdBinary() === null) {
    return "etcd not found on PATH: apt-get install -y etcd-server etcd-client (or set ETCD_BIN)";
  }
  return null;
}

function httpGet(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One etcd member run by a test: free loopback ports, a temporary data dir, plain-HTTP metrics
 * and health on a port of its own. Removed by {@link EtcdServer.close} (and, as a last resort,
 * when the test process exits).
 *
 * @example
 * ```ts
 * await using etcd = await startEtcd();
 * etcd.pause(); // SIGSTOP: silent
 * etcd.resume();
 * await etcd.kill();
 * await etcd.restart(); // same ports and data
 * await etcd.metric("grpc_server_handled_total", { grpc_method: "Txn" });
 * ```
 */
export class EtcdServer {
  /** The member name (`--name`). */
  readonly name: string;
  /** The temporary data dir, removed by `close()`. */
  readonly dataDir: string;
  /** The client, peer and metrics ports on 127.0.0.1. */
  readonly ports: Readonly<MemberPorts>;
  /** The client URL to give a store: `http://127.0.0.1:<port>` or `https://localhost:<port>`. */
  readonly clientUrl: string;
  /** Plain-HTTP URL serving `/metrics` and `/health`. */
  readonly metricsUrl: string;
  /** The peer URL (`http://127.0.0.1:<port>`). */
  readonly peerUrl: string;
  readonly #args: string[];
  readonly #binary: string;
  #child: ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #stderr = "";
  #removed = false;

  /** @internal use {@link startEtcd} / {@link startEtcdCluster}. */
  constructor(init: {
    name: string;
    dataDir: string;
    ports: MemberPorts;
    args: string[];
    binary: string;
    tls: boolean;
  }) {
    this.name = init.name;
    this.dataDir = init.dataDir;
    this.ports = init.ports;
    this.#args = init.args;
    this.#binary = init.binary;
    this.clientUrl = init.tls
      ? `https://localhost:${init.ports.client}`
      : `http://127.0.0.1:${init.ports.client}`;
    this.metricsUrl = `http://127.0.0.1:${init.ports.metrics}`;
    this.peerUrl = `http://127.0.0.1:${init.ports.peer}`;
    live.add(this);
    installExitHook();
  }

  /** The process id while running, else `null`. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** True while the process runs (also while stopped with {@link pause}). */
  get running(): boolean {
    return this.#child !== null;
  }

  /** The last 64 KiB etcd wrote to stderr, for failure messages. */
  get log(): string {
    return this.#stderr;
  }

  /** Starts the process (again, with the same ports and data dir); does not wait for health. */
  spawn(): void {
    if (this.#child !== null) return;
    if (this.#removed) throw new Error(`etcd ${this.name} was closed`);
    const child = spawn(this.#binary, this.#args, { stdio: ["ignore", "ignore", "pipe"] });
    this.#child = child;
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-65536);
    });
    this.#exited = new Promise((resolve) => {
      child.once("exit", () => {
        if (this.#child === child) this.#child = null;
        resolve();
      });
      child.once("error", (err) => {
        this.#stderr += `\nspawn error: ${err.message}`;
        if (this.#child === child) this.#child = null;
        resolve();
      });
    });
  }

  /** Resolves once `/health` reports healthy (needs a leader). */
  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#child === null) {
        throw new Error(`etcd ${this.name} exited while starting:\n${this.#stderr.slice(-4000)}`);
      }
      try {
        const res = await httpGet(`${this.metricsUrl}/health`, 1000);
        if (res.status === 200 && JSON.parse(res.body).health === "true") return;
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    throw new Error(
      `etcd ${this.name} not healthy after ${timeoutMs} ms:\n${this.#stderr.slice(-4000)}`,
    );
  }

  /** Starts again after {@link stop} or {@link kill} and waits until healthy. */
  async restart(timeoutMs = 20_000): Promise<void> {
    this.spawn();
    await this.waitHealthy(timeoutMs);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    if (child.signalCode === null) child.kill("SIGCONT");
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** SIGKILL (a crash); resolves when the process is gone. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    child.kill("SIGKILL");
    await this.#exited;
  }

  /** SIGSTOP: the server keeps its sockets open but answers nothing (a silent server). */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** SIGCONT after {@link pause}. */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }

  /** Reads one value from the Prometheus `/metrics` text (summed over matching label sets). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const res = await httpGet(`${this.metricsUrl}/metrics`, 5000);
    return sumMetric(res.body, name, labels);
  }

  /** The whole Prometheus `/metrics` text. */
  async metricsText(): Promise<string> {
    return (await httpGet(`${this.metricsUrl}/metrics`, 5000)).body;
  }

  /** True when this member is the raft leader (from `etcd_server_is_leader`). */
  async isLeader(): Promise<boolean> {
    return (await this.metric("etcd_server_is_leader")) === 1;
  }

  /** Kills the process and removes the data dir. Idempotent. */
  async close(): Promise<void> {
    await this.kill();
    this.#remove();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** @internal synchronous last-resort cleanup from the process exit hook. */
  destroySync(): void {
    try {
      this.#child?.kill("SIGKILL");
    } catch {
      // already gone
    }
    this.#remove();
  }

  #remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    live.delete(this);
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/**
 * Sums the samples of one metric in Prometheus text format whose labels include `labels`.
 *
 * @example
 * ```ts
 * sumMetric(text, "grpc_server_handled_total", { grpc_method: "Range" });
 * ```
 */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    let labelText = "";
    let valueText: string;
    if (rest.startsWith("{")) {
      const end = rest.indexOf("}");
      labelText = rest.slice(1, end);
      valueText = rest.slice(end + 1).trim();
    } else if (rest.startsWith(" ")) {
      valueText = rest.trim();
    } else {
      continue;
    }
    const have: Record<string, string> = {};
    for (const m of labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) have[m[1]!] = m[2]!;
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      total += Number(valueText.split(" ")[0]);
    }
  }
  return total;
}

function memberArgs(
  name: string,
  dataDir: string,
  ports: MemberPorts,
  cluster: string,
  token: string,
  options: StartEtcdOptions,
): string[] {
  const scheme = options.tls ? "https" : "http";
  const args = [
    `--name=${name}`,
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${scheme}://127.0.0.1:${ports.client}`,
    `--advertise-client-urls=${scheme}://127.0.0.1:${ports.client}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.peer}`,
    `--listen-metrics-urls=http://127.0.0.1:${ports.metrics}`,
    `--initial-cluster=${cluster}`,
    "--initial-cluster-state=new",
    `--initial-cluster-token=${token}`,
    `--heartbeat-interval=${options.heartbeatMs ?? 50}`,
    `--election-timeout=${options.electionTimeoutMs ?? 500}`,
    "--logger=zap",
    "--log-level=warn",
  ];
  if (options.enableV2) args.push("--enable-v2=true");
  if (options.tls) {
    args.push(`--cert-file=${options.tls.certFile}`, `--key-file=${options.tls.keyFile}`);
    // etcd asks every client for a certificate once it has a trusted CA, whatever
    // --client-cert-auth says: without client certificates, leave the CA out.
    if (options.tls.clientCertAuth ?? true) {
      args.push(`--trusted-ca-file=${options.tls.caFile}`, "--client-cert-auth=true");
    }
  }
  args.push(...(options.extraArgs ?? []));
  return args;
}

function makeMembers(size: number, options: StartEtcdOptions, portList: number[]): EtcdServer[] {
  const binary = findEtcdBinary(options.binary);
  if (binary === null) throw new Error(etcdMissingReason() ?? "etcd not found");
  const root = options.dataDirRoot ?? defaultDataRoot();
  const ports: MemberPorts[] = Array.from({ length: size }, (_, i) => ({
    client: portList[i * 3]!,
    peer: portList[i * 3 + 1]!,
    metrics: portList[i * 3 + 2]!,
  }));
  const tag = Math.random().toString(36).slice(2, 8);
  const names = ports.map((_, i) => `etcd-sdk-${tag}-${i}`);
  const cluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]!.peer}`).join(",");
  return names.map((name, i) => {
    const dataDir = mkdtempSync(join(root, `flannel-sdk-etcd-${tag}-${i}-`));
    return new EtcdServer({
      name,
      dataDir,
      ports: ports[i]!,
      args: memberArgs(name, dataDir, ports[i]!, cluster, `flannel-sdk-${tag}`, options),
      binary,
      tls: options.tls !== undefined,
    });
  });
}

async function startMembers(size: number, options: StartEtcdOptions): Promise<EtcdServer[]> {
  let lastError: unknown;
  // Ports come from bind-and-release, so another process may grab one first: retry with new ones.
  for (let attempt = 0; attempt < 4; attempt++) {
    const members = makeMembers(size, options, await freePorts(size * 3));
    try {
      for (const m of members) m.spawn();
      await Promise.all(members.map((m) => m.waitHealthy(options.readyTimeoutMs ?? 20_000)));
      return members;
    } catch (e) {
      lastError = e;
      await Promise.all(members.map((m) => m.close()));
      if (!/address already in use/.test(String(e))) break;
    }
  }
  throw lastError;
}

/**
 * Starts a one-member etcd on free loopback ports with a temporary data dir and waits until it
 * is healthy. Close it with `await server.close()` (or `await using`).
 *
 * @example
 * ```ts
 * await using etcd = await startEtcd({ enableV2: true });
 * const store = new EtcdLeaseStore({ endpoints: [etcd.clientUrl] });
 * ```
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdServer> {
  const [member] = await startMembers(1, options);
  return member!;
}

/**
 * A multi-member etcd cluster run by a test.
 *
 * @example
 * ```ts
 * await using cluster = await startEtcdCluster({ size: 3 });
 * const store = new EtcdLeaseStore({ endpoints: cluster.endpoints });
 * ```
 */
export class EtcdCluster {
  /** The members, in start order. */
  readonly members: readonly EtcdServer[];

  /** @internal use {@link startEtcdCluster}. */
  constructor(members: EtcdServer[]) {
    this.members = members;
  }

  /** Client URLs of every member. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** The member that is leader now (polls until one is, up to `timeoutMs`). */
  async leader(timeoutMs = 10_000): Promise<EtcdServer> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      for (const m of this.members) {
        if (!m.running) continue;
        try {
          if (await m.isLeader()) return m;
        } catch {
          // member down or starting
        }
      }
      await sleep(50);
    }
    throw new Error("no etcd leader");
  }

  /** Kills every member and removes the data dirs. */
  async close(): Promise<void> {
    await Promise.all(this.members.map((m) => m.close()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Starts an etcd cluster of `size` members (default 3) on loopback and waits until every member
 * is healthy.
 *
 * @example
 * ```ts
 * await using cluster = await startEtcdCluster({ size: 3 });
 * await (await cluster.leader()).kill();
 * ```
 */
export async function startEtcdCluster(
  options: StartEtcdOptions & { readonly size?: number } = {},
): Promise<EtcdCluster> {
  return new EtcdCluster(await startMembers(options.size ?? 3, options));
}
