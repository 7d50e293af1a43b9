// Running a generated workload on a System: batches into the core, a progress
// callback between batches, the wall time, ops/s, peak memory and metrics.

import type { Metrics } from "../metrics.js";
import type { MergePolicy } from "../policy.js";
import { System } from "../system.js";
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

/**
 * Runs workload `name` from its set-up to its last op, or until progress asks
 * to stop. It yields to the event loop between batches, so signals (Ctrl-C)
 * are seen during a long run.
 */
export async function runWorkload(name: string, opts: WorkloadRunOptions = {}): Promise<WorkloadRun> {
  const workload = checkWorkloadName(name);
  const sys = System.createSync({
    policy: opts.policy,
    forkReuse: opts.forkReuse,
    zeroPage: opts.zeroPage,
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
