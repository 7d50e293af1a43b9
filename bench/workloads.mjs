// Whole-workload replay per policy, and the scaling of the address-space ops
// with the number of VMAs (ops/s and bytes per VMA from 10^3 up).

import { Bench } from "tinybench";
import { OpStream, POLICIES, System, workloadBatches } from "../dist/index.js";

/** The batches of a workload, built once (against a throwaway System for the file ids). */
function streams(name, opts) {
  const sys = System.createSync({ maxMapCount: 1 << 30 });
  // The generator reuses one stream between batches: keep copies.
  const out = [];
  for (const b of workloadBatches(name, sys, opts)) out.push(b.clone());
  return out;
}

/** ops/s of each policy replaying the same workload (set-up included), median of runs. */
async function perPolicy({ name, opts, time }) {
  const batches = streams(name, opts);
  const ops = batches.reduce((n, b) => n + b.length, 0);
  const bench = new Bench({ name: `workload ${name}`, time, warmupIterations: 1, iterations: 5 });
  for (const policy of POLICIES) {
    bench.add(policy, () => {
      const sys = System.createSync({ policy, maxMapCount: 1 << 30 });
      for (const b of batches) sys.runStream(b);
    });
  }
  bench.addEventListener("cycle", (e) => process.stderr.write(`  ${bench.name}: ${e.task.name}\n`));
  await bench.run();
  return bench.tasks.map((t) => ({ workload: name, policy: t.name, ops, opsPerSecond: ops / (t.result.latency.p50 / 1000) }));
}

/**
 * For N VMAs in one process (alternating rw and r, so none merge): mprotect
 * split+merge cycles through op batches, and the wasm memory per VMA.
 */
async function scaling({ sizes, time }) {
  const rows = [];
  for (const n of sizes) {
    const sys = System.createSync({ maxMapCount: 1 << 30 });
    const base = sys.core.buffer.byteLength;
    const setup = new OpStream();
    for (let i = 0; i < n; i++) setup.mmapAnon(0, 0x10000 + i * 4, 4, i % 2 ? "r" : "rw");
    sys.runStream(setup);
    const bytesPerVma = (sys.core.buffer.byteLength - base) / n;
    const cycle = new OpStream();
    for (let k = 0; k < 10_000; k++) {
      const s = 0x10000 + 8 * ((k * 7919) % (n >> 1));
      cycle.mprotect(0, s + 1, 2, "r");
      cycle.mprotect(0, s + 1, 2, "rw");
    }
    const bench = new Bench({ name: `scaling ${n}`, time, warmupTime: Math.min(time, 200) });
    bench.add("mprotect split+merge", () => sys.runStream(cycle));
    await bench.run();
    if (sys.process(0).mapCount !== n) throw new Error(`the cycle should leave ${n} VMAs`);
    rows.push({ vmas: n, opsPerSecond: cycle.length / (bench.tasks[0].result.latency.p50 / 1000), bytesPerVma });
    process.stderr.write(`  scaling: ${n} VMAs\n`);
  }
  return rows;
}

export async function benchWorkloads({ quick, time }) {
  // zygote recycles children by forking whole address spaces: a smaller one keeps its run short.
  const mixed = quick ? { processes: 4, vmas: 4000, ops: 20_000 } : { processes: 16, vmas: 50_000, ops: 200_000 };
  const zygote = quick ? { processes: 4, vmas: 2000, ops: 10_000 } : { processes: 16, vmas: 8000, ops: 40_000 };
  const policies = [...(await perPolicy({ name: "mixed", opts: mixed, time })), ...(await perPolicy({ name: "zygote", opts: zygote, time }))];
  const scale = await scaling({ sizes: quick ? [1_000, 10_000, 100_000] : [1_000, 10_000, 100_000, 1_000_000], time });
  return { policies, scaling: scale };
}
