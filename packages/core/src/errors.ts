/**
 * The one error type of flannel-sdk. Every failure any package reports is a `FlannelError` with a
 * stable string `code`; the codes are contracts that callers branch on.
 */

/** Codes thrown by `@flannel-sdk/core`. Other packages add their own codes to the same class. */
export type CoreErrorCode =
  | "INVALID_IP"
  | "INVALID_CIDR"
  | "INVALID_ARGUMENT"
  | "CONFIG_INVALID"
  | "CONFIG_NOT_FOUND"
  | "SUBNET_KEY_INVALID"
  | "LEASE_INVALID"
  | "LEASE_NOT_FOUND"
  | "LEASE_CONFLICT"
  | "OUT_OF_SUBNETS"
  | "PLAN_INVALID"
  | "MAX_RETRIES"
  | "ABORTED"
  | "STORE_CLOSED"
  /** A store call failed with something other than a `FlannelError` (a third-party store's bug). */
  | "STORE_ERROR";

/** Extra facts attached to a {@link FlannelError}. */
export interface FlannelErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Structured context (the operation, the key, the value…), safe to log. */
  details?: Record<string, unknown>;
  /** True when repeating the same call may succeed (a network blip, a lost race). */
  retryable?: boolean;
  /** The offending input field, for validation errors (`"Network"`, `"SubnetMin"`, …). */
  field?: string;
  /** Symbolic kernel error for system-call failures (`"EEXIST"`, `"EPERM"`, …). */
  errno?: string;
  /** The operation or system call that failed, for kernel and I/O errors. */
  syscall?: string;
}

/**
 * The error every flannel-sdk API throws. Branch on `code`, never on `message`; prefer
 * {@link isFlannelError} over `instanceof`, which breaks when two copies of a package are loaded.
 *
 * @example
 * ```ts
 * try {
 *   parseNetworkConfig('{"Network":"10.0.0.0/30"}');
 * } catch (e) {
 *   if (isFlannelError(e, "CONFIG_INVALID")) console.error(e.field, e.message);
 * }
 * ```
 */
export class FlannelError<C extends string = string> extends Error {
  /** Always `"FlannelError"`: {@link isFlannelError} checks it, so two copies of the package agree. */
  override readonly name = "FlannelError" as const;
  /** Stable machine-readable code, e.g. `"CONFIG_INVALID"`. */
  readonly code: C;
  /** Structured context, safe to log. */
  readonly details: Readonly<Record<string, unknown>>;
  /** True when repeating the call may succeed. */
  readonly retryable: boolean;
  /** The offending field of a validated input, when there is one. */
  readonly field: string | undefined;
  /** Symbolic kernel error name (`"EEXIST"`) for system-call failures. */
  readonly errno: string | undefined;
  /** The failed operation or system call. */
  readonly syscall: string | undefined;

  constructor(code: C, message: string, options: FlannelErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.retryable = options.retryable ?? false;
    this.field = options.field;
    this.errno = options.errno;
    this.syscall = options.syscall;
  }

  /** Plain-data view for structured logs and JSON output. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      ...(this.field === undefined ? {} : { field: this.field }),
      ...(this.errno === undefined ? {} : { errno: this.errno }),
      ...(this.syscall === undefined ? {} : { syscall: this.syscall }),
      ...(this.retryable ? { retryable: true } : {}),
      ...(Object.keys(this.details).length > 0 ? { details: this.details } : {}),
    };
  }
}

/**
 * True when `e` is a {@link FlannelError} (checked by `name` and `code`, so it works across
 * duplicated copies of the package), optionally with one of the given codes.
 *
 * @example
 * ```ts
 * if (isFlannelError(err, "OUT_OF_SUBNETS")) alertOperator();
 * ```
 */
export function isFlannelError<C extends string = string>(
  e: unknown,
  ...codes: C[]
): e is FlannelError<C> {
  if (typeof e !== "object" || e === null) return false;
  const candidate = e as { name?: unknown; code?: unknown };
  if (candidate.name !== "FlannelError" || typeof candidate.code !== "string") return false;
  return codes.length === 0 || (codes as string[]).includes(candidate.code);
}

/**
 * Throws `ABORTED` when the signal has fired; call at the top of every async step.
 *
 * @throws FlannelError `ABORTED`
 * @example
 * ```ts
 * throwIfAborted(options.signal);
 * ```
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new FlannelError("ABORTED", "the operation was aborted", { cause: signal.reason });
  }
}

/**
 * Text of any value for an error message; never throws (input may be anything, and a validator
 * reports bad input instead of crashing on it).
 * @internal
 */
export function printable(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Options of {@link errorLine}. */
export interface ErrorLineOptions {
  /** Put a `FlannelError`'s code first (`CODE: message`). Default true. */
  readonly code?: boolean;
}

/**
 * An error as one line of text, for a command's stderr: a `FlannelError` as `CODE: message` (its
 * message alone with `code: false`), any other `Error` as `Name: message`, anything else as its
 * text; control characters (a newline in a path) become blanks. Never a stack trace.
 *
 * @example
 * ```ts
 * errorLine(new FlannelError("ENV_TOO_LARGE", "subnet.env: expands past 1048576 characters"));
 * // "ENV_TOO_LARGE: subnet.env: expands past 1048576 characters"
 * ```
 */
export function errorLine(e: unknown, options: ErrorLineOptions = {}): string {
  const text = isFlannelError(e)
    ? options.code === false
      ? e.message
      : `${e.code}: ${e.message}`
    : e instanceof Error
      ? `${e.name}: ${e.message}`
      : String(e);
  return text.replace(/[\u0000-\u001f\u007f]+/g, " ");
}
