// Trace ingestion on the corpus: MB of trace text per second, end to end
// (read, gunzip, parse, replay under linux-6.18 with the fidelity check), and
// the peak RSS of a process that does only that, one recording at a time.

import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { readFileSync } from "node:fs";
import { median } from "./stats.mjs";

const CORPUS = new URL("../corpus/", import.meta.url).pathname;
const CHILD = `
import { readTraceFile } from "${new URL("../dist/trace/file.js", import.meta.url).pathname}";
import { traceToScenario } from "${new URL("../dist/trace/replay.js", import.meta.url).pathname}";
const t0 = performance.now();
traceToScenario(readTraceFile(process.argv[1]));
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
`;

/** Each corpus recording, `rounds` times in a fresh process: MB/s of its uncompressed text and peak RSS. */
export function benchTraces({ rounds }) {
  const rows = [];
  for (const f of readdirSync(CORPUS).filter((x) => x.endsWith(".trace.gz")).sort()) {
    const path = `${CORPUS}${f}`;
    const bytes = gunzipSync(readFileSync(path)).length;
    const runs = [];
    for (let i = 0; i < rounds; i++) {
      const r = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD, path], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`trace bench on ${f}: ${r.stderr}`);
      runs.push(JSON.parse(r.stdout));
      process.stderr.write(`  trace ${f}: round ${i + 1}\n`);
    }
    const seconds = median(runs.map((r) => r.seconds));
    rows.push({ trace: f, mb: bytes / 1e6, seconds, mbPerSecond: bytes / 1e6 / seconds, maxRssMb: Math.max(...runs.map((r) => r.maxRssBytes)) / 1e6 });
  }
  return rows;
}
