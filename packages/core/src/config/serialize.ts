import { isFlannelError } from "../errors.js";
import { configError } from "./errors.js";

// The same nesting limit Go's scanner applies to text input.
const MAX_DEPTH = 10_000;

interface Frame {
  readonly obj: object;
  readonly array: boolean;
  readonly keys: readonly string[];
  readonly parts: string[];
  index: number;
  /** This container's key in its parent (for objects) or null (for array items / the root). */
  readonly key: string | null;
}

/**
 * Writes a config object as JSON text the way `JSON.stringify` would (own enumerable keys in
 * order, `toJSON` honoured, `undefined` / functions / symbols dropped from objects and written
 * `null` in arrays), so that text and object input go through one reader. Where `JSON.stringify`
 * would silently write `null` (NaN, ±Infinity) or throw a `TypeError` (cycles), this throws
 * `CONFIG_INVALID` with Go's `json.Marshal` wording; a `bigint` is written as its digits.
 * Iterative, so that deep nesting ends in Go's depth error rather than a stack overflow.
 * @internal
 */
export function toJsonText(input: object | null): string {
  try {
    return serialize(input);
  } catch (e) {
    if (isFlannelError(e)) throw e;
    // A getter, a toJSON or a Proxy trap of the caller's threw.
    throw configError(
      `the network config object cannot be read as JSON: ${describe(e)}`,
      undefined,
      "syntax",
      e,
    );
  }
}

function serialize(input: unknown): string {
  const stack: Frame[] = [];
  const onPath = new Set<object>();
  // Returns the text of a scalar, undefined to skip, or the frame of a container to descend into.
  const open = (
    key: string,
    value: unknown,
    objectKey: string | null,
  ): string | undefined | Frame => {
    let v = value;
    if ((typeof v === "object" && v !== null) || typeof v === "bigint") {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") v = toJSON.call(v, key);
    }
    if (v instanceof Number) v = Number(v);
    else if (v instanceof String) v = String(v);
    else if (v instanceof Boolean) v = v.valueOf();
    switch (typeof v) {
      case "string":
        return JSON.stringify(v);
      case "number":
        if (Number.isFinite(v)) return JSON.stringify(v);
        throw configError(
          `json: unsupported value: ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"}`,
          field(stack, objectKey),
          "syntax",
        );
      case "boolean":
        return v ? "true" : "false";
      case "bigint":
        return v.toString();
      case "object":
        break;
      default:
        return undefined;
    }
    if (v === null) return "null";
    if (onPath.has(v)) {
      throw configError(
        "json: unsupported value: encountered a cycle",
        field(stack, objectKey),
        "syntax",
      );
    }
    if (stack.length >= MAX_DEPTH)
      throw configError("json: exceeded max depth", undefined, "syntax");
    onPath.add(v);
    const array = Array.isArray(v);
    const keys = array ? [] : Object.keys(v);
    return { obj: v, array, keys, parts: [], index: 0, key: objectKey };
  };

  const first = open("", input, null);
  if (typeof first !== "object") return first ?? "null";
  stack.push(first);
  for (;;) {
    const top = stack[stack.length - 1]!;
    const length = top.array ? (top.obj as unknown[]).length : top.keys.length;
    if (top.index >= length) {
      stack.pop();
      onPath.delete(top.obj);
      const text = top.array ? `[${top.parts.join(",")}]` : `{${top.parts.join(",")}}`;
      const parent = stack[stack.length - 1];
      if (parent === undefined) return text;
      parent.parts.push(
        parent.array ? text : `${JSON.stringify(parent.keys[parent.index - 1])}:${text}`,
      );
      continue;
    }
    const i = top.index++;
    const key = top.array ? String(i) : top.keys[i]!;
    const value = (top.obj as Record<string, unknown>)[key];
    const item = open(key, value, top.array ? null : key);
    if (typeof item === "object") {
      stack.push(item);
    } else if (top.array) {
      top.parts.push(item ?? "null");
    } else if (item !== undefined) {
      top.parts.push(`${JSON.stringify(key)}:${item}`);
    }
  }
}

/** The top-level key under which the offending value sits, for `FlannelError.field`. */
function field(stack: readonly Frame[], objectKey: string | null): string | undefined {
  const key = stack.length > 1 ? stack[1]!.key : objectKey;
  return key ?? undefined;
}

function describe(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : String(e);
  } catch {
    return "unknown error";
  }
}
