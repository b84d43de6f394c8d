import { isFlannelError } from "../errors.js";
import { configError } from "./errors.js";

// The same nesting limit Go's scanner applies to text input.
const MAX_DEPTH = 10_000;

/**
 * Writes a config object as JSON text the way `JSON.stringify` would (own enumerable keys in
 * order, `toJSON` honoured, `undefined` / functions / symbols dropped from objects and written
 * `null` in arrays), so that text and object input go through one reader. Where `JSON.stringify`
 * would silently write `null` (NaN, ±Infinity) or throw a `TypeError` (cycles), this throws
 * `CONFIG_INVALID` with Go's `json.Marshal` wording; a `bigint` is written as its digits.
 * @internal
 */
export function toJsonText(input: object | null): string {
  const path: object[] = [];
  const write = (key: string, value: unknown, depth: number): string | undefined => {
    let v = value;
    if ((typeof v === "object" && v !== null) || typeof v === "bigint") {
      const toJSON = (v as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") v = toJSON.call(v, key);
    }
    if (v instanceof Number) v = Number(v);
    else if (v instanceof String) v = String(v);
    else if (v instanceof Boolean) v = v.valueOf();
    else if (v instanceof BigInt) v = v.valueOf();
    switch (typeof v) {
      case "string":
        return JSON.stringify(v);
      case "number":
        if (Number.isFinite(v)) return JSON.stringify(v);
        throw configError(
          `json: unsupported value: ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"}`,
          key === "" ? undefined : key,
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
    const obj = v as object;
    if (path.includes(obj)) {
      throw configError(
        "json: unsupported value: encountered a cycle",
        key === "" ? undefined : key,
        "syntax",
      );
    }
    if (depth >= MAX_DEPTH) throw configError("json: exceeded max depth", undefined, "syntax");
    path.push(obj);
    let text: string;
    if (Array.isArray(obj)) {
      const items: string[] = [];
      for (let k = 0; k < obj.length; k++) {
        items.push(write(String(k), obj[k], depth + 1) ?? "null");
      }
      text = `[${items.join(",")}]`;
    } else {
      const members: string[] = [];
      for (const k of Object.keys(obj)) {
        const item = write(k, (obj as Record<string, unknown>)[k], depth + 1);
        if (item !== undefined) members.push(`${JSON.stringify(k)}:${item}`);
      }
      text = `{${members.join(",")}}`;
    }
    path.pop();
    return text;
  };
  try {
    return write("", input, 0) ?? "null";
  } catch (e) {
    if (isFlannelError(e)) throw e;
    // A getter, a toJSON or a Proxy of the caller's threw, or the stack ran out.
    throw configError(
      `the network config object cannot be read as JSON: ${describe(e)}`,
      undefined,
      "syntax",
      e,
    );
  }
}

function describe(e: unknown): string {
  try {
    return e instanceof Error ? String(e.message) : String(e);
  } catch {
    return "unknown error";
  }
}
