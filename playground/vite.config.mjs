// The playground: a static page that runs the same core in the browser.
// `npm run build` puts it in dist/playground/, which `vmalab playground` serves.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here("."),
  base: "./",
  // The core is fetched and compiled by the page (src/wasm.ts's file reading is never called there).
  resolve: { alias: { "node:fs": here("./node-fs.ts") } },
  build: { outDir: here("../dist/playground"), emptyOutDir: true, target: "es2022" },
  logLevel: "warn",
});
