import { createRequire } from "node:module";
import { FlannelError } from "@flannel-sdk/core";
import { sumMetric } from "@flannel-sdk/testkit";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { etcdReason, grpcMissing, toEtcdError } from "../src/errors.js";
import { isCidrText, subnetsOfKey } from "../src/lease-codec.js";
import { CONFLICT, LEASE_WRITE_ATTEMPTS, retryLeaseWrite } from "../src/lifecycle.js";
import { keyLayout } from "../src/prefix.js";
import { loadTlsMaterial } from "../src/tls.js";
import { prefixEnd } from "../src/v3/wire.js";

describe("key layout (Go path.Join)", () => {
  it("builds flannel's keys and normalises slashes", () => {
    expect(keyLayout()).toEqual({
      prefix: "/coreos.com/network",
      config: "/coreos.com/network/config",
      subnetsDir: "/coreos.com/network/subnets",
      subnets: "/coreos.com/network/subnets/",
    });
    expect(keyLayout("/kube-centos/network/").config).toBe("/kube-centos/network/config");
    expect(keyLayout("//a//b/").subnets).toBe("/a/b/subnets/");
    expect(keyLayout("").config).toBe("config");
  });

  it("reads lease keys under subnets/ only, not nested or beside it", () => {
    const keys = keyLayout("/p");
    expect(subnetsOfKey(keys, "/p/subnets/10.5.1.0-24&fc00::-64")).toEqual({
      subnet: "10.5.1.0/24",
      ipv6Subnet: "fc00::/64",
    });
    for (const bad of [
      "/p/subnets/x/10.5.1.0-24",
      "/p/subnets-old/10.5.1.0-24",
      "/q/subnets/10.5.1.0-24",
    ]) {
      expect(() => subnetsOfKey(keys, bad)).toThrow(FlannelError);
    }
    expect(isCidrText("10.5.1.0/24")).toBe(true);
    expect(isCidrText("fc00::/64")).toBe(true);
    expect(isCidrText("10.5.1.0-24")).toBe(false);
    expect(isCidrText("/p/subnets/10.5.1.0-24")).toBe(false);
  });
});

describe("prefixEnd (etcd's GetPrefixRangeEnd)", () => {
  it("increments the last byte below 0xff, dropping trailing 0xff", () => {
    expect(prefixEnd("/a/").toString()).toBe("/a0");
    expect(prefixEnd("/coreos.com/network/subnets/").toString()).toBe(
      "/coreos.com/network/subnets0",
    );
    expect([...prefixEnd("")]).toEqual([0]);
  });

  it("every key with the prefix sorts below the end, the prefix itself at or above it never", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.string(), (prefix, rest) => {
        const end = prefixEnd(prefix);
        const key = Buffer.from(prefix + rest);
        return Buffer.compare(key, end) < 0 && Buffer.compare(Buffer.from(prefix), end) < 0;
      }),
    );
  });
});

