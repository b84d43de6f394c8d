import { type ChildProcess, spawn } from "node:child_process";

// systemd's side of sd_notify: an AF_UNIX datagram socket with SO_PASSCRED; prints each message
// (its lines joined by spaces) with the sender's pid from SCM_CREDENTIALS, which is what systemd
// checks for NotifyAccess=main. Node has no AF_UNIX datagram sockets, hence python3.
const NOTIFY_LISTENER = String.raw`
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = -1
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", payload[:12])[0]
    print("pid=%d %s" % (pid, data.decode().replace("\n", " ")), flush=True)
`;

/**
 * A notification socket as systemd opens one for a `Type=notify` unit (needs `python3`). Each
 * message received is `pid=<sender> <assignments>` in {@link NotifySocket.messages}.
 */
export class NotifySocket {
  readonly messages: string[] = [];
  readonly #child: ChildProcess;
  private constructor(readonly path: string) {
    this.#child = spawn("python3", ["-c", NOTIFY_LISTENER, path], {
      stdio: ["ignore", "pipe", "inherit"],
    });
  }

  /** Binds `path`; resolves once the socket listens. */
  static async open(path: string): Promise<NotifySocket> {
    const n = new NotifySocket(path);
    await new Promise<void>((resolve, reject) => {
      n.#child.once("error", reject);
      n.#child.stdout!.setEncoding("utf8").on("data", (d: string) => {
        for (const line of d.split("\n")) {
          if (line === "listening") resolve();
          else if (line !== "") n.messages.push(line);
        }
      });
    });
    return n;
  }

  /** The pid of the listening process (a pid that is not the test's own). */
  get pid(): number {
    return this.#child.pid!;
  }

  close(): void {
    this.#child.kill("SIGKILL");
  }
}
