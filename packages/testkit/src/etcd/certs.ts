import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A certificate and its key, as files and as PEM text. */
export interface CertPair {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: string;
  readonly key: string;
}

/** What {@link makeTestCertificates} made, all in one temporary directory. */
export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly caFile: string;
  readonly ca: string;
  /** A second, unrelated CA, for wrong-CA tests. */
  readonly otherCaFile: string;
  readonly otherCa: string;
  /** Server certificate for `localhost` and `127.0.0.1`. */
  readonly server: CertPair;
  /** Client certificates by name (the name is the certificate's CN). */
  readonly clients: Readonly<Record<string, CertPair>>;
  /** Removes the directory. */
  remove(): void;
}

/**
 * Returns `null` when openssl is on the PATH, else how to get it (for `tierGate`).
 *
 * @example
 * ```ts
 * describe.runIf(tierGate("etcd", opensslMissingReason()))("TLS", () => {});
 * ```
 */
export function opensslMissingReason(): string | null {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, "openssl"))) return null;
  }
  return "openssl not found on PATH: apt-get install -y openssl";
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run("openssl", args, { cwd });
}

async function issue(
  dir: string,
  name: string,
  cn: string,
  ext: string,
  caName: string,
): Promise<CertPair> {
  await openssl(
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`],
    dir,
  );
  await openssl(
    ["req", "-new", "-key", `${name}.key`, "-subj", `/CN=${cn}`, "-out", `${name}.csr`],
    dir,
  );
  writeFileSync(join(dir, `${name}.ext`), ext);
  await openssl(
    [
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${caName}.pem`,
      "-CAkey",
      `${caName}.key`,
      "-CAcreateserial",
      "-days",
      "2",
      "-sha256",
      "-extfile",
      `${name}.ext`,
      "-out",
      `${name}.pem`,
    ],
    dir,
  );
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return {
    certFile,
    keyFile,
    cert: readFileSync(certFile, "utf8"),
    key: readFileSync(keyFile, "utf8"),
  };
}

async function makeCa(dir: string, name: string, cn: string): Promise<void> {
  await openssl(
    ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", `${name}.key`],
    dir,
  );
  await openssl(
    [
      "req",
      "-x509",
      "-new",
      "-key",
      `${name}.key`,
      "-subj",
      `/CN=${cn}`,
      "-days",
      "2",
      "-sha256",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
      "-out",
      `${name}.pem`,
    ],
    dir,
  );
}

/**
 * Makes a throwaway PKI with openssl, at test time: a CA, a server certificate valid for
 * `localhost` and `127.0.0.1`, client certificates, and a second unrelated CA.
 *
 * @example
 * ```ts
 * const certs = await makeTestCertificates({ clients: ["flannel"] });
 * const etcd = await startEtcd({ tls: { caFile: certs.caFile, ...certs.server } });
 * ```
 */
export async function makeTestCertificates(
  options: { clients?: readonly string[]; dir?: string } = {},
): Promise<TestCertificates> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "flannel-sdk-etcd-pki-"));
  await makeCa(dir, "ca", "flannel-sdk test CA");
  await makeCa(dir, "other-ca", "flannel-sdk unrelated CA");
  const server = await issue(
    dir,
    "server",
    "localhost",
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    "ca",
  );
  const clients: Record<string, CertPair> = {};
  for (const name of options.clients ?? ["client"]) {
    clients[name] = await issue(dir, `client-${name}`, name, "extendedKeyUsage=clientAuth\n", "ca");
  }
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    ca: readFileSync(join(dir, "ca.pem"), "utf8"),
    otherCaFile: join(dir, "other-ca.pem"),
    otherCa: readFileSync(join(dir, "other-ca.pem"), "utf8"),
    server,
    clients,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