describe("error mapping", () => {
  it("maps etcd3 / gRPC failures to stable codes", () => {
    class GRPCUnavailableError extends Error {}
    class EtcdPermissionDeniedError extends Error {}
    class EtcdAuthenticationFailedError extends Error {}
    expect(
      toEtcdError(new GRPCUnavailableError("14 UNAVAILABLE: read ECONNRESET"), "range"),
    ).toMatchObject({
      code: "ETCD_UNAVAILABLE",
      retryable: true,
    });
    expect(
      toEtcdError(new EtcdPermissionDeniedError("etcdserver: permission denied"), "range").code,
    ).toBe("ETCD_PERMISSION_DENIED");
    expect(toEtcdError(new EtcdAuthenticationFailedError("x"), "auth").code).toBe(
      "ETCD_AUTH_FAILED",
    );
    expect(
      toEtcdError(
        new Error(
          "14 UNAVAILABLE: No connection established. Last error: self signed certificate in certificate chain",
        ),
        "range",
      ).code,
    ).toBe("ETCD_TLS");
    const tooMany = toEtcdError(new Error("etcdserver: too many operations in txn request"), "txn");
    expect([tooMany.code, etcdReason(tooMany)]).toEqual(["ETCD_ERROR", "too-many-ops"]);
    const noLease = toEtcdError(new Error("etcdserver: requested lease not found"), "revoke");
    expect(etcdReason(noLease)).toBe("lease-not-found");
    expect(etcdReason(toEtcdError(new Error("boom"), "x"))).toBeUndefined();
    const already = new FlannelError("ABORTED", "x");
    expect(toEtcdError(already, "x")).toBe(already);
  });

  it('names the package to add when transport "grpc" finds etcd3 missing', async () => {
    // the errors Node raises for a package that is not installed, ESM and CommonJS
    const esm = await import("etcd3-not-installed" as string).catch((e: unknown) => e);
    const cjs = (() => {
      try {
        return createRequire(import.meta.url)("cockatiel-not-installed");
      } catch (e) {
        return e;
      }
    })();
    for (const [e, missing] of [
      [esm, "etcd3"],
      [cjs, "etcd3"],
    ] as const) {
      expect(grpcMissing(e)).toMatchObject({
        code: "ETCD_GRPC_NOT_INSTALLED",
        message: expect.stringContaining("npm install etcd3"),
        details: { missing },
      });
    }
    const real = new Error("cannot find module 'cockatiel'");
    Object.assign(real, { code: "MODULE_NOT_FOUND" });
    expect(grpcMissing(real)).toMatchObject({ details: { missing: "cockatiel" } });
    const other = new Error("boom");
    expect(grpcMissing(other)).toBe(other);
  });

  it("refuses half a client certificate and unreadable files with ETCD_TLS", () => {
    expect(() => loadTlsMaterial({ cert: "-----BEGIN CERTIFICATE-----\n" })).toThrow(
      expect.objectContaining({ code: "ETCD_TLS", field: "key" }),
    );
    expect(() => loadTlsMaterial({ ca: "/nonexistent/ca.pem" })).toThrow(
      expect.objectContaining({ code: "ETCD_TLS" }),
    );
    expect(loadTlsMaterial({ ca: "-----BEGIN CERTIFICATE-----\nx" }).ca?.toString()).toContain(
      "BEGIN",
    );
  });
});

describe("sumMetric (Prometheus text)", () => {
  it("sums the samples whose labels match", () => {
    const text = [
      "# HELP grpc_server_handled_total x",
      'grpc_server_handled_total{grpc_code="OK",grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 7',
      'grpc_server_handled_total{grpc_code="OK",grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"} 3',
      "grpc_server_handled_total_other 100",
      "etcd_server_is_leader 1",
    ].join("\n");
    expect(sumMetric(text, "grpc_server_handled_total")).toBe(10);
    expect(sumMetric(text, "grpc_server_handled_total", { grpc_method: "Txn" })).toBe(3);
    expect(sumMetric(text, "etcd_server_is_leader")).toBe(1);
  });
});

describe("retryLeaseWrite (renewLease and releaseLease's one retry policy)", () => {
  it("retries a lost condition at once, up to LEASE_WRITE_ATTEMPTS, then MAX_RETRIES", async () => {
    let calls = 0;
    const twice = await retryLeaseWrite("renewing", "k", async () =>
      ++calls < 3 ? CONFLICT : "written",
    );
    expect([twice, calls]).toEqual(["written", 3]);
    calls = 0;
    const err = await retryLeaseWrite("releasing", "/p/subnets/10.5.1.0-24", async () => {
      calls++;
      return CONFLICT;
    }).catch((e) => e);
    expect(calls).toBe(LEASE_WRITE_ATTEMPTS);
    expect(err).toMatchObject({
      code: "MAX_RETRIES",
      retryable: true,
      message: "lease /p/subnets/10.5.1.0-24 kept changing while releasing it",
    });
  });

  it("throws any other error at once (the keeper retries after retryInterval, as flanneld)", async () => {
    let calls = 0;
    const down = new FlannelError("ETCD_UNAVAILABLE", "no leader", { retryable: true });
    await expect(
      retryLeaseWrite("renewing", "k", async () => {
        calls++;
        throw down;
      }),
    ).rejects.toBe(down);
    expect(calls).toBe(1);
  });
});
