/**
 * `--etcd URL`: the demo on a real etcd (v3 API), under a prefix of its own
 * (`/flannel-sdk-demo/<random>/network`) so that it never touches a real cluster's data; the
 * prefix is deleted at the end unless `--keep`.
 */
import { randomBytes } from "node:crypto";
import { EtcdLeaseStore } from "@flannel-sdk/etcd";
import { type DemoResult, runDemo } from "./demo.js";

/** Options of {@link runEtcdDemo}. */
export interface EtcdDemoOptions {
  readonly netns?: boolean;
  readonly seed?: number;
  readonly out?: string;
  /** Leave the config and leases in etcd (they expire in 24 h) and print how to look at them. */
  readonly keep?: boolean;
  /** The prefix to use; default `/flannel-sdk-demo/<random>/network` (deleted afterwards). */
  readonly prefix?: string;
  readonly log?: (line: string) => void;
}

/** Runs the demo on the etcd at `url`; returns the demo's result and the prefix it used. */
export async function runEtcdDemo(
  url: string,
  options: EtcdDemoOptions = {},
): Promise<DemoResult & { prefix: string }> {
  const log = options.log ?? ((line: string) => console.log(line));
  const prefix = options.prefix ?? `/flannel-sdk-demo/${randomBytes(3).toString("hex")}/network`;
  let store: EtcdLeaseStore | null = null;
  try {
    const result = await runDemo({
      ...(options.netns === undefined ? {} : { netns: options.netns }),
      ...(options.seed === undefined ? {} : { seed: options.seed }),
      ...(options.out === undefined ? {} : { out: options.out }),
      log,
      store: (random) => {
        store = new EtcdLeaseStore({ endpoints: [url], prefix, random, requestTimeoutMs: 5_000 });
        return {
          store,
          prefix,
          label: `etcd v3 at ${url}, under ${prefix}`,
          writeCommand: "ETCDCTL_API=3 etcdctl put",
          endpoints: [url],
        };
      },
    });
    if (options.keep) {
      log(
        `Kept in etcd (the leases expire in 24 h): ETCDCTL_API=3 etcdctl --endpoints=${url} get --prefix ${prefix}`,
      );
    }
    return { ...result, prefix };
  } finally {
    const s = store as EtcdLeaseStore | null;
    if (s !== null) {
      if (!options.keep) {
        // everything under the demo's own prefix: the config and the three leases
        await s.connection
          .txn(
            [],
            [
              {
                request_delete_range: {
                  key: Buffer.from(`${prefix}/`),
                  range_end: Buffer.from(`${prefix}0`),
                },
              },
            ],
          )
          .catch((e: unknown) =>
            log(`could not delete ${prefix} from etcd: ${(e as Error).message}`),
          );
      }
      await s.close();
    }
  }
}
