// Running one op stream under several merge policies and putting the
// metrics side by side. Runs are independent: with more than one
// core they go to worker threads, with the same results as one after another.

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import type { AnonVmaGraph } from "./anon-vma.js";
import { ANON_REFUSALS, type LockSharing, lockSharing, MERGE_KINDS, MERGES_DONE, type Metrics, REFUSALS } from "./metrics.js";
import type { MergePolicy } from "./policy.js";
import { FAMILIES, type Family, generateScenario } from "./scenario/generate.js";
import { type WorkloadName, WORKLOADS, workloadBatches, workloadFiles } from "./workload/generators.js";
import { parseScenario, type ScenarioOp } from "./scenario/parse.js";
import { ScenarioRun } from "./scenario/run.js";
import { KERNEL_POLICIES, type KernelLine, POLICIES, System, type VmaInfo } from "./system.js";
import { replayTraceFile, sinks } from "./trace/read.js";
import type { ReplayOptions, ReplayResult, ReplaySink } from "./trace/replay.js";
import { VmalabError } from "./wasm.js";
import { OpStream } from "./workload/stream.js";

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
  /** The kernel line the policies run on (SystemOptions.kernel); a policy that names its line (linux-6.1, linux-6.12) keeps it. */
  kernel?: KernelLine;
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
  /** Wall time of the run; of a trace compared in lockstep, of reading it under every policy at once (not a figure to compare between policies). */
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
  /**
   * Lock sharing and rmap cost when the most anon_vmas were alive (within
   * 2 %): the moment the most memory shares the most locks, where the end of a
   * trace has every process gone.
   */
  atAnonPeak: LockSharing;
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
/** Touches run in one batch at most. */
const TOUCH_BATCH = 4096;
/** Samples of the VMA series kept at most (the stride doubles when they would be more). */
const SERIES = 800;

/** What a run is: its policy and settings. */
interface RunSettings {
  policy: string | MergePolicy;
  forkReuse: boolean;
  zeroPage: boolean;
  kernel?: KernelLine;
  check: boolean;
  process?: number;
}

interface RunSpec extends RunSettings {
  ops: ScenarioOp[];
  programs?: Record<number, string>;
  times?: number[];
}

/**
 * One policy's run, an op at a time (as a replay makes them, or from a list),
 * on a fresh System: its metrics gathered as it goes, in constant memory.
 */
export class PolicyRunner implements ReplaySink {
  private sys: System | null = null;
  private run: ScenarioRun | null = null;
  private perProgram: ProgramCounts | null = null;
  private readonly series: PolicyRun["series"] = { op: [], vmas: [] };
  private stride = 1;
  private ops = 0;
  private failedOps = 0;
  private memorySyscalls = 0;
  private current = 0;
  private vmaOps = 0;
  private vmasAtExit = 0;
  /** The time-weighted VMA sum; NaN once an op comes without a time. */
  private vmaTime = 0;
  private firstTime = Number.NaN;
  private lastTime = Number.NaN;
  private lastLive = 0;
  private readonly touches = new OpStream();
  private atAnonPeak: LockSharing | null = null;

  constructor(private readonly settings: RunSettings) {}

  /** For a replay's ops: its zero page setting, its kernel line (unless the run names one) and the names of its processes. */
  begin(replay: { zeroPage: boolean; kernel?: KernelLine; programs: Record<number, string> }): void {
    this.start(replay.zeroPage, replay.programs, replay.kernel);
  }

  private start(zeroPage: boolean, programs: Record<number, string> | undefined, replayKernel?: KernelLine): System {
    const { policy, forkReuse } = this.settings;
    const kernel = typeof policy === "string" && policy in KERNEL_POLICIES ? undefined : (this.settings.kernel ?? replayKernel);
    const sys = System.createSync({ policy, forkReuse, zeroPage, kernel });
    this.sys = sys;
    this.run = new ScenarioRun(sys, { keep: false, reads: false });
    this.perProgram = programs ? new ProgramCounts(sys) : null;
    this.names = programs;
    return sys;
  }

