import { connect, createServer, type Server, type Socket } from "node:net";

/** Options of {@link startTcpProxy}. */
export interface TcpProxyOptions {
  /** Where connections go. */
  readonly targetPort: number;
  /** Default `127.0.0.1`. */
  readonly targetHost?: string;
  /** Port to listen on (loopback). Default a free one. */
  readonly port?: number;
}

interface Pair {
  client: Socket;
  upstream: Socket | null;
}

/**
 * A loopback TCP proxy in front of a server, for partition tests: {@link pause} makes the server
 * look silent (connections stay open, no byte moves either way), {@link cut} resets every
 * connection, {@link refuse} turns new connections away.
 *
 * @example
 * ```ts
 * await using proxy = await startTcpProxy({ targetPort: etcd.ports.client });
 * proxy.refuse(); // partition
 * proxy.resume(); // heal
 * ```
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #targetHost: string;
  readonly #targetPort: number;
  readonly #pairs = new Set<Pair>();
  #paused = false;
  #refusing = false;
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;

  /** @internal use {@link startTcpProxy}. */
  constructor(server: Server, port: number, targetHost: string, targetPort: number) {
    this.#server = server;
    this.port = port;
    this.#targetHost = targetHost;
    this.#targetPort = targetPort;
    server.on("connection", (socket) => this.#accept(socket));
  }

  /** `http://127.0.0.1:<port>`, or `https://localhost:<port>` with `tls`. */
  url(tls = false): string {
    return tls ? `https://localhost:${this.port}` : `http://127.0.0.1:${this.port}`;
  }

  /** Number of client connections open now. */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Stops moving bytes on every connection, open and new, until {@link resume}. */
  pause(): void {
    this.#paused = true;
    for (const pair of this.#pairs) {
      pair.client.pause();
      pair.upstream?.pause();
    }
  }

  /** Moves bytes again (and stops refusing connections). */
  resume(): void {
    this.#paused = false;
    this.#refusing = false;
    for (const pair of this.#pairs) {
      if (pair.upstream === null) this.#dial(pair);
      pair.client.resume();
      pair.upstream?.resume();
    }
  }

  /** Resets every open connection (the peer sees ECONNRESET). */
  cut(): void {
    for (const pair of this.#pairs) {
      pair.client.resetAndDestroy();
      pair.upstream?.resetAndDestroy();
    }
    this.#pairs.clear();
  }

  /** Resets every connection and refuses (resets) new ones until {@link resume}. */
  refuse(): void {
    this.#refusing = true;
    this.cut();
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #accept(client: Socket): void {
    if (this.#refusing) {
      client.resetAndDestroy();
      return;
    }
    const pair: Pair = { client, upstream: null };
    this.#pairs.add(pair);
    client.on("error", () => this.#drop(pair));
    client.on("close", () => this.#drop(pair));
    if (this.#paused) {
      client.pause();
      return;
    }
    this.#dial(pair);
  }

  #dial(pair: Pair): void {
    const upstream = connect(this.#targetPort, this.#targetHost);
    pair.upstream = upstream;
    upstream.on("error", () => this.#drop(pair));
    upstream.on("close", () => this.#drop(pair));
    pair.client.pipe(upstream);
    upstream.pipe(pair.client);
    if (this.#paused) {
      pair.client.pause();
      upstream.pause();
    }
  }

  #drop(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }
}

/**
 * Starts a {@link TcpProxy} on loopback in front of `targetHost:targetPort`.
 *
 * @example
 * ```ts
 * await using proxy = await startTcpProxy({ targetPort: etcd.ports.client });
 * const store = new EtcdLeaseStore({ endpoints: [proxy.url()] });
 * proxy.pause(); // etcd goes silent for the store
 * ```
 */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const server = createServer({ noDelay: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy: no port");
  return new TcpProxy(server, address.port, options.targetHost ?? "127.0.0.1", options.targetPort);
}
