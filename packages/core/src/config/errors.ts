import { FlannelError } from "../errors.js";

/**
 * Where in flanneld's start-up a config error arises, kept in `details.stage`: reading the JSON,
 * decoding it into `subnet.Config`, `CheckNetworkConfig`, the IP-stack check, the backend, or
 * (for formatNetworkConfig) writing it.
 * @internal
 */
export type ConfigStage = "syntax" | "decode" | "check" | "stack" | "backend" | "format";

/** @internal */
export function configError(
  message: string,
  field: string | undefined,
  stage: ConfigStage,
  cause?: unknown,
  details: Record<string, unknown> = {},
): FlannelError {
  return new FlannelError("CONFIG_INVALID", message, {
    ...(field === undefined ? {} : { field }),
    details: { stage, ...details },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** Go's `UnmarshalTypeError` text. `struct` null = a top-level value, "" = an anonymous struct. @internal */
export function goTypeError(
  value: string,
  struct: string | null,
  field: string,
  goType: string,
): string {
  return struct === null
    ? `json: cannot unmarshal ${value} into Go value of type ${goType}`
    : `json: cannot unmarshal ${value} into Go struct field ${struct}.${field} of type ${goType}`;
}
