import { describe, expect, it, vi } from "vitest";

// diagnose and the netlink socket replaced: what is checked is the options runDiagnose passes
const seen = vi.hoisted(() => ({ options: [] as Record<string, unknown>[] }));
vi.mock("@flannel-sdk/netlink", () => ({
  openHandle: async () => ({ [Symbol.asyncDispose]: async () => {} }),
}));
vi.mock("@flannel-sdk/diagnose", () => ({
  diagnose: async (options: Record<string, unknown>) => {
    seen.options.push(options);
    return { ok: true };
  },
  formatDiagnosis: () => "",
}));

const { runDiagnose } = await import("../src/diagnose.js");

describe("flanneld-ts diagnose passes the agent's flags to diagnose", () => {
  it("-public-ip and -public-ipv6", async () => {
    const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    try {
      const argv = ["-etcd-endpoints=http://127.0.0.1:1", "-public-ip=10.0.0.1"];
      expect(await runDiagnose([...argv, "-public-ipv6=fd99::1"], {})).toBe(0);
      expect(await runDiagnose(argv, { FLANNELD_PUBLIC_IPV6: "fd99::2" })).toBe(0);
      expect(await runDiagnose(argv, {})).toBe(0);
    } finally {
      write.mockRestore();
    }
    expect(seen.options.map((o) => [o.publicIP, o.publicIPv6])).toEqual([
      ["10.0.0.1", "fd99::1"],
      ["10.0.0.1", "fd99::2"],
      ["10.0.0.1", null],
    ]);
  });
});
