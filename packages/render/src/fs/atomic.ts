import { randomInt } from "node:crypto";
import { chmod, lstat, mkdir, open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { FlannelError, throwIfAborted } from "@flannel-sdk/core";
import { invalidArgument, ioError } from "../errors.js";

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Permission bits of a new file, applied exactly (the umask is ignored). Default `0o644`. */
  mode?: number;
  /**
   * Keep the permission bits of an existing regular file instead of `mode` (flannel's
   * `WithExistingPermissions`). Default true; an install step that must enforce a mode sets false.
   */
  keepExistingMode?: boolean;
  /** Mode of each parent directory this call creates, applied exactly. Default `0o755`. */
  dirMode?: number;
  /** Source of the temp-file suffix; injectable so tests can force collisions. */
  random?: () => string;
  signal?: AbortSignal;
}

const MAX_TEMP_ATTEMPTS = 10_000;

function defaultRandom(): string {
  return String(randomInt(0, 2 ** 32 - 1));
}

function checkMode(mode: number, field: string): number {
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw invalidArgument(`${field} must be a permission mode between 0 and 0o7777`, field);
  }
  return mode;
}

/**
 * Creates `dir` and its missing parents, giving exactly `mode` to each directory it creates
 * (existing directories are left alone), like flannel's `os.MkdirAll(dir, 0755)` but without the
 * umask reducing the mode.
 *
 * @throws FlannelError `WRITE_FAILED` (with `errno` and `details.path` naming the directory that
 *   could not be created: `EROFS` on a read-only file system, `ENOTDIR` under a file, `EACCES`)
 * @example
 * ```ts
 * await makeDirectory("/run/flannel", 0o755);
 * ```
 */
export async function makeDirectory(dir: string, mode = 0o755): Promise<void> {
  checkMode(mode, "dirMode");
  const target = resolve(dir);
  let first: string | undefined;
  try {
    first = await mkdir(target, { recursive: true, mode });
  } catch (e) {
    const cause = await mkdirFailure(target, mode);
    throw ioError(
      "WRITE_FAILED",
      "cannot create directory",
      cause?.path ?? target,
      cause?.error ?? e,
    );
  }
  if (first === undefined) return;
  // mkdir returns the top-most directory it created; every directory below it is new as well.
  const created: string[] = [];
  for (let d = target; ; d = dirname(d)) {
    created.push(d);
    if (d === first || d === dirname(d)) break;
  }
  for (const d of created) {
    try {
      await chmod(d, mode);
    } catch (e) {
      throw ioError("WRITE_FAILED", "cannot set the mode of", d, e);
    }
  }
}

/**
 * Why creating `target` failed, found one directory at a time from the deepest one that exists:
 * Node's recursive mkdir reports `ENOENT` for the target when a parent cannot be created (a
 * read-only file system, a parent that is a file), hiding the real `EROFS` / `ENOTDIR` /
 * `EACCES`. `null` when every step now succeeds (someone else created them meanwhile).
 */
async function mkdirFailure(
  target: string,
  mode: number,
): Promise<{ path: string; error: unknown } | null> {
  const missing: string[] = [];
  for (let d = target; ; d = dirname(d)) {
    try {
      await lstat(d);
      break;
    } catch {
      missing.push(d);
    }
    if (d === dirname(d)) break;
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d, { mode });
    } catch (error) {
      if ((error as { code?: unknown }).code !== "EEXIST") return { path: d, error };
    }
  }
  return null;
}

/**
 * Writes a file atomically, the way flanneld writes `subnet.env` (google/renameio): the data goes
 * to a temp file named `.` + basename + a random suffix in the target's directory, is fsynced and
 * renamed over the target, so a reader sees the old file or the new one, never a mix. A new file
 * gets exactly `mode` (default `0o644`) whatever the umask; an existing regular file keeps its
 * permission bits (unless `keepExistingMode: false`). Missing parent directories are created with
 * exactly `dirMode` (default `0o755`). The temp file is removed when anything fails.
 *
 * @throws FlannelError `WRITE_FAILED` (with `errno`/`syscall`, e.g. `EISDIR` when the target is a
 * directory), `INVALID_ARGUMENT`, `ABORTED`
 * @example
 * ```ts
 * await writeFileAtomic("/run/flannel/subnet.env", renderSubnetEnv(env));
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteFileAtomicOptions = {},
): Promise<void> {
  if (typeof path !== "string" || path === "") throw invalidArgument("path must not be empty");
  const { signal } = options;
  throwIfAborted(signal);
  const target = resolve(path);
  const dir = dirname(target);
  const random = options.random ?? defaultRandom;
  let mode = checkMode(options.mode ?? 0o644, "mode");
  await makeDirectory(dir, options.dirMode ?? 0o755);
  throwIfAborted(signal);

  if (options.keepExistingMode ?? true) {
    try {
      const st = await lstat(target);
      if (st.isFile()) mode = st.mode & 0o777;
    } catch (e) {
      if ((e as { code?: unknown }).code !== "ENOENT") {
        throw ioError("WRITE_FAILED", "cannot stat", target, e);
      }
    }
  }

  let tempPath = "";
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  for (let attempt = 0; handle === undefined; attempt++) {
    tempPath = join(dir, `.${basename(target)}${random()}`);
    try {
      handle = await open(tempPath, "wx", mode);
    } catch (e) {
      if ((e as { code?: unknown }).code === "EEXIST" && attempt < MAX_TEMP_ATTEMPTS) continue;
      throw ioError("WRITE_FAILED", "cannot create a temp file for", target, e);
    }
  }

  let renamed = false;
  try {
    try {
      await handle.writeFile(data);
      // open() applied the umask; the mode must be exact.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    throwIfAborted(signal);
    await rename(tempPath, target);
    renamed = true;
  } catch (e) {
    if (e instanceof FlannelError) throw e;
    throw ioError("WRITE_FAILED", "cannot write", target, e);
  } finally {
    if (!renamed) await unlink(tempPath).catch(() => undefined);
  }
}
