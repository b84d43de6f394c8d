/**
 * Installing flannel's ip-masq rules with `iptables-restore`, checking them, deleting stale ones,
 * and keeping them installed: flanneld's `--iptables-resync` loop (default every 5 s), which
 * rebuilds the whole set when any rule is missing (flannel `pkg/trafficmngr/iptables/iptables.go`).
 */
import { spawn } from "node:child_process";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import {
  formatIptablesRule,
  type IpMasqRules,
  type IpMasqRulesOptions,
  type IptablesRule,
  renderIpMasqRules,
  savedRules,
} from "./masq.js";

/** Where the iptables commands run. */
export interface IptablesRunOptions {
  /**
   * Run inside this network namespace: a name under `/run/netns` (`ip netns exec NAME …`) or a
   * path such as `/proc/1234/ns/net` (`nsenter --net=PATH …`); default the current one.
   */
  readonly netns?: string | null;
  readonly signal?: AbortSignal;
}

/** Options of {@link applyIpMasqRules} and {@link keepIpMasqRules}: the rules, minus `existing` (read from the kernel). */
export type ApplyIpMasqRulesOptions = Omit<IpMasqRulesOptions, "existing"> & IptablesRunOptions;

function command(argv: readonly string[], netns: string | null | undefined): string[] {
  if (!netns) return [...argv];
  return netns.includes("/")
    ? ["nsenter", `--net=${netns}`, "--", ...argv]
    : ["ip", "netns", "exec", netns, ...argv];
}

/** Whether a tool's failure says it is not installed (spawn's ENOENT, or the wrapper's message). */
function notInstalled(tool: string, errno: string | undefined, stderr: string): boolean {
  return (
    errno === "ENOENT" ||
    new RegExp(`${tool}.*(No such file|not found)|(No such file|not found).*${tool}`).test(stderr)
  );
}

/** Runs one iptables tool; rejects with `IPTABLES_FAILED` on a non-zero exit. @internal */
function runTool(
  argv: readonly string[],
  input: string,
  options: IptablesRunOptions,
): Promise<string> {
  throwIfAborted(options.signal);
  const full = command(argv, options.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0]!, full.slice(1), {
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdin.on("error", () => {}); // the tool may exit before reading everything
    child.on("error", (e: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) {
        reject(new FlannelError("ABORTED", "aborted", { cause: options.signal.reason }));
        return;
      }
      const missing = notInstalled(argv[0]!, e.code, "");
      reject(
        new FlannelError(
          "IPTABLES_FAILED",
          missing
            ? `${full[0]} not found: apt-get install -y ${full[0] === argv[0] ? "iptables" : full[0] === "ip" ? "iproute2" : "util-linux"}`
            : `${full.join(" ")}: ${e.message}`,
          {
            cause: e,
            ...(e.code ? { errno: e.code } : {}),
            syscall: full.join(" "),
          },
        ),
      );
    });
    child.on("close", (status, sig) => {
      if (status === 0) resolve(stdout);
      else if (!options.signal?.aborted) {
        const how = status === null ? `was killed by ${sig}` : `exited ${status}`;
        // a wrapper (ip netns exec, nsenter) that cannot find the tool says so on stderr
        const missing = notInstalled(argv[0]!, undefined, stderr);
        reject(
          new FlannelError(
            "IPTABLES_FAILED",
            missing
              ? `${argv[0]} not found: apt-get install -y iptables`
              : `${full.join(" ")} ${how}: ${stderr.trim()}`,
            {
              syscall: full.join(" "),
              details: { status, stderr, input },
              ...(missing ? { errno: "ENOENT" } : {}),
            },
          ),
        );
      }
    });
    child.stdin.end(input);
  });
}

/**
 * Reads the current rules (`iptables-save`, or `ip6tables-save` for family 6), in the current
 * network namespace or in `options.netns`.
 * @throws FlannelError `IPTABLES_FAILED` (with `errno` `ENOENT` when the tool is not
 * installed), `ABORTED`
 * @example
 * ```ts
 * const text = await iptablesSave(4, { netns: "blue" });
 * ```
 */
export function iptablesSave(family: 4 | 6 = 4, options: IptablesRunOptions = {}): Promise<string> {
  return runTool([family === 4 ? "iptables-save" : "ip6tables-save"], "", options);
}

/**
 * The rules of `rules` that `saved` (an `iptables-save` dump) does not hold, in order. Pure.
 * @example
 * ```ts
 * missingIptablesRules(renderIpMasqRules(opts), await iptablesSave()); // [] when all present
 * ```
 */
export function missingIptablesRules(
  rules: Pick<IpMasqRules, "masq" | "forward">,
  saved: string,
): IptablesRule[] {
  const have = savedRules(saved);
  return [...rules.masq, ...rules.forward].filter(
    (r) => !have.has(`${r.table} ${formatIptablesRule(r)}`),
  );
}

