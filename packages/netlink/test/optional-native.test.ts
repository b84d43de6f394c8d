/**
 * npm `netlink` (the native addon) is optional and loaded on first use: importing this package
 * loads no addon, and where there is no rtnetlink the calls that need a socket fail with
 * `NETLINK_UNSUPPORTED` naming the platform.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FlannelError } from "@flannel-sdk/core";
import { afterEach, describe, expect, it } from "vitest";
import { cmdLinkDel, openHandle } from "../src/index.js";

// The built package, as a consumer imports it (the test task runs after the build).
const distIndex = fileURLToPath(new URL("../dist/index.mjs", import.meta.url));
const realPlatform = Object.getOwnPropertyDescriptor(process, "platform")!;

describe("the optional native addon", () => {
  afterEach(() => {
    Object.defineProperty(process, "platform", realPlatform);
  });

  it("is not loaded by importing the package", () => {
    const loaded = execFileSync(
      process.execPath,
      [
        "--input-type=module",
        "-e",
        `import { createRequire } from "node:module";
         await import(${JSON.stringify(distIndex)});
         const cache = Object.keys(createRequire(import.meta.url).cache);
         console.log(JSON.stringify(cache.filter((k) => k.includes("/node_modules/netlink/"))));`,
      ],
      { encoding: "utf8" },
    );
    expect(JSON.parse(loaded)).toEqual([]);
  });

  for (const platform of ["darwin", "win32"]) {
    it(`throws NETLINK_UNSUPPORTED naming ${platform} where there is no rtnetlink`, async () => {
      Object.defineProperty(process, "platform", { ...realPlatform, value: platform });
      const err = await openHandle().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlannelError);
      expect((err as FlannelError).code).toBe("NETLINK_UNSUPPORTED");
      expect((err as FlannelError).message).toContain(platform);
      expect((err as FlannelError).details.platform).toBe(platform);
      const inNs = await openHandle({ netns: "blue" }).catch((e: unknown) => e);
      expect((inNs as FlannelError).code).toBe("NETLINK_UNSUPPORTED");
      // what needs no socket still works
      expect(cmdLinkDel("flannel.1")).toBe("ip link del dev flannel.1");
    });
  }
});
