/**
 * `npm run demo [-- --netns] [-- --etcd URL] [--seed N] [--out DIR]`
 */
import { parseArgs } from "node:util";
import { runDemo } from "./demo.js";

const USAGE = `usage: npm run demo -- [--netns] [--etcd URL [--keep]] [--seed N] [--out DIR]

  (no flags)   three nodes join the install guide's network on the embedded in-memory store;
               their files go to ./demo-out/<node>/; node1's kernel plan is printed
  --netns      also build the nodes as network namespaces, apply the plans, ping across (root, Linux)
  --etcd URL   use a real etcd (v3 API) instead of the in-memory store, under a prefix of the
               demo's own (/flannel-sdk-demo/<random>/network), deleted at the end
  --keep       with --etcd: leave the config and the leases there
  --seed N     reproducible subnets and MACs
  --out DIR    where the node directories go (default ./demo-out)`;

export async function main(argv = process.argv.slice(2)): Promise<number> {
  let values: {
    netns?: boolean;
    etcd?: string;
    keep?: boolean;
    seed?: string;
    out?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        netns: { type: "boolean" },
        etcd: { type: "string" },
        keep: { type: "boolean" },
        seed: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    console.error(`--seed must be an integer\n\n${USAGE}`);
    return 2;
  }
  try {
    if (values.etcd !== undefined) {
      const { runEtcdDemo } = await import("./etcd.js");
      await runEtcdDemo(values.etcd, {
        netns: values.netns ?? false,
        keep: values.keep ?? false,
        ...(seed === undefined ? {} : { seed }),
        ...(values.out ? { out: values.out } : {}),
      });
    } else {
      await runDemo({
        netns: values.netns ?? false,
        ...(seed === undefined ? {} : { seed }),
        ...(values.out ? { out: values.out } : {}),
      });
    }
    return 0;
  } catch (e) {
    console.error(`demo failed: ${(e as Error).message}`);
    return 1;
  }
}

process.exitCode = await main();
