import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/cli.ts"],
  format: ["esm"],
  clean: true,
  target: "node20",
  platform: "node",
  outExtension: () => ({ js: ".mjs" }),
});
