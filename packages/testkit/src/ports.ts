import { createServer } from "node:net";

/**
 * Finds `count` distinct free TCP ports on 127.0.0.1 by binding port 0 and closing again. Another
 * process may take a port between this call and its use; callers that start servers retry on
 * "address already in use".
 *
 * @example
 * ```ts
 * const [client, peer] = await freePorts(2);
 * ```
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const server = createServer();
          server.unref();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === "string") throw new Error("no port bound");
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
