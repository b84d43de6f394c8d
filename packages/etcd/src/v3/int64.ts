/**
 * etcd's 64-bit fields (lease IDs, revisions) reach us through protobufjs, which turns them into
 * decimal strings only when it has the `long` library. It finds `long` with a bare `require`,
 * and some loaders (vitest with an `import` resolve condition, some bundlers) hand it the ESM
 * namespace instead: protobufjs then silently decodes int64 as JS numbers and every lease ID
 * loses its low bits. Installing `long` explicitly, once, before the first RPC, prevents that.
 */
import Long from "long";
import protobuf from "protobufjs/minimal.js";

/** Makes sure protobufjs decodes int64 losslessly. Idempotent. */
export function ensureInt64Precision(): void {
  const util = protobuf.util as { Long?: unknown };
  if (typeof (util.Long as { isLong?: unknown } | undefined)?.isLong === "function") return;
  util.Long = Long;
  protobuf.configure();
}
