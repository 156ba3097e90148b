import { defineConfig } from "vitest/config"

// One configuration for every package: each package's vitest.config.ts extends it.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Server-backed suites share one database each; running files in parallel
    // would have them clear each other's tables.
    fileParallelism: false,
    sequence: { concurrent: false }
  }
})
