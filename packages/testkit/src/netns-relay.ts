import { type ChildProcess, spawn } from "node:child_process";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";

/** Where a {@link NetnsRelay} listens inside the namespace and what it reaches. */
export interface NetnsRelayOptions {
  /** The network namespace (made by the test) whose processes connect to `host:port`. */
  ns: string;
  /** The address inside `ns` to listen on (`127.0.0.1`, or an underlay address of `ns`). */
  host: string;
  port: number;
  /** The port on this process's loopback (the root namespace) that connections go to. */
  targetPort: number;
  /** A directory of the test for the unix socket between the two namespaces. */
  dir: string;
}

// Listens on argv[1]:argv[2] inside the namespace and relays every connection to the unix socket argv[3].
const FORWARDER = `const net=require("net");net.createServer(c=>{const u=net.connect(process.argv[3]);c.pipe(u).pipe(c);c.on("error",()=>u.destroy());u.on("error",()=>c.destroy())}).listen(Number(process.argv[2]),process.argv[1],()=>console.log("ready"))`;

/**
 * Makes a TCP port of the root namespace's loopback (a test's etcd) reachable at `host:port`
 * inside a network namespace: a forwarder process in the namespace relays to a unix socket (the
 * file system is shared), which this process relays to the target port.
 */
export class NetnsRelay {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #forwarder: ChildProcess | null = null;

  private constructor(targetPort: number) {
    this.#server = createServer((c) => {
      const u = createConnection(targetPort, "127.0.0.1");
      this.#sockets.add(c).add(u);
      c.pipe(u).pipe(c);
      c.on("error", () => u.destroy());
      u.on("error", () => c.destroy());
    });
  }

  /** Starts the relay; resolves once the forwarder inside `ns` listens. */
  static async start(options: NetnsRelayOptions): Promise<NetnsRelay> {
    const relay = new NetnsRelay(options.targetPort);
    const sock = join(options.dir, `relay-${options.port}.sock`);
    await new Promise<void>((resolve) => relay.#server.listen(sock, resolve));
    const forwarder = spawn(
      "ip",
      [
        "netns",
        "exec",
        options.ns,
        process.execPath,
        "-e",
        FORWARDER,
        options.host,
        String(options.port),
        sock,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    relay.#forwarder = forwarder;
    try {
      await new Promise<void>((resolve, reject) => {
        forwarder.once("exit", (code) => reject(new Error(`forwarder exited ${code}`)));
        forwarder.stdout!.once("data", () => resolve());
      });
    } catch (e) {
      await relay.close();
      throw e;
    }
    return relay;
  }

  /** Kills the forwarder at once (for a process `exit` handler, which cannot wait). */
  killSync(): void {
    this.#forwarder?.kill("SIGKILL");
  }

  /** Kills the forwarder, drops every relayed connection, closes the unix socket. */
  async close(): Promise<void> {
    this.killSync();
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