  private names: Record<number, string> | undefined;

  op(op: ScenarioOp, _line?: number, time?: number): void {
    const sys = this.sys ?? this.start(this.settings.zeroPage, undefined);
    // Touches (page faults, most of a trace) go to the core in batches; what they leave is
    // read as if each had run at once: a fault changes no VMA count, merges nothing.
    if (op.op === "touch") this.touches.touch(this.current, op.start, op.pages, op.access);
    else if (op.op !== "proc") this.runTouches();
    if (op.op === "proc") this.current = op.id;
    else if (op.op === "exit" && sys.hasProcess(this.current)) {
      this.vmasAtExit += sys.process(this.current).mapCount;
      this.perProgram?.exit(this.current);
    } else if (MEMORY_OPS.has(op.op)) this.memorySyscalls++;
    if (op.op !== "touch") {
      if (this.run!.step(op) !== null) this.failedOps++;
      this.watchAnonPeak(this.ops);
    } else if (this.touches.length >= TOUCH_BATCH) this.runTouches();
    const live = sys.core.ex.sys_live_vmas();
    this.vmaOps += live;
    // What an op leaves holds until the next op's time.
    if (time === undefined) this.vmaTime = Number.NaN;
    else {
      if (Number.isNaN(this.firstTime)) this.firstTime = time;
      else this.vmaTime += this.lastLive * (time - this.lastTime);
      this.lastTime = time;
    }
    this.lastLive = live;
    this.perProgram?.afterOp(this.current);
    if (this.ops % this.stride === 0) this.sample(this.ops, live);
    this.ops++;
  }

  /** Runs the touches held (the last of them was op `ops - 1`). */
  private runTouches(): void {
    if (!this.touches.length) return;
    this.sys!.runOps(this.touches, () => this.failedOps++);
    this.touches.clear();
    this.watchAnonPeak(this.ops - 1);
  }

  /** Takes lock sharing again each time live anon_vmas pass the last taking's by 2 % (by one, under 50). */
  private watchAnonPeak(op: number): void {
    const live = this.sys!.core.ex.stat_live(0);
    const last = this.atAnonPeak?.anonVmas ?? 0;
    if (live > last && (live < 50 || live >= last * 1.02)) this.atAnonPeak = lockSharing(this.sys!, op);
  }

  private sample(op: number, vmas: number): void {
    const s = this.series;
    s.op.push(op);
    s.vmas.push(vmas);
    if (s.op.length < SERIES) return;
    // Keep every other sample and sample half as often from here.
    s.op = s.op.filter((_, i) => i % 2 === 0);
    s.vmas = s.vmas.filter((_, i) => i % 2 === 0);
    this.stride *= 2;
  }

  /** The run's figures, once its ops are done (`seconds`: the wall time they took). */
  result(seconds: number): PolicyRun {
    const sys = this.sys ?? this.start(this.settings.zeroPage, undefined);
    this.runTouches();
    const spec = this.settings;
    for (const p of sys.processes()) {
      this.vmasAtExit += p.mapCount;
      this.perProgram?.exit(p.id);
    }
    this.sample(this.ops, sys.core.ex.sys_live_vmas());
    if (spec.check) sys.checkInvariants();
    const chainHistogram: Record<number, number> = {};
    for (const p of sys.processes()) {
      for (const v of p.vmas()) if (v.chainLength) chainHistogram[v.chainLength] = (chainHistogram[v.chainLength] ?? 0) + 1;
    }
    const first = sys.processes().find((p) => p.id === spec.process) ?? sys.processes()[0];
    const timed = !Number.isNaN(this.vmaTime) && this.ops > 1;
    return {
      policy: sys.policy,
      forkReuse: spec.forkReuse,
      ops: this.ops,
      failedOps: this.failedOps,
      seconds,
      opsPerSecond: this.ops / seconds,
      metrics: sys.metrics(),
      series: this.series,
      chainHistogram,
      detail: first ? { proc: first.id, vmas: first.vmas(), graph: processGraph(sys.anonVmaGraph(), first.id) } : null,
      vmasMean: timed ? this.vmaTime / Math.max(this.lastTime - this.firstTime, Number.MIN_VALUE) : this.ops ? this.vmaOps / this.ops : 0,
      meanOver: timed ? "time" : "ops",
      vmasAtExit: this.vmasAtExit,
      memorySyscalls: this.memorySyscalls,
      ...(this.perProgram ? { perProgram: this.perProgram.result(this.names!) } : {}),
      atAnonPeak: this.atAnonPeak ?? lockSharing(sys, this.ops - 1),
    };
  }
}

