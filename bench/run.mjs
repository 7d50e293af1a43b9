// npm run bench: runs the benchmarks, prints tables, checks the targets and
// writes everything to bench/results/bench.json.
//   node --expose-gc bench/run.mjs [--quick]

import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { benchRangeMap } from "./rangemap.mjs";

const quick = process.argv.includes("--quick");
const time = quick ? 200 : 600;
const sizes = quick ? [1_000, 100_000] : [1_000, 100_000, 1_000_000];

const rangemap = await benchRangeMap({ sizes, time });

const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
// JS-heap deltas of the peers are approximate (GC timing); a non-positive one is unmeasurable.
const heap = (x) => (x > 0 ? fmt(x) : "n/a");
console.log("\nRange map (ns per operation, median of batches)");
console.table(rangemap.rows.map((r) => ({ N: r.n, task: r.task, "ns/op": fmt(r.nsPerOp), samples: r.samples })));
console.log("Memory (bytes per range)");
console.table(
  rangemap.memory.map((m) => ({
    N: m.n,
    "vmalab nodes": fmt(m.nodeBytesPerRange),
    "vmalab pools": fmt(m.poolBytesPerRange),
    "vmalab wasm memory": fmt(m.wasmMemoryBytesPerRange),
    "vmalab nodes after churn": fmt(m.nodeBytesPerRangeAfterChurn),
    "@flatten-js (JS heap)": heap(m.peers["@flatten-js/interval-tree"]),
    "node-interval-tree (JS heap)": heap(m.peers["node-interval-tree"]),
  })),
);

// Targets from the foundation issue, at the largest N, as ratios within this run.
const big = Math.max(...sizes);
const at = (prefix) => rangemap.rows.find((r) => r.n === big && r.task.startsWith(prefix)).nsPerOp;
const baseline = at("findNext: sorted");
const mem = rangemap.memory.find((m) => m.n === big);
const targets = [
  ["findNext per call <= 0.6 x sorted-array baseline", at("findNext: vmalab") / baseline, 0.6, "x"],
  ["findNext >= 20 x faster than @flatten-js", at("stab: @flatten-js") / at("findNext: vmalab"), 20, "min"],
  ["findMany <= 0.5 x baseline", at("findMany") / baseline, 0.5, "x"],
  ["churn <= 1 us per erase+insert (minus harness)", (at("churn: vmalab") - at("churn: harness")) / 1000, 1, "us"],
  ["gap search <= 0.5 us (lowest)", at("gap: vmalab lowest") / 1000, 0.5, "us"],
  ["gap search <= 0.5 us (highest)", at("gap: vmalab highest") / 1000, 0.5, "us"],
  ["<= 40 bytes of wasm memory per range", mem.wasmMemoryBytesPerRange, 40, "B"],
].map(([name, value, limit, unit]) => ({ target: `${name} (N = ${big})`, measured: `${value.toFixed(2)} ${unit}`, met: unit === "min" ? value >= limit : value <= limit }));
console.log("Targets");
console.table(targets);

mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
const out = new URL("./results/bench.json", import.meta.url);
writeFileSync(
  out,
  JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: cpus().length, quick, rangemap, targets }, null, 2),
);
console.log(`wrote ${out.pathname}`);