/**
 * Installs flannel's ip-masq (and forward) rules: reads the current rules, renders the
 * `iptables-restore --noflush` payload with a `-D` before each rule already there (flannel's
 * delete-then-append), and feeds it to `iptables-restore`. Applying twice leaves one copy.
 *
 * @throws FlannelError `IPTABLES_FAILED` (with the tool's stderr), `INVALID_CIDR`, `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await applyIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24" });
 * ```
 */
export async function applyIpMasqRules(options: ApplyIpMasqRulesOptions): Promise<IpMasqRules> {
  const family = renderIpMasqRules(options).family;
  const existing = await iptablesSave(family, options);
  const rules = renderIpMasqRules({ ...options, existing });
  await runTool(rules.restoreCommand, rules.restore, options);
  return rules;
}

/**
 * Deletes the rules of a rule set that are present (flanneld does this at start-up for the rules
 * of the previous `FLANNEL_NETWORK` / `FLANNEL_SUBNET` when they changed). Returns how many went.
 *
 * @throws FlannelError `IPTABLES_FAILED`, `INVALID_CIDR`, `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await deleteIpMasqRules({ network: prev.network, subnet: prev.subnet });
 * ```
 */
export async function deleteIpMasqRules(options: ApplyIpMasqRulesOptions): Promise<number> {
  const rules = renderIpMasqRules(options);
  const have = savedRules(await iptablesSave(rules.family, options));
  let payload = "";
  let count = 0;
  for (const table of ["nat", "filter"] as const) {
    const present = [...rules.masq, ...rules.forward].filter(
      (r) => r.table === table && have.has(`${table} ${formatIptablesRule(r)}`),
    );
    if (present.length === 0) continue;
    count += present.length;
    payload += `*${table}\n${present.map((r) => `${formatIptablesRule(r, "-D")}\n`).join("")}COMMIT\n`;
  }
  if (count > 0) await runTool(rules.restoreCommand, payload, options);
  return count;
}

/** What an {@link IpMasqKeeper} reports. */
export type IpMasqKeeperEvent =
  | { readonly type: "rebuilt"; readonly missing: readonly IptablesRule[] }
  | { readonly type: "error"; readonly error: FlannelError };

/** Options of {@link keepIpMasqRules}. */
export interface KeepIpMasqRulesOptions extends ApplyIpMasqRulesOptions {
  /** Seconds between checks (flanneld's `--iptables-resync`, default 5). */
  readonly resyncSeconds?: number;
  /** Called when a check found rules missing and rebuilt them, or failed. */
  readonly onEvent?: (event: IpMasqKeeperEvent) => void;
}

/**
 * Keeps flannel's rules installed: checks every `resyncSeconds` and rebuilds the whole set when
 * any rule is missing, as flanneld does. Stop it with `close()` or the `signal`. Get one from
 * {@link keepIpMasqRules}.
 *
 * @example
 * ```ts
 * const keeper = await keepIpMasqRules({ network: "172.30.0.0/16", subnet: "172.30.8.0/24" });
 * await keeper.check(); // at once, besides the timer
 * await keeper.close();
 * ```
 */
export class IpMasqKeeper implements AsyncDisposable {
  readonly #options: KeepIpMasqRulesOptions;
  readonly #stop = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> = Promise.resolve();

  /** @internal use {@link keepIpMasqRules}. */
  constructor(
    readonly rules: IpMasqRules,
    options: KeepIpMasqRulesOptions,
  ) {
    this.#options = options;
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
    this.#arm();
  }

  #arm(): void {
    if (this.#stop.signal.aborted) return;
    const ms = (this.#options.resyncSeconds ?? 5) * 1000;
    this.#timer = setTimeout(() => {
      this.#checking = this.check().then(() => this.#arm());
    }, ms);
  }

  /** Checks once now and rebuilds when something is missing; never throws (errors go to `onEvent`). */
  async check(): Promise<void> {
    const run = { ...this.#options, signal: this.#stop.signal };
    try {
      const missing = missingIptablesRules(this.rules, await iptablesSave(this.rules.family, run));
      if (missing.length === 0) return;
      await applyIpMasqRules(run);
      this.#options.onEvent?.({ type: "rebuilt", missing });
    } catch (e) {
      if (this.#stop.signal.aborted) return;
      const error =
        e instanceof FlannelError
          ? e
          : new FlannelError("IPTABLES_FAILED", String(e), { cause: e });
      this.#options.onEvent?.({ type: "error", error });
    }
  }

  /** Stops checking (the rules stay, as flanneld leaves them). Idempotent. */
  async close(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    await this.#checking;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Installs flannel's ip-masq rules ({@link applyIpMasqRules}) and keeps them installed
 * ({@link IpMasqKeeper}).
 *
 * @throws FlannelError `IPTABLES_FAILED` (the first install failed), `INVALID_CIDR`, `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await using masq = await keepIpMasqRules({ network: "172.30.0.0/16", subnet: lease.subnet });
 * ```
 */
export async function keepIpMasqRules(options: KeepIpMasqRulesOptions): Promise<IpMasqKeeper> {
  const rules = await applyIpMasqRules(options);
  return new IpMasqKeeper(rules, options);
}
