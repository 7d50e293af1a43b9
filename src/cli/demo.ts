// `vmalab demo`: the range map on a synthetic address space.

import { performance } from "node:perf_hooks";
import { RangeMap } from "../rangemap.js";
import { Random } from "../random.js";
import { layoutQueries, rangeLayout } from "../workload/layout.js";

export interface DemoOptions {
  ranges: number;
  queries: number;
  seed: number;
  json: boolean;
}

function timed(run: () => void): number {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
}

export function runDemo(opts: DemoOptions): void {
  const layout = rangeLayout(opts.ranges, opts.seed);
  const queries = layoutQueries(layout, opts.queries, opts.seed + 1);
  const map = RangeMap.createSync();
  const { starts, ends } = layout;
  const n = starts.length;
  const buildMs = timed(() => {
    for (let i = 0; i < n; i++) map.insert(starts[i], ends[i], i);
  });
  map.validate();

  let hits = 0;
  const findNextMs = timed(() => {
    for (let k = 0; k < queries.length; k++) if (map.findNext(queries[k]) >= 0) hits++;
  });
  let found = 0;
  const findManyMs = timed(() => {
    for (const v of map.findMany(queries)) if (v >= 0) found++;
  });

  const rnd = new Random(opts.seed + 2);
  const gapRounds = Math.min(opts.queries, 100_000);
  let gapsFound = 0;
  const gapMs = timed(() => {
    for (let k = 0; k < gapRounds; k++) {
      const lo = starts[rnd.int(n)];
      if (map.gap(rnd.range(1, 64), { lo }) >= 0) gapsFound++;
    }
  });

  // Churn: unmap a random range, map one of the same length at the lowest fitting gap.
  const churnRounds = Math.min(opts.queries, 100_000);
  const churnMs = timed(() => {
    for (let k = 0; k < churnRounds; k++) {
      const e = map.nextFrom(rnd.int(ends[n - 1]));
      if (!e) continue;
      map.erase(e.start, e.end);
      const at = map.gap(e.end - e.start, { lo: rnd.int(ends[n - 1]) });
      if (at >= 0) map.insert(at, at + e.end - e.start, e.value);
      else map.insert(e.start, e.end, e.value);
    }
  });
  map.validate();

  const result = {
    ranges: n,
    queries: queries.length,
    findNextHits: hits,
    findManyHits: found,
    buildNsPerInsert: (buildMs * 1e6) / n,
    findNextNsPerQuery: (findNextMs * 1e6) / queries.length,
    findManyNsPerQuery: (findManyMs * 1e6) / queries.length,
    gapNsPerSearch: (gapMs * 1e6) / gapRounds,
    gapsFound,
    churnNsPerOp: (churnMs * 1e6) / churnRounds,
  };
  if (opts.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (x: number) => x.toFixed(0).padStart(8);
  console.log(`vmalab demo: a maple-style range map of ${n} ranges (seed ${opts.seed})`);
  console.log(`  build (insert, ascending)       ${f(result.buildNsPerInsert)} ns/insert`);
  console.log(`  find_vma from JS                ${f(result.findNextNsPerQuery)} ns/query  (${hits} of ${queries.length} found a range)`);
  console.log(`  vma_lookup batch (findMany)     ${f(result.findManyNsPerQuery)} ns/query  (${found} inside a range)`);
  console.log(`  unmapped_area (lowest fit)      ${f(result.gapNsPerSearch)} ns/search (${gapsFound} of ${gapRounds} found)`);
  console.log(`  churn (munmap + mmap at a gap)  ${f(result.churnNsPerOp)} ns/op`);
  map.free();
}
