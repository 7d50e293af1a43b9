// "Why does my process have 60,000 VMAs?" for a traced program: at one
// moment (a process's exit, or its peak), every pair of adjacent VMAs that
// stayed apart, grouped by the rule that keeps them apart, with the trace
// lines of the syscalls that made each boundary; and how many of those pairs
// each policy would have merged by then.

import type { ScenarioOp } from "./scenario/parse.js";
import { ScenarioRun } from "./scenario/run.js";
import { KERNEL_POLICIES, type KernelLine, System, type VmaInfo } from "./system.js";
import type { Replay } from "./trace/read.js";
import { VM, vmFlagsString } from "./vmflags.js";
import { VmalabError } from "./wasm.js";

export interface ApartPair {
  /** [start, end) of the left and right VMA, in pages. */
  left: [number, number];
  right: [number, number];
  rule: string;
  detail: string;
  /** Trace lines of the last syscalls with an edge at the boundary (what made it). */
  madeBy: number[];
}

export interface WhyApart {
  program: string;
  /** The process's id in the replay (its pid; 0 for the trace's first). */
  process: number;
  at: "exit" | "peak";
  /** The op of the replay the moment follows. */
  op: number;
  vmas: number;
  pairs: ApartPair[];
  /** Per rule: how many pairs it keeps apart. */
  rules: { rule: string; pairs: number }[];
  /** Per policy: how many of these pairs its run has merged by the same moment. */
  policies: { policy: string; merged: number }[];
}

const SPECIAL = VM.IO | VM.DONTEXPAND | VM.PFNMAP | VM.MIXEDMAP;
/** Bits a merge ignores. */
const IGNORED = VM.SOFTDIRTY;
const EDGE_OPS = new Set(["mmap", "munmap", "mprotect", "madvise", "mremap", "restore"]);

/** The rule that keeps two adjacent VMAs apart, read off them as the kernel's checks would. */
export function apartRule(a: VmaInfo, b: VmaInfo): { rule: string; detail: string } {
  if ((a.vmFlags | b.vmFlags) & SPECIAL) return { rule: "VM_SPECIAL", detail: `${vmFlagsString(a.vmFlags & SPECIAL) || "-"} | ${vmFlagsString(b.vmFlags & SPECIAL) || "-"}` };
  const differ = (a.vmFlags ^ b.vmFlags) & ~IGNORED;
  if (differ) return { rule: "flags differ", detail: `${vmFlagsString(differ)} (${a.flags} | ${b.flags})` };
  const fileOf = (v: VmaInfo) => (v.kind === "anon" ? "anon" : v.kind.replace(/@\d+$/, ""));
  if (fileOf(a) !== fileOf(b)) return { rule: "different files", detail: `${a.kind} | ${b.kind}` };
  if (b.pgoff !== a.pgoff + (a.end - a.start)) return { rule: "pgoff not contiguous", detail: `${a.pgoff}+${a.end - a.start} ≠ ${b.pgoff}` };
  if (a.anonVma && b.anonVma && a.anonVma !== b.anonVma) {
    const forked = a.chainLength > 1 || b.chainLength > 1;
    return { rule: forked ? "anon_vma: different, one shared with a fork" : "anon_vma: different", detail: `anon_vma ${a.anonVma} | ${b.anonVma}` };
  }
  if ((a.anonVma && !b.anonVma && a.chainLength > 1) || (b.anonVma && !a.anonVma && b.chainLength > 1)) {
    return { rule: "anon_vma: a forked faulted VMA next to an unfaulted one", detail: `chains ${a.chainLength} | ${b.chainLength}` };
  }
  return { rule: "mergeable, but no operation met the boundary since", detail: "the kernel merges only when an op touches the boundary" };
}

/** Runs `ops[0..end)` under a policy; the system at that moment. */
function runTo(ops: ScenarioOp[], end: number, opts: { policy: string; zeroPage?: boolean; kernel?: KernelLine }): System {
  const kernel = opts.policy in KERNEL_POLICIES ? undefined : opts.kernel;
  const sys = System.createSync({ policy: opts.policy, zeroPage: opts.zeroPage, kernel, maxMapCount: 1 << 30 });
  const run = new ScenarioRun(sys, { keep: false, reads: false });
  for (let i = 0; i < end; i++) run.step(ops[i]);
  return sys;
}

/** Where each process's moments are: the op before its exit (or the end), the op after its peak. */
function moments(ops: ScenarioOp[], zeroPage?: boolean, kernel?: KernelLine) {
  const sys = System.createSync({ maxMapCount: 1 << 30, zeroPage, kernel });
  const run = new ScenarioRun(sys, { keep: false, reads: false });
  const exit = new Map<number, { op: number; vmas: number }>();
  const peak = new Map<number, { op: number; vmas: number }>();
  let current = 0;
  ops.forEach((op, i) => {
    if (op.op === "proc") current = op.id;
    if (op.op === "exit" && sys.hasProcess(current)) exit.set(current, { op: i, vmas: sys.process(current).mapCount });
    run.step(op);
    if (sys.hasProcess(current)) {
      const n = sys.process(current).mapCount;
      if (n > (peak.get(current)?.vmas ?? -1)) peak.set(current, { op: i + 1, vmas: n });
    }
  });
  for (const p of sys.processes()) exit.set(p.id, { op: ops.length, vmas: p.mapCount });
  return { exit, peak };
}

/**
 * Explains a replayed trace at a process's exit or peak: `process` is its id
 * or its program's name (the process of that program with the most VMAs
 * then; default: the process with the most).
 */
