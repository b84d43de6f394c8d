import { defineConfig } from "tsup";

// Built only for the benchmarks (plain `node`); the tests read the sources (the `source` condition).
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  clean: true,
  target: "node20",
  platform: "node",
});