/** One run, start to end, on a fresh System. */
export function runPolicy(spec: RunSpec): PolicyRun {
  const runner = new PolicyRunner(spec);
  if (spec.programs) runner.begin({ zeroPage: spec.zeroPage, programs: spec.programs });
  const times = spec.times?.length === spec.ops.length ? spec.times : undefined;
  const t0 = performance.now();
  for (const op of spec.ops) runner.op(op, 0, times?.[op.index]);
  return runner.result((performance.now() - t0) / 1000);
}

/** Counting a run per program: each op's merges and refusals go to the process it ran in; by program name at the end. */
class ProgramCounts {
  private readonly counts = new Map<number, Omit<ProgramRun, "processes">>();
  private merges = 0;
  private refusals = 0;

  constructor(private readonly sys: System) {}

  private of(proc: number) {
    let c = this.counts.get(proc);
    if (!c) this.counts.set(proc, (c = { merges: 0, anonRefusals: 0, peakVmas: 0, vmasAtExit: 0 }));
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

  /** Per program name (`names`: by process id; a process without one is `process ID`). */
  result(names: Record<number, string>): Record<string, ProgramRun> {
    const out: Record<string, ProgramRun> = {};
    for (const [proc, c] of this.counts) {
      const name = names[proc] ?? `process ${proc}`;
      const r = (out[name] ??= { processes: 0, merges: 0, anonRefusals: 0, peakVmas: 0, vmasAtExit: 0 });
      r.processes++;
      r.merges += c.merges;
      r.anonRefusals += c.anonRefusals;
      r.peakVmas = Math.max(r.peakVmas, c.peakVmas);
      r.vmasAtExit += c.vmasAtExit;
    }
    return out;
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
    if (typeof name === "string" && !(POLICIES as readonly string[]).includes(name) && !(name in KERNEL_POLICIES)) {
      throw new VmalabError("EINVAL", `unknown policy '${name}' (known: ${[...POLICIES, ...Object.keys(KERNEL_POLICIES)].join(", ")})`);
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
        kernel: opts.kernel,
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

/**
 * Runs a recording under each policy (and fork-reuse setting) in lockstep:
 * the trace is read and replayed once, as it streams, and every run gets
 * each op as it is made. Results in the order asked, with the replay's.
 */
export async function compareTrace(
  path: string,
  opts: Omit<CompareOptions, "scenario" | "ops" | "workload" | "programs" | "times" | "parallel"> & ReplayOptions = {},
): Promise<{ runs: PolicyRun[]; replay: ReplayResult }> {
  const reuse = opts.forkReuse === "both" ? [true, false] : [opts.forkReuse !== false];
  const runners = policyList(opts.policies).flatMap((policy) =>
    reuse.map((forkReuse) => new PolicyRunner({ policy, forkReuse, zeroPage: opts.zeroPage !== false, kernel: opts.kernel, check: opts.check !== false, process: opts.process })),
  );
  const t0 = performance.now();
  const replay = await replayTraceFile(path, { strict: opts.strict, zeroPage: opts.zeroPage, kernel: opts.kernel }, sinks(...runners));
  const seconds = (performance.now() - t0) / 1000;
  return { runs: runners.map((r) => r.result(seconds)), replay };
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
