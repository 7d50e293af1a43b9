// Address-space benchmark: mprotect split+merge cycles and MAP_FIXED
// replacements over 10^4 existing VMAs, in the simulator (tinybench) and in
// the real kernel (bench/kernel-ops.c, compiled here), same op stream, same run.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { Bench } from "tinybench";
import { System } from "../dist/index.js";
import { Random } from "../dist/random.js";

const PER = 4; // pages per VMA; VMAs alternate rw and r so none merge at rest
const PROT = { r: 1, rw: 3 };

/**
 * A cyclic op stream (it leaves the layout as it found it): for a random rw
 * VMA, mprotect its middle to r (split in three) and back (merge to one); or
 * mmap MAP_FIXED over all of it (replace; neighbours differ, so no merge).
 */
function opStream(n, count, seed) {
  const rnd = new Random(seed);
  const ops = [];
  while (ops.length < count) {
    const i = 2 * rnd.int(n / 2); // an rw VMA
    const s = i * PER;
    if (rnd.chance(0.5)) {
      ops.push(["p", s + 1, 2, "r"], ["p", s + 1, 2, "rw"]);
    } else {
      ops.push(["m", s, PER, "rw"]);
    }
  }
  return ops;
}

function setUp(n) {
  const p = System.createSync({ maxMapCount: 1 << 30 }).process(0);
  for (let i = 0; i < n; i++) p.mmap(i * PER, PER, i % 2 ? "r" : "rw", { kind: "anon" }, { noreserve: true });
  return p;
}

function runSim(p, ops) {
  for (const [k, s, n, prot] of ops) {
    if (k === "p") p.mprotect(s, n, prot);
    else p.mmap(s, n, prot, { kind: "anon" }, { noreserve: true });
  }
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
  const sorted = [...seconds].sort((a, b) => a - b);
  return ops.length / sorted[sorted.length >> 1];
}

export async function benchAddressSpace({ time, vmas = 10_000, opsPerRun = 20_000 }) {
  const ops = opStream(vmas, opsPerRun, 7);
  const p = setUp(vmas);
  const bench = new Bench({ name: `address space, ${vmas} VMAs`, time, warmupTime: Math.min(time, 200) });
  bench.add("simulator: mprotect split/merge + MAP_FIXED replace", () => runSim(p, ops));
  bench.addEventListener("cycle", (e) => process.stderr.write(`  ${bench.name}: ${e.task.name}\n`));
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== "completed") throw new Error(`simulator task: ${r.state}`);
  if (p.mapCount !== vmas) throw new Error(`the op stream should leave ${vmas} VMAs, found ${p.mapCount}`);
  const sim = ops.length / (r.latency.p50 / 1000);
  const kernel = kernelOpsPerSecond(vmas, ops, 15);
  return { vmas, ops: ops.length, simulatorOpsPerSecond: sim, kernelOpsPerSecond: kernel, ratio: sim / kernel };
}
