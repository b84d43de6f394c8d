import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { conditions: ["source", "import", "default"] },
  ssr: { resolve: { conditions: ["source", "import", "default"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    passWithNoTests: true,
  },
});
