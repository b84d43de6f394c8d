import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/cli.ts"],
  format: ["esm", "cjs"],
  dts: true,
  clean: true,
  target: "node20",
  platform: "node",
  // Declarations: see scripts/finish-dts.mjs (tsup's d.ts worker ignores outExtension).
  outExtension: ({ format }) => ({ js: format === "cjs" ? ".cjs" : ".mjs" }),
});
