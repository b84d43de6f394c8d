/**
 * `@flannel-sdk/testkit/vitest`: lifecycle helpers that register vitest hooks (apart from the
 * root, which the benchmarks import on plain `node`).
 */
import { afterAll, beforeAll } from "vitest";
import { type EtcdServer, type StartEtcdOptions, startEtcd } from "./etcd/etcd-server.js";

/** Options of {@link etcdPerSuite}. */
export interface EtcdPerSuiteOptions extends StartEtcdOptions {
  /** Runs before the member stops, with it still up (a check that nothing leaked, say). */
  beforeClose?: (etcd: EtcdServer) => unknown;
}

/**
 * One etcd member for the enclosing `describe` block: started in its `beforeAll`, stopped in its
 * `afterAll` (registered first, so it runs after the block's own `afterAll` hooks). The value
 * returned stands for the member inside the block's hooks and tests (`etcd.clientUrl`,
 * `etcd.ports`, …); read before `beforeAll` ran, it throws.
 */
export function etcdPerSuite(options: EtcdPerSuiteOptions = {}): EtcdServer {
  const { beforeClose, ...start } = options;
  let server: EtcdServer | null = null;
  beforeAll(async () => {
    server = await startEtcd(start);
  });
  afterAll(async () => {
    if (server === null) return;
    try {
      await beforeClose?.(server);
    } finally {
      await server.close();
    }
  });
  return new Proxy({} as EtcdServer, {
    get(_, prop) {
      if (server === null) throw new Error("etcdPerSuite: the member is used before beforeAll");
      const value: unknown = Reflect.get(server, prop, server);
      return typeof value === "function" ? value.bind(server) : value;
    },
  });
}
