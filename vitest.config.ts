import { defineConfig } from "vitest/config";

// as-pect specs (assembly/__tests__) run under asp, not here.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    testTimeout: 120_000,
  },
});
