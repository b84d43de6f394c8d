// `flanneld-ts`: the process around the agent — flags, signals, exit status.
import { isFlannelError } from "@flannel-sdk/core";
import { log, runAgent } from "./agent.js";
import { runDiagnose } from "./diagnose.js";
import { agentOptions, USAGE } from "./options.js";

/** Exit status of a bad command line (Go's flag package; flanneld itself exits 0). */
export const EXIT_USAGE = 2;

/** Runs `flanneld-ts` with these arguments and environment; resolves to the exit status. */
export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  if (argv.some((a) => /^--?(h|help)$/.test(a))) {
    process.stdout.write(USAGE);
    return 0;
  }
  let options: ReturnType<typeof agentOptions>;
  try {
    if (argv[0] === "diagnose") return await runDiagnose(argv.slice(1), env);
    options = agentOptions(argv, env);
  } catch (e) {
    if (!isFlannelError(e, "FLANNELD_OPTIONS_INVALID") && !isFlannelError(e, "INVALID_ARGUMENT")) {
      throw e;
    }
    process.stderr.write(`flanneld-ts: ${e.message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log("I", `Received ${sig}, shutting down`);
    ac.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  try {
    return await runAgent(options, ac.signal);
  } catch (e) {
    log("E", isFlannelError(e) ? `${e.code}: ${e.message}` : String(e));
    return 1;
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}
