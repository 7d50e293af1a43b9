// Running one op stream under several merge policies and putting the
// metrics side by side. Runs are independent: with more than one
// core they go to worker threads, with the same results as one after another.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { AnonVmaGraph } from "./anon-vma.js";
import { ANON_REFUSALS, MERGE_KINDS, MERGES_DONE, type Metrics, REFUSALS } from "./metrics.js";
import type { MergePolicy } from "./policy.js";
import { FAMILIES, type Family, generateScenario } from "./scenario/generate.js";
import { type WorkloadName, WORKLOADS, workloadBatches, workloadFiles } from "./workload/generators.js";
import { parseScenario, type ScenarioOp } from "./scenario/parse.js";
import { ScenarioRun } from "./scenario/run.js";
import { POLICIES, System, type VmaInfo } from "./system.js";
import { VmalabError } from "./wasm.js";

/** A generated op stream: a workload (`vmalab workload`) or a `vmalab generate` family, its seed and length. */
export interface WorkloadSpec {
  name: string;
  seed?: number;
  ops?: number;
  /** Workloads only: processes and live VMAs to build. */
  processes?: number;
  vmas?: number;
}

export interface CompareOptions {
  /** The op stream: scenario text, parsed ops, or a generated workload. */
  scenario?: string;
  ops?: ScenarioOp[];
  workload?: WorkloadSpec;
  /** Policies to run (default: all built-in ones): names, or MergePolicy objects (run on this thread). */
  policies?: readonly (string | MergePolicy)[] | "all";
  /** anon_vma reuse at fork (7a3ef208e662): on, off, or a run with each (default on). */
  forkReuse?: boolean | "both";
  /** The shared zero page (default true; SystemOptions.zeroPage). */
  zeroPage?: boolean;
  /** Run the validator at the end of each run (default true). */
  check?: boolean;
  /** Names of the input's processes by id (a trace's programs): runs then count per program too. */
  programs?: Record<number, string>;
  /** Each op's time in ms (a trace's): the VMA mean is then over the program's time. */
  times?: number[];
  /** Use worker threads when there is more than one core (default true). */
  parallel?: boolean;
  /** The process whose address space and anon_vma graph reports show (default: the lowest live id). */
  process?: number;
}

/** One policy's run over the op stream. */
export interface PolicyRun {
  policy: string;
  forkReuse: boolean;
  ops: number;
  /** Ops that failed (their errno records). */
  failedOps: number;
  seconds: number;
  opsPerSecond: number;
  metrics: Metrics;
  /** Live VMAs over all processes along the op stream (about 400 samples). */
  series: { op: number[]; vmas: number[] };
  /** Faulted VMAs by anon_vma_chain length, at the end. */
  chainHistogram: Record<number, number>;
  /** At the end, for reports: one process's VMAs and its part of the anon_vma graph (the one asked for, else the lowest live id). */
  detail: { proc: number; vmas: VmaInfo[]; graph: AnonVmaGraph } | null;
  /** Live VMAs over all processes, averaged over the traced program's time where the input has times, else over the ops. */
  vmasMean: number;
  /** What vmasMean is averaged over. */
  meanOver: "time" | "ops";
  /** Each process's VMA count when it exits (or at the end, for those alive then), summed. */
  vmasAtExit: number;
  /** The memory syscalls of the op stream (mmap, munmap, mprotect, mremap, madvise). */
  memorySyscalls: number;
  /** Per program name, where the input names its processes (traces). */
  perProgram?: Record<string, ProgramRun>;
}

/** What one program's processes did in a run. */
export interface ProgramRun {
  processes: number;
  merges: number;
  anonRefusals: number;
  /** The most VMAs one of its processes had at once (after an op of its own). */
  peakVmas: number;
  /** Its processes' VMA counts when they exit (or at the end), summed. */
  vmasAtExit: number;
}

const MEMORY_OPS = new Set(["mmap", "munmap", "mprotect", "mremap", "madvise"]);

interface RunSpec {
  ops: ScenarioOp[];
  programs?: Record<number, string>;
  times?: number[];
  policy: string | MergePolicy;
  forkReuse: boolean;
  zeroPage: boolean;
  check: boolean;
  process?: number;
}

