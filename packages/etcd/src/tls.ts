/**
 * TLS material for etcd connections: each of CA, certificate and key may be given as a file path
 * or as PEM text.
 */
import { readFileSync } from "node:fs";
import { FlannelError } from "@flannel-sdk/core";

/** TLS options of the etcd stores. Each value is a file path or PEM text (string or Buffer). */
export interface EtcdTlsOptions {
  /** CA bundle that signed the etcd server certificate (flanneld `--etcd-cafile`). */
  readonly ca?: string | Uint8Array;
  /** Client certificate (flanneld `--etcd-certfile`). */
  readonly cert?: string | Uint8Array;
  /** Client key (flanneld `--etcd-keyfile`). */
  readonly key?: string | Uint8Array;
}

/** Resolved TLS material, as PEM buffers. */
export interface TlsMaterial {
  readonly ca: Buffer | undefined;
  readonly cert: Buffer | undefined;
  readonly key: Buffer | undefined;
}

function load(value: string | Uint8Array | undefined, what: string): Buffer | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") return Buffer.from(value);
  if (value.includes("-----BEGIN")) return Buffer.from(value);
  try {
    return readFileSync(value);
  } catch (e) {
    throw new FlannelError("ETCD_TLS", `cannot read the etcd ${what} file ${value}`, {
      cause: e,
      details: { file: value },
      field: what,
    });
  }
}

/**
 * Reads the TLS files (or takes the PEM text) once, at store construction.
 *
 * @throws FlannelError `ETCD_TLS` (a file cannot be read, or a certificate comes without its key)
 * @example
 * ```ts
 * const material = loadTlsMaterial({ ca: "/etc/kubernetes/ssl/ca.pem" });
 * ```
 */
export function loadTlsMaterial(options: EtcdTlsOptions): TlsMaterial {
  const material = {
    ca: load(options.ca, "ca"),
    cert: load(options.cert, "cert"),
    key: load(options.key, "key"),
  };
  if ((material.cert === undefined) !== (material.key === undefined)) {
    throw new FlannelError(
      "ETCD_TLS",
      "an etcd client certificate needs its key and a key needs its certificate",
      { field: material.cert === undefined ? "cert" : "key" },
    );
  }
  return material;
}
