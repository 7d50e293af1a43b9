// Address-space benchmark: op streams over 10^4 existing VMAs, by op kind, in
// the simulator (one API call per op, and op batches run inside the core) and
// in the real kernel (bench/kernel-ops.c, compiled here), same streams, same run.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { Bench } from "tinybench";
import { OpStream, System } from "../dist/index.js";
import { Random } from "../dist/random.js";
import { median } from "./stats.mjs";

const PER = 4; // pages per VMA; VMAs alternate rw and r so none merge at rest
const PROT = { r: 1, rw: 3 };

/**
 * Cyclic op streams (each leaves the layout as it found it), on random rw VMAs:
 * - split/merge: mprotect the middle to r (split in three) and back (merge to one);
 * - mmap/munmap: unmap the VMA and map it again;
 * - replace: mmap MAP_FIXED over all of it (neighbours differ, so no merge);
 * - mixed: split/merge or replace, half and half (the earlier single figure).
 */
function opStream(kind, n, count, seed) {
  const rnd = new Random(seed);
  const ops = [];
  while (ops.length < count) {
    const s = 2 * rnd.int(n / 2) * PER;
    const k = kind === "mixed" ? (rnd.chance(0.5) ? "split/merge" : "replace") : kind;
    if (k === "split/merge") ops.push(["p", s + 1, 2, "r"], ["p", s + 1, 2, "rw"]);
    else if (k === "mmap/munmap") ops.push(["u", s, PER, "rw"], ["m", s, PER, "rw"]);
    else ops.push(["m", s, PER, "rw"]);
  }
  return ops;
}

function setUp(n) {
  const p = System.createSync({ maxMapCount: 1 << 30 }).process(0);
  for (let i = 0; i < n; i++) p.mmap(i * PER, PER, i % 2 ? "r" : "rw", { kind: "anon" }, { noreserve: true });
  return p;
}

function runCalls(p, ops) {
  for (const [k, s, n, prot] of ops) {
    if (k === "p") p.mprotect(s, n, prot);
    else if (k === "u") p.munmap(s, n);
    else p.mmap(s, n, prot, { kind: "anon" }, { noreserve: true });
  }
}

function toStream(ops) {
  const s = new OpStream();
  for (const [k, start, n, prot] of ops) {
    if (k === "p") s.mprotect(0, start, n, prot);
    else if (k === "u") s.munmap(0, start, n);
    else s.mmapAnon(0, start, n, prot, 0x4000);
  }
  return s;
}

function kernelOpsPerSecond(n, ops, reps) {
  const dir = new URL("./results/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const bin = `${dir}kernel-ops`;
  const cc = spawnSync(process.env.CC ?? "cc", ["-O2", "-o", bin, new URL("./kernel-ops.c", import.meta.url).pathname], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`compiling bench/kernel-ops.c failed: ${cc.stderr ?? cc.error}`);
  const input = [`${n} ${PER} ${reps}`, ...ops.map(([k, s, len, prot]) => `${k} ${s} ${len} ${PROT[prot]}`)].join("\n");
  const r = spawnSync(bin, [], { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`kernel-ops failed (exit ${r.status})`);
  const { seconds } = JSON.parse(r.stdout);
  return ops.length / median(seconds);
}

/**
 * Each kind is measured in ROUNDS rounds, the simulator and then the kernel
 * in each, and the ratio is the median of the rounds' ratios: the shared
 * machine's speed drifts over seconds, and the two sides of one round see
 * nearly the same machine.
 */
const ROUNDS = 3;

export async function benchAddressSpace({ time, vmas = 10_000, opsPerRun = 20_000 }) {
  const rows = [];
  for (const kind of ["mixed", "split/merge", "mmap/munmap", "replace"]) {
    const ops = opStream(kind, vmas, opsPerRun, 7);
    const stream = toStream(ops);
    const p = setUp(vmas);
    const rounds = [];
    for (let round = 0; round < ROUNDS; round++) {
      const bench = new Bench({ name: `address space, ${vmas} VMAs, ${kind}, round ${round + 1}`, time, warmupTime: Math.min(time, 200) });
      bench.add("calls", () => runCalls(p, ops));
      bench.add("batches", () => p.system.runStream(stream));
      bench.addEventListener("cycle", (e) => process.stderr.write(`  ${bench.name}: ${e.task.name}\n`));
      await bench.run();
      if (p.mapCount !== vmas) throw new Error(`the ${kind} stream should leave ${vmas} VMAs, found ${p.mapCount}`);
      const [calls, batches] = bench.tasks.map((t) => ops.length / (t.result.latency.p50 / 1000));
      const kernel = kernelOpsPerSecond(vmas, ops, 15);
      rounds.push({ calls, batches, kernel, ratio: batches / kernel });
    }
    rows.push({
      kind,
      ops: ops.length,
      rounds: ROUNDS,
      callsOpsPerSecond: median(rounds.map((r) => r.calls)),
      batchOpsPerSecond: median(rounds.map((r) => r.batches)),
      kernelOpsPerSecond: median(rounds.map((r) => r.kernel)),
      ratio: median(rounds.map((r) => r.ratio)),
      ratios: rounds.map((r) => r.ratio),
    });
  }
  const mixed = rows[0];
  return {
    vmas,
    ops: mixed.ops,
    simulatorOpsPerSecond: mixed.callsOpsPerSecond,
    kernelOpsPerSecond: mixed.kernelOpsPerSecond,
    ratio: mixed.callsOpsPerSecond / mixed.kernelOpsPerSecond,
    byKind: rows,
  };
}