export function whyApart(
  replay: Replay,
  opts: { process?: number | string; at?: "exit" | "peak"; policies?: string[]; zeroPage?: boolean; kernel?: KernelLine } = {},
): WhyApart {
  const at = opts.at ?? "exit";
  const { ops } = replay;
  const found = moments(ops, opts.zeroPage, opts.kernel)[at];
  const name = (p: number) => replay.programs[p] ?? `process ${p}`;
  let candidates = [...found.keys()];
  if (typeof opts.process === "number") candidates = candidates.filter((p) => p === opts.process);
  else if (typeof opts.process === "string") candidates = candidates.filter((p) => name(p) === opts.process);
  if (candidates.length === 0) {
    const known = [...new Set([...found.keys()].map((p) => `${p} (${name(p)})`))].slice(0, 20).join(", ");
    throw new VmalabError("ESRCH", `no process ${opts.process} in the trace (processes: ${known})`);
  }
  const proc = candidates.reduce((best, p) => (found.get(p)!.vmas > found.get(best)!.vmas ? p : best));
  const moment = found.get(proc)!.op;
  const base = runTo(ops, moment, { policy: "linux-6.18", zeroPage: opts.zeroPage, kernel: opts.kernel });
  const vmas = base.process(proc).vmas();
  const edges = edgeIndex(ops, replay.traceLines, moment, proc);
  const pairs: ApartPair[] = [];
  for (let i = 1; i < vmas.length; i++) {
    const [a, b] = [vmas[i - 1], vmas[i]];
    if (a.end !== b.start) continue;
    // The last two syscalls with an edge at the boundary made it.
    pairs.push({ left: [a.start, a.end], right: [b.start, b.end], ...apartRule(a, b), madeBy: (edges.get(a.end) ?? []).slice(-2) });
  }
  const rules = new Map<string, number>();
  for (const p of pairs) rules.set(p.rule, (rules.get(p.rule) ?? 0) + 1);
  const policies = (opts.policies ?? []).map((policy) => {
    const sys = runTo(ops, moment, { policy, zeroPage: opts.zeroPage, kernel: opts.kernel });
    const edges = new Set(sys.hasProcess(proc) ? sys.process(proc).vmas().map((v) => v.start) : []);
    return { policy, merged: pairs.filter((p) => !edges.has(p.right[0])).length };
  });
  return {
    program: name(proc),
    process: proc,
    at,
    op: moment,
    vmas: vmas.length,
    pairs,
    rules: [...rules].map(([rule, n]) => ({ rule, pairs: n })).sort((x, y) => y.pairs - x.pairs),
    policies,
  };
}

/**
 * Page -> the trace lines of the ops before `end` with an edge there, in
 * order: the ops of `proc`, and of its ancestors up to the forks it came from
 * (a fork child inherits its parent's boundaries).
 */
function edgeIndex(ops: ScenarioOp[], traceLines: number[], end: number, proc: number): Map<number, number[]> {
  // Who forked whom, and at which op.
  const forkedAt = new Map<number, { parent: number; op: number }>();
  let current = 0;
  for (let i = 0; i < end; i++) {
    const op = ops[i];
    if (op.op === "proc") current = op.id;
    else if (op.op === "fork") forkedAt.set(op.child, { parent: current, op: i });
  }
  // Until which op each of proc's line counts: proc's own to the end, an ancestor's to the fork.
  const until = new Map<number, number>([[proc, end]]);
  for (let p = proc, f = forkedAt.get(p); f && !until.has(f.parent); p = f.parent, f = forkedAt.get(p)) until.set(f.parent, f.op);
  const index = new Map<number, number[]>();
  current = 0;
  for (let i = 0; i < end; i++) {
    const op = ops[i];
    if (op.op === "proc") current = op.id;
    if (i >= (until.get(current) ?? -1) || !EDGE_OPS.has(op.op) || !traceLines[i]) continue;
    const edges =
      op.op === "mremap"
        ? [op.start, op.start + op.oldPages, op.opts.fixed ?? op.start, (op.opts.fixed ?? op.start) + op.newPages]
        : "start" in op && "pages" in op
          ? [op.start, op.start + op.pages]
          : [];
    for (const e of edges) {
      const list = index.get(e);
      if (!list) index.set(e, [traceLines[i]]);
      else if (list[list.length - 1] !== traceLines[i]) list.push(traceLines[i]);
    }
  }
  return index;
}

/** The answer as text: the rules by how many pairs each keeps apart, a few pairs of each, and what each policy would merge. */
export function formatWhyApart(w: WhyApart, examples = 5): string {
  const out = [
    `${w.program} (process ${w.process}) at its ${w.at}: ${w.vmas.toLocaleString("en-US")} VMAs, ${w.pairs.length.toLocaleString("en-US")} pairs of adjacent VMAs apart`,
  ];
  for (const r of w.rules) {
    out.push(`  ${r.pairs.toLocaleString("en-US").padStart(7)}  ${r.rule}`);
    for (const p of w.pairs.filter((x) => x.rule === r.rule).slice(0, examples)) {
      const made = p.madeBy.length ? `; made by trace line${p.madeBy.length > 1 ? "s" : ""} ${p.madeBy.join(", ")}` : "";
      out.push(`           [${p.left[0]}, ${p.left[1]}) | [${p.right[0]}, ${p.right[1]}): ${p.detail}${made}`);
    }
  }
  for (const p of w.policies) out.push(`  ${p.policy}: would have merged ${p.merged.toLocaleString("en-US")} of these pairs by then`);
  return out.join("\n");
}
