// Range-map benchmark: vmalab's wasm range map against peers over the same
// data, in one run. Every task processes a batch of BATCH operations per
// iteration; per-op figures are the median batch time / BATCH.

import IntervalTree from "@flatten-js/interval-tree";
import NodeIntervalTree from "node-interval-tree";
import { Bench } from "tinybench";
import { Core, RangeMap } from "../dist/index.js";
import { Random } from "../dist/random.js";
import { layoutQueries, rangeLayout } from "../dist/workload/layout.js";
import { median } from "./stats.mjs";

const BATCH = 10_000;
const NIT_MAX = 100_000;
const QUERIES = 1_000_000;

/** find_vma over sorted arrays: the first range whose end > addr (the baseline). */
function sortedFindNext(ends, addr) {
  let lo = 0;
  let hi = ends.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid] <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo < ends.length ? lo : -1;
}

function heapUsed() {
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
}

/**
 * Rows of {n, task, nsPerOp, rounds, samples}: nsPerOp is the median over the
 * rounds (ROUNDS at the largest N, one below), `rounds` each round's figure.
 */
export async function benchRangeMap({ sizes, time, rounds = 3 }) {
  const rows = [];
  const memory = [];
  for (const n of sizes) {
    const layout = rangeLayout(n, 42);
    const { starts, ends } = layout;
    const queries = layoutQueries(layout, QUERIES, 43);
    const core = Core.create();
    const before = core.memoryStats();
    const map = RangeMap.createSync(core);
    for (let i = 0; i < n; i++) map.insert(starts[i], ends[i], i);
    const after = core.memoryStats();
    memory.push({
      n,
      nodeBytesPerRange: after.nodeBytes / n,
      poolBytesPerRange: (after.poolBytes - before.poolBytes) / n,
      wasmMemoryBytesPerRange: (after.memoryBytes - before.memoryBytes) / n,
    });

    let q = 0;
    const nextBatch = () => {
      const at = q;
      q = (q + BATCH) % QUERIES;
      return at;
    };
    // Each batch sums its results in a local (a register in optimised code)
    // and adds that to `sink` once: a sum kept in `sink` itself leaves the
    // small-integer range and boxes a new heap number per query, and the
    // collector's work would then be timed with the lookups (30-80 ns per
    // query at 10^6, depending on what else the heap holds).
    let sink = 0;
    const baseline = () => {
      const at = nextBatch();
      let sum = 0;
      for (let k = at; k < at + BATCH; k++) sum += sortedFindNext(ends, queries[k]);
      sink += sum;
    };
    const collect = async (bench) => {
      bench.addEventListener("cycle", (e) => process.stderr.write(`  ${bench.name}: ${e.task.name}\n`));
      await bench.run();
      for (const task of bench.tasks) {
        const r = task.result;
        if (r.state !== "completed") throw new Error(`${task.name}: ${r.state} ${r.error ?? ""}`);
        const perBatch = task.name.startsWith("iterate") ? BATCH / 100 : BATCH;
        let row = rows.find((x) => x.n === n && x.task === task.name);
        if (!row) rows.push((row = { n, task: task.name, rounds: [], samples: 0 }));
        row.rounds.push((r.latency.p50 * 1e6) / perBatch);
        row.samples += r.latency.samplesCount;
      }
    };

    // Peers over the same ranges (closed intervals [start, end - 1]), measured
    // first and then dropped, so that their heaps do not crowd the caches while
    // vmalab is measured (nor vmalab's theirs).
    const measurePeers = async (recordMemory) => {
      let h0 = heapUsed();
      let flatten = new IntervalTree();
      for (let i = 0; i < n; i++) flatten.insert([starts[i], ends[i] - 1], i);
      const flattenBytes = (heapUsed() - h0) / n;
      // node-interval-tree's insertion slows down quadratically on this layout
      // (about 110 s for 4 x 10^5 ranges here): it is measured up to 10^5 only.
      h0 = heapUsed();
      let nit = n <= NIT_MAX ? new NodeIntervalTree.IntervalTree() : null;
      for (let i = 0; nit && i < n; i++) nit.insert(starts[i], ends[i] - 1, i);
      const nitBytes = nit ? (heapUsed() - h0) / n : NaN;
      if (recordMemory) memory[memory.length - 1].peers = { "@flatten-js/interval-tree": flattenBytes, "node-interval-tree": nitBytes };
      const peers = new Bench({ name: `peers, N = ${n}`, time, warmupTime: Math.min(time, 200) });
      peers.add("findNext: sorted Float64Array binary search (baseline, peers resident)", baseline);
      peers.add("stab: @flatten-js/interval-tree", () => {
        const at = nextBatch();
        let sum = 0;
        for (let k = at; k < at + BATCH; k++) sum += flatten.search([queries[k], queries[k]]).length;
        sink += sum;
      });
      if (nit) {
        peers.add("stab: node-interval-tree", () => {
          const at = nextBatch();
          let sum = 0;
          for (let k = at; k < at + BATCH; k++) sum += nit.search(queries[k], queries[k]).length;
          sink += sum;
        });
      }
      await collect(peers);
      flatten = null;
      nit = null;
      heapUsed();
    };

    const tasks = [];
    const task = (name, fn, opts) => tasks.push([name, fn, opts]);
    task("findNext: sorted Float64Array binary search (baseline)", baseline);
    task("findNext: vmalab, one call per query", () => {
      const at = nextBatch();
      let sum = 0;
      for (let k = at; k < at + BATCH; k++) sum += map.findNext(queries[k]);
      sink += sum;
    });
    task("find: vmalab, one call per query", () => {
      const at = nextBatch();
      let sum = 0;
      for (let k = at; k < at + BATCH; k++) sum += map.find(queries[k]);
      sink += sum;
    });
    task("findMany: vmalab batch", () => {
      const at = nextBatch();
      sink += map.findMany(queries.subarray(at, at + BATCH))[0];
    });
    const rnd = new Random(44);
    const top = ends[n - 1];
    // Churn: each op erases a random live range and inserts one of 1..512
    // pages at a random place in a random free spot. The bookkeeping (the
    // live ranges and the known free spots, in typed arrays of 40 MB) plans
    // the ops outside the timing (tinybench's beforeEach), PLANNED batches at
    // a time, so the timed loop makes only the two map calls per op and the
    // planning's cache traffic lands on one sample in PLANNED.
    // Churn and the mmap cycle run on maps of their own: tinybench warms
    // every task up before measuring any, so tasks that change a shared map
    // would see each other (and the lookups would be measured on a map the
    // warm-ups had churned, not on the map as built).
    const ownMap = () => {
      const core = Core.create();
      const m = RangeMap.createSync(core);
      for (let i = 0; i < n; i++) m.insert(starts[i], ends[i], i);
      return { core, m };
    };
    const { core: churnCore, m: churnMap } = ownMap();
    const { m: cycleMap } = ownMap();
    const liveS = Float64Array.from(starts);
    const liveE = Float64Array.from(ends);
    const cap = n + 4 * 1024 * 1024;
    const holeS = new Float64Array(cap);
    const holeE = new Float64Array(cap);
    let holes = 0;
    for (let i = 1; i < n; i++) {
      if (starts[i] > ends[i - 1]) {
        holeS[holes] = ends[i - 1];
        holeE[holes++] = starts[i];
      }
    }
    // Per op: erase [plan[5k], plan[5k + 1]), insert [plan[5k + 2], plan[5k + 3]) -> plan[5k + 4].
    const PLANNED = 16;
    const plan = new Float64Array(5 * BATCH * PLANNED);
    let batch = PLANNED;
    const planChurn = () => {
      if (batch < PLANNED) return;
      batch = 0;
      for (let k = 0; k < BATCH * PLANNED; k++) {
        const i = rnd.int(n);
        plan[5 * k] = liveS[i];
        plan[5 * k + 1] = liveE[i];
        // The free-spot list is bounded (each op may add two): once full,
        // erased ranges are no longer offered as spots.
        if (holes < cap) {
          holeS[holes] = liveS[i];
          holeE[holes++] = liveE[i];
        }
        const j = rnd.int(holes);
        const hs = holeS[j];
        const he = holeE[j];
        holes--;
        holeS[j] = holeS[holes];
        holeE[j] = holeE[holes];
        const size = he - hs;
        const len = 1 + rnd.int(Math.min(512, size));
        const at = hs + rnd.int(size - len + 1);
        plan[5 * k + 2] = at;
        plan[5 * k + 3] = at + len;
        plan[5 * k + 4] = i;
        liveS[i] = at;
        liveE[i] = at + len;
        if (at > hs && holes < cap) {
          holeS[holes] = hs;
          holeE[holes++] = at;
        }
        if (at + len < he && holes < cap) {
          holeS[holes] = at + len;
          holeE[holes++] = he;
        }
      }
    };
    task(
      "churn: vmalab erase a range + insert at a free spot",
      () => {
        const at = BATCH * batch++;
        for (let k = at; k < at + BATCH; k++) {
          churnMap.erase(plan[5 * k], plan[5 * k + 1]);
          churnMap.insert(plan[5 * k + 2], plan[5 * k + 3], plan[5 * k + 4]);
        }
      },
      { beforeEach: planChurn },
    );
    task("mmap cycle: vmalab find_vma + erase + gap search + insert", () => {
      for (let k = 0; k < BATCH; k++) {
        const e = cycleMap.nextFrom(rnd.int(top));
        if (!e) continue;
        cycleMap.erase(e.start, e.end);
        const len = rnd.range(1, 512);
        const at = cycleMap.gap(len, { lo: rnd.int(top) });
        cycleMap.insert(at, at + len, e.value);
      }
    });
    task("iterate: vmalab 100-range windows", () => {
      let sum = 0;
      for (let k = 0; k < BATCH / 100; k++) {
        const i = rnd.int(Math.max(1, n - 100));
        sum += map.entries(starts[i], ends[Math.min(i + 99, n - 1)]).length;
      }
      sink += sum;
    });
    // Gap searches of 1..64 pages from random pages, drawn once like the
    // lookups' queries: the generator is not what is measured.
    const gapSize = new Float64Array(QUERIES);
    const gapAt = new Float64Array(QUERIES);
    for (let k = 0; k < QUERIES; k++) {
      gapSize[k] = rnd.range(1, 64);
      gapAt[k] = rnd.int(top);
    }
    task("gap: vmalab lowest fit from a random page", () => {
      const at = nextBatch();
      let sum = 0;
      for (let k = at; k < at + BATCH; k++) sum += map.gap(gapSize[k], { lo: gapAt[k] });
      sink += sum;
    });
    task("gap: vmalab highest fit below a random page", () => {
      const at = nextBatch();
      let sum = 0;
      for (let k = at; k < at + BATCH; k++) sum += map.gap(gapSize[k], { hi: gapAt[k] + 64, topdown: true });
      sink += sum;
    });
    // Rounds at the largest N (the targets' size): the peers, then the range
    // map, each round. The shared machine's speed drifts over seconds, and a
    // ratio from two tasks of one round compares nearly the same machine.
    const roundsHere = n === Math.max(...sizes) ? rounds : 1;
    for (let round = 0; round < roundsHere; round++) {
      await measurePeers(round === 0);
      const bench = new Bench({ name: `range map, N = ${n}, round ${round + 1}`, time, warmupTime: Math.min(time, 200) });
      for (const [name, fn, opts] of tasks) bench.add(name, fn, opts);
      await collect(bench);
    }
    for (const m of [map, churnMap, cycleMap]) m.validate();
    memory[memory.length - 1].nodeBytesPerRangeAfterChurn = churnCore.memoryStats().nodeBytes / churnMap.size;
    if (sink === 0.5) console.log(sink);
    for (const m of [map, churnMap, cycleMap]) m.free();
  }
  for (const row of rows) row.nsPerOp = median(row.rounds);
  return { rows, memory };
}