/** One run, start to end, on a fresh System. */
export function runPolicy(spec: RunSpec): PolicyRun {
  const sys = System.createSync({ policy: spec.policy, forkReuse: spec.forkReuse, zeroPage: spec.zeroPage });
  const series: PolicyRun["series"] = { op: [], vmas: [] };
  const stride = Math.max(1, Math.floor(spec.ops.length / 400));
  const sample = (op: number) => {
    series.op.push(op);
    series.vmas.push(sys.processes().reduce((n, p) => n + p.mapCount, 0));
  };
  const run = new ScenarioRun(sys);
  const perProgram = spec.programs ? new ProgramCounts(sys, spec.programs) : null;
  let current = 0;
  let vmaOps = 0;
  let vmaTime = 0;
  let vmasAtExit = 0;
  const times = spec.times?.length === spec.ops.length && spec.ops.length > 1 ? spec.times : null;
  const t0 = performance.now();
  for (const op of spec.ops) {
    if (op.op === "proc") current = op.id;
    else if (op.op === "exit" && sys.hasProcess(current)) {
      vmasAtExit += sys.process(current).mapCount;
      perProgram?.exit(current);
    }
    run.step(op);
    const live = sys.core.ex.sys_live_vmas();
    vmaOps += live;
    // What an op leaves holds until the next op's time.
    if (times && op.index + 1 < times.length) vmaTime += live * (times[op.index + 1] - times[op.index]);
    perProgram?.afterOp(current);
    if (op.index % stride === 0) sample(op.index);
  }
  const seconds = (performance.now() - t0) / 1000;
  const records = run.out;
  for (const p of sys.processes()) {
    vmasAtExit += p.mapCount;
    perProgram?.exit(p.id);
  }
  sample(spec.ops.length);
  if (spec.check) sys.checkInvariants();
  const chainHistogram: Record<number, number> = {};
  for (const p of sys.processes()) {
    for (const v of p.vmas()) if (v.chainLength) chainHistogram[v.chainLength] = (chainHistogram[v.chainLength] ?? 0) + 1;
  }
  const first = sys.processes().find((p) => p.id === spec.process) ?? sys.processes()[0];
  return {
    policy: sys.policy,
    forkReuse: spec.forkReuse,
    ops: spec.ops.length,
    failedOps: records.filter((r) => "errno" in r).length,
    seconds,
    opsPerSecond: spec.ops.length / seconds,
    metrics: sys.metrics(),
    series,
    chainHistogram,
    detail: first ? { proc: first.id, vmas: first.vmas(), graph: processGraph(sys.anonVmaGraph(), first.id) } : null,
    vmasMean: times ? vmaTime / Math.max(times[times.length - 1] - times[0], Number.MIN_VALUE) : spec.ops.length ? vmaOps / spec.ops.length : 0,
    meanOver: times ? "time" : "ops",
    vmasAtExit,
    memorySyscalls: spec.ops.filter((o) => MEMORY_OPS.has(o.op)).length,
    ...(perProgram ? { perProgram: perProgram.result() } : {}),
  };
}

/** Counting a run per program: each op's merges and refusals go to the program of the process it ran in. */
class ProgramCounts {
  private readonly counts = new Map<string, ProgramRun & { ids: Set<number> }>();
  private merges = 0;
  private refusals = 0;

  constructor(
    private readonly sys: System,
    private readonly names: Record<number, string>,
  ) {}

  private of(proc: number) {
    const name = this.names[proc] ?? `process ${proc}`;
    let c = this.counts.get(name);
    if (!c) this.counts.set(name, (c = { processes: 0, merges: 0, anonRefusals: 0, peakVmas: 0, vmasAtExit: 0, ids: new Set() }));
    c.ids.add(proc);
    return c;
  }

  afterOp(proc: number): void {
    const ex = this.sys.core.ex;
    let merges = 0;
    for (const i of MERGE_STATS) merges += ex.sys_stat(i);
    let refusals = 0;
    for (const i of REFUSAL_STATS) refusals += ex.sys_stat(100 + i);
    const c = this.of(proc);
    c.merges += merges - this.merges;
    c.anonRefusals += refusals - this.refusals;
    this.merges = merges;
    this.refusals = refusals;
    if (this.sys.hasProcess(proc)) c.peakVmas = Math.max(c.peakVmas, this.sys.process(proc).mapCount);
  }

  exit(proc: number): void {
    if (this.sys.hasProcess(proc)) this.of(proc).vmasAtExit += this.sys.process(proc).mapCount;
  }

  result(): Record<string, ProgramRun> {
    return Object.fromEntries([...this.counts].map(([name, { ids, ...c }]) => [name, { ...c, processes: ids.size }]));
  }
}

/** The core's stat selectors of the merges that count once, and of the anon_vma refusals. */
const MERGE_STATS = MERGES_DONE.map((k) => MERGE_KINDS.indexOf(k));
const REFUSAL_STATS = ANON_REFUSALS.map((k) => REFUSALS.indexOf(k));

