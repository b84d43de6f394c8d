import { createRequire } from "node:module";
import fc from "fast-check";
import Long from "long";
import protobuf from "protobufjs";
import { describe, expect, it } from "vitest";
import { decodeRangeResponse } from "../src/v3/range-decoder.js";

const require = createRequire(import.meta.url);
protobuf.util.Long = Long;
protobuf.configure();
const root = protobuf.loadSync(require.resolve("etcd3/proto/rpc.proto"));
const RangeResponse = root.lookupType("etcdserverpb.RangeResponse");

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const kv = fc.record({
  key: fc.string(),
  value: fc.uint8Array({ maxLength: 64 }),
  lease: int64,
  mod: fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }),
  create: fc.bigInt({ min: 0n, max: 2n ** 40n }),
  version: fc.bigInt({ min: 0n, max: 2n ** 20n }),
});

describe("decodeRangeResponse (etcd RangeResponse wire bytes)", () => {
  it("reads what protobufjs writes with etcd's own .proto", () => {
    fc.assert(
      fc.property(
        fc.array(kv, { maxLength: 20 }),
        int64,
        fc.boolean(),
        fc.bigInt({ min: 0n, max: 2n ** 40n }),
        (kvs, revision, more, count) => {
          const bytes = Buffer.from(
            RangeResponse.encode(
              RangeResponse.fromObject({
                header: {
                  clusterId: "123",
                  memberId: "456",
                  revision: revision.toString(),
                  raftTerm: "7",
                },
                kvs: kvs.map((k) => ({
                  key: Buffer.from(k.key),
                  value: Buffer.from(k.value),
                  lease: k.lease.toString(),
                  modRevision: k.mod.toString(),
                  createRevision: k.create.toString(),
                  version: k.version.toString(),
                })),
                more,
                count: count.toString(),
              }),
            ).finish(),
          );
          const got = decodeRangeResponse(bytes);
          expect(got.revision).toBe(revision);
          expect(got.more).toBe(more);
          expect(got.kvs.map((k) => [k.key, [...k.value], k.lease, k.modRevision])).toEqual(
            kvs.map((k) => [Buffer.from(k.key).toString(), [...k.value], k.lease, k.mod]),
          );
        },
      ),
    );
  });

  it("refuses truncated input instead of reading past the end", () => {
    const bytes = Buffer.from(
      RangeResponse.encode(
        RangeResponse.fromObject({
          kvs: [{ key: Buffer.from("/a"), value: Buffer.from("v"), lease: "5" }],
        }),
      ).finish(),
    );
    expect(() => decodeRangeResponse(bytes.subarray(0, bytes.length - 2))).toThrow(RangeError);
  });
});
