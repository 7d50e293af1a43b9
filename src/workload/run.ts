// Running a generated workload on a System: batches into the core, a progress
// callback between batches, the wall time, ops/s, peak memory and metrics.

import type { Metrics } from "../metrics.js";
import type { MergePolicy } from "../policy.js";
import { type KernelLine, System } from "../system.js";
import { type WorkloadName, type WorkloadOptions, WORKLOADS, workloadBatches, workloadFiles } from "./generators.js";
import { VmalabError } from "../wasm.js";

export interface WorkloadRun {
  workload: string;
  policy: string;
  ops: number;
  failed: Record<string, number>;
  seconds: number;
  opsPerSecond: number;
  /** Linear memory at the end (it never shrinks: the peak). */
  peakMemoryBytes: number;
  /** Stopped early (progress returned true). */
  interrupted: boolean;
  /** Times the core's memory could not grow: ops failed with ENOMEM because the run does not fit. */
  outOfMemory: number;
  metrics: Metrics;
}

export interface WorkloadRunOptions extends WorkloadOptions {
  policy?: string | MergePolicy;
  forkReuse?: boolean;
  /** The shared zero page (default true; SystemOptions.zeroPage). */
  zeroPage?: boolean;
  /** The kernel line modelled (SystemOptions.kernel). */
  kernel?: KernelLine;
  /** Bytes of wasm memory the run may use (SystemOptions.memoryLimit). */
  memoryLimit?: number;
  /** Called after each batch with the ops done so far; return true to stop. */
  progress?: (done: number) => boolean | void;
  /** Writes the op stream as scenario text too (one call per batch). */
  scenarioOut?: (lines: string[]) => void;
}

export function checkWorkloadName(name: string): WorkloadName {
  if (!(WORKLOADS as readonly string[]).includes(name)) {
    throw new VmalabError("EINVAL", `unknown workload '${name}' (known: ${WORKLOADS.join(", ")})`);
  }
  return name as WorkloadName;
}

/** The most linear memory the core can have: handles are 31-bit offsets. */
const CORE_BYTES = 2 ** 31;

/**
 * The core's memory a workload's set-up needs, from the records' sizes: a
 * VMA and its share of the tree (about 81 bytes), and for each faulted one an
 * anon_vma (44), a chain link per process that shares it (56) and its folios
 * (20) and page tables; a process's mm and page-table directory (4 KiB).
 */
function workloadBytes(opts: WorkloadOptions): number {
  const processes = Math.max(1, opts.processes ?? 4);
  const vmas = Math.max(processes * 2, opts.vmas ?? 4000);
  const faulted = (vmas / 2) * (opts.faults ?? 0.25);
  return vmas * 81 + faulted * (44 + 2 * 56 + 2 * 20 + 16) + processes * 4096;
}

/**
 * Runs workload `name` from its set-up to its last op, or until progress asks
 * to stop. It yields to the event loop between batches, so signals (Ctrl-C)
 * are seen during a long run. A workload whose set-up alone cannot fit in the
 * core's memory is refused (ENOMEM) before anything is built.
 */
export async function runWorkload(name: string, opts: WorkloadRunOptions = {}): Promise<WorkloadRun> {
  const workload = checkWorkloadName(name);
  const limit = Math.min(opts.memoryLimit ?? CORE_BYTES, CORE_BYTES);
  const need = workloadBytes(opts);
  if (need > limit) {
    const gib = (x: number) => (x < 2 ** 30 ? `${(x / 2 ** 20).toFixed(1)} MiB` : `${(x / 2 ** 30).toFixed(1)} GiB`);
    throw new VmalabError(
      "ENOMEM",
      `the run does not fit: its set-up alone needs about ${gib(need)} of the simulator's memory, which holds ${gib(limit)} ` +
        "(fewer VMAs or processes fit: about 10^7 VMAs in all)",
    );
  }
  const sys = System.createSync({
    policy: opts.policy,
    forkReuse: opts.forkReuse,
    zeroPage: opts.zeroPage,
    kernel: opts.kernel,
    memoryLimit: opts.memoryLimit,
    maxMapCount: 1 << 30,
  });
  const failed: Record<string, number> = {};
  const scenarioState = { proc: 0 };
  const fileNames = workloadFiles(sys);
  let ops = 0;
  let interrupted = false;
  const t0 = performance.now();
  for (const batch of workloadBatches(workload, sys, opts)) {
    opts.scenarioOut?.(batch.toScenario((f) => fileNames.get(f) ?? `file${f}`, scenarioState));
    const r = sys.runStream(batch);
    ops += r.ops;
    for (const [k, v] of Object.entries(r.failed)) failed[k] = (failed[k] ?? 0) + v;
    await new Promise((resolve) => setImmediate(resolve));
    if (opts.progress?.(ops)) {
      interrupted = true;
      break;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    workload,
    policy: sys.policy,
    ops,
    failed,
    seconds,
    opsPerSecond: ops / seconds,
    peakMemoryBytes: sys.core.buffer.byteLength,
    interrupted,
    outOfMemory: sys.core.ex.mem_grow_failures(),
    metrics: sys.metrics(),
  };
}