/** The part of the anon_vma graph one process reaches: its VMAs, their anon_vmas and those anon_vmas' ancestors. */
function processGraph(g: AnonVmaGraph, proc: number): AnonVmaGraph {
  const vmas = g.vmas.filter((v) => v.proc === proc);
  const avcs = g.avcs.filter((a) => a.proc === proc);
  const keep = new Set(avcs.map((a) => a.anonVma));
  const byId = new Map(g.anonVmas.map((a) => [a.id, a]));
  for (const id of [...keep]) {
    for (let a = byId.get(id); a && a.parent !== a.id && !keep.has(a.parent); a = byId.get(a.parent)) keep.add(a.parent);
  }
  return {
    anonVmas: g.anonVmas.filter((a) => keep.has(a.id)),
    vmas,
    avcs,
    parents: g.parents.filter((e) => keep.has(e.child)),
  };
}

function policyList(p: CompareOptions["policies"]): (string | MergePolicy)[] {
  if (p === undefined || p === "all") return [...POLICIES];
  for (const name of p) {
    if (typeof name === "string" && !(POLICIES as readonly string[]).includes(name)) {
      throw new VmalabError("EINVAL", `unknown policy '${name}' (known: ${POLICIES.join(", ")})`);
    }
  }
  return [...p];
}

/** The scenario text of a generated workload. */
export function workloadScenario(w: WorkloadSpec): string {
  if ((WORKLOADS as readonly string[]).includes(w.name)) {
    // Written through a throwaway System, which only hands out the file objects' ids.
    const sys = System.createSync();
    const names = workloadFiles(sys);
    const current = { proc: 0 };
    const lines: string[] = [];
    const opts = { seed: w.seed, ops: w.ops, processes: w.processes, vmas: w.vmas };
    for (const batch of workloadBatches(w.name as WorkloadName, sys, opts)) lines.push(...batch.toScenario((f) => names.get(f)!, current));
    return `${lines.join("\n")}\n`;
  }
  if (!(FAMILIES as readonly string[]).includes(w.name)) {
    throw new VmalabError("EINVAL", `unknown workload '${w.name}' (known: ${[...WORKLOADS, ...FAMILIES].join(", ")})`);
  }
  const seed = w.seed ?? 1;
  const ops = w.ops ?? 1000;
  for (const [k, v] of [["seed", seed], ["ops", ops]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new VmalabError("EINVAL", `workload ${k} must be a positive integer, got ${v}`);
  }
  return generateScenario(w.name as Family, seed, ops);
}

/** How a run is named where several are shown: its policy, and its fork-reuse setting when runs differ in it. */
export function runLabel(r: PolicyRun, bothReuse: boolean): string {
  return bothReuse ? `${r.policy} reuse=${r.forkReuse ? "on" : "off"}` : r.policy;
}

/** Runs the op stream under each policy (and fork-reuse setting); results in the order asked. */
export async function compare(opts: CompareOptions): Promise<PolicyRun[]> {
  const inputs = [opts.scenario, opts.ops, opts.workload].filter((x) => x !== undefined).length;
  if (inputs !== 1) throw new VmalabError("EINVAL", "compare needs exactly one of scenario, ops or workload");
  const ops = opts.ops ?? parseScenario(opts.scenario ?? workloadScenario(opts.workload!));
  const reuse = opts.forkReuse === "both" ? [true, false] : [opts.forkReuse !== false];
  const specs: RunSpec[] = [];
  for (const policy of policyList(opts.policies)) {
    for (const forkReuse of reuse) {
      specs.push({
        ops,
        programs: opts.programs,
        times: opts.times,
        policy,
        forkReuse,
        zeroPage: opts.zeroPage !== false,
        check: opts.check !== false,
        process: opts.process,
      });
    }
  }
  const workers = opts.parallel === false ? 1 : Math.min(availableParallelism(), specs.length);
  if (workers <= 1) return specs.map(runPolicy);
  const results: PolicyRun[] = new Array(specs.length);
  // A user policy's functions cannot cross to a worker: those runs stay here.
  specs.forEach((spec, i) => {
    if (typeof spec.policy !== "string") results[i] = runPolicy(spec);
  });
  const queue = specs.map((_, i) => i).filter((i) => results[i] === undefined);
  const lane = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) results[i] = await inWorker(specs[i]);
  };
  await Promise.all(Array.from({ length: workers }, lane));
  return results;
}

function inWorker(spec: RunSpec): Promise<PolicyRun> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./compare-worker.js", import.meta.url), { workerData: spec });
    w.once("message", (m: { run?: PolicyRun; error?: { code?: string; message: string } }) => {
      if (m.run) resolve(m.run);
      else reject(m.error?.code ? new VmalabError(m.error.code, m.error.message) : new Error(m.error?.message));
    });
    w.once("error", reject);
  });
}
