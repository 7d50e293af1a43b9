// `vmalab compare`: one op stream, every policy asked for, metrics side by side.

import { readInput, writeOutput } from "../files.js";
import { fileURLToPath } from "node:url";
import { compare, compareTrace, type PolicyRun, runLabel, type WorkloadSpec, workloadScenario } from "../compare.js";
import { anonRefusals, comparePolicies, headline, mergeCount, type PolicyComparison } from "../comparison.js";
import type { Metrics } from "../metrics.js";
import { htmlReport } from "../report/html.js";
import { formatNumber, formatTable } from "../report/table.js";
import { parseScenario } from "../scenario/parse.js";
import { type KernelLine, POLICIES } from "../system.js";
import { formatReplayStats, type ReplayResult } from "../trace/replay.js";

export interface CompareCliOptions {
  /** A scenario file, a generated workload, or a trace file. */
  scenario?: string;
  workload?: WorkloadSpec;
  trace?: string;
  /** Writes the HTML report there. */
  html?: string;
  /** The process the report's strip map and graph show. */
  process?: number;
  policies: string[] | "all";
  forkReuse: boolean | "both";
  /** The policy the others are compared with (default linux-6.18; run even when not asked for). */
  baseline?: string;
  /** The shared zero page; for a trace, default: what its recording's header says. */
  zeroPage?: boolean;
  /** The kernel line the policies run on (default 6.18). */
  kernel?: KernelLine;
  json?: string;
}

/** The rows of the comparison: a label and how to read it from a run. */
const ROWS: [string, (r: PolicyRun, m: Metrics) => number][] = [
  ["VMAs, peak", (_, m) => m.vmas.peak],
  ["VMAs, mean", (r) => r.vmasMean],
  ["VMAs at exit, summed", (r) => r.vmasAtExit],
  ["merges", (_, m) => mergeCount(m)],
  ["merges: new-range", (_, m) => m.merges.newLeft + m.merges.newRight + m.merges.newBoth],
  ["  left", (_, m) => m.merges.newLeft],
  ["  right", (_, m) => m.merges.newRight],
  ["  both", (_, m) => m.merges.newBoth],
  ["merges: existing-range", (_, m) => m.merges.existingLeft + m.merges.existingRight + m.merges.existingBoth],
  ["  left", (_, m) => m.merges.existingLeft],
  ["  right", (_, m) => m.merges.existingRight],
  ["  both", (_, m) => m.merges.existingBoth],
  ["  partial", (_, m) => m.merges.partial],
  ["  full", (_, m) => m.merges.full],
  ["merges: expand (mremap)", (_, m) => m.merges.expand],
  ["refused: anon_vma, all", (_, m) => anonRefusals(m)],
  ["refused: anon_vma, forked target", (_, m) => m.refusals.anonForkedTarget],
  ["refused: anon_vma, forked source", (_, m) => m.refusals.anonForkedSource],
  ["refused: anon_vma, different", (_, m) => m.refusals.anonDifferent],
  ["refused: anon_vma, prev/next", (_, m) => m.refusals.anonPrevNext],
  ["refused: flags", (_, m) => m.refusals.flags],
  ["refused: file", (_, m) => m.refusals.file],
  ["refused: pgoff", (_, m) => m.refusals.pgoff],
  ["refused: close hook", (_, m) => m.refusals.closeHook],
  ["refused: special", (_, m) => m.refusals.special],
  ["refused: max_map_count", (_, m) => m.refusals.maxMapCount],
  ["refused: policy", (_, m) => m.refusals.policy],
  ["splits", (_, m) => m.splits],
  ["anon_vmas, peak", (_, m) => m.peak.anonVmas],
  ["AVCs, peak", (_, m) => m.peak.avcs],
  ["anon_vmas, final", (_, m) => m.anonVmas],
  ["AVCs, final", (_, m) => m.avcs],
  ["chain length, mean", (_, m) => m.chainLength.mean],
  ["chain length, p99", (_, m) => m.chainLength.p99],
  ["chain length, max", (_, m) => m.chainLength.max],
  ["hierarchy depth, max", (_, m) => m.hierarchyDepth.max],
  ["folios per root, mean", (_, m) => m.perRoot.folios.mean],
  ["folios per root, max", (_, m) => m.perRoot.folios.max],
  ["VMAs per root, mean", (_, m) => m.perRoot.vmas.mean],
  ["VMAs per root, max", (_, m) => m.perRoot.vmas.max],
  ["rmap walks", (_, m) => m.rmap.walks],
  ["rmap: AVCs visited per walk", (_, m) => m.rmap.avcsPerWalk],
  ["rmap: VMAs visited per walk", (_, m) => m.rmap.vmasPerWalk],
  ["at the anon_vma peak: anon_vmas", (r) => r.atAnonPeak.anonVmas],
  ["at the anon_vma peak: folios per root, mean", (r) => r.atAnonPeak.perRoot.folios.mean],
  ["at the anon_vma peak: folios per root, max", (r) => r.atAnonPeak.perRoot.folios.max],
  ["at the anon_vma peak: VMAs per root, mean", (r) => r.atAnonPeak.perRoot.vmas.mean],
  ["at the anon_vma peak: VMAs per root, max", (r) => r.atAnonPeak.perRoot.vmas.max],
  ["at the anon_vma peak: rmap AVCs visited per walk", (r) => r.atAnonPeak.rmap.avcsPerWalk],
  ["at the anon_vma peak: rmap VMAs visited per walk", (r) => r.atAnonPeak.rmap.vmasPerWalk],
  ["policy cost: folios moved", (_, m) => m.policyCost.foliosMoved],
  ["policy cost: chain links added", (_, m) => m.policyCost.chainLinksAdded],
  ["failed ops", (r) => r.failedOps],
];

/** A policy's figure as its change against the baseline's: "+3", "−12.5", or "=" when equal. */
function delta(base: number, value: number): string {
  if (value === base) return "=";
  const d = value - base;
  return `${d > 0 ? "+" : "−"}${formatNumber(Math.abs(d))}`;
}

/**
 * The table of a comparison: the baseline's figures, then each policy's
 * change; the rows no policy changes fold into one line after it.
 */
export function comparisonTable(base: PolicyRun, others: PolicyRun[], label: (r: PolicyRun) => string): string {
  const changed: (string | number)[][] = [];
  const same: string[] = [];
  let parent = "";
  for (const [name, get] of ROWS) {
    // An indented row (a kind of its parent) is named with its parent where it stands alone.
    const full = name.startsWith("  ") ? `${parent}, ${name.trim()}` : (parent = name);
    const b = get(base, base.metrics);
    const values = others.map((r) => get(r, r.metrics));
    if (values.every((v) => v === b)) same.push(`${full} ${formatNumber(b)}`);
    else changed.push([name, b, ...values.map((v) => delta(b, v))]);
  }
  const headers = ["", label(base), ...others.map((r) => `Δ ${label(r)}`)];
  const table = changed.length ? formatTable(headers, changed) : `no figure differs from ${label(base)}'s`;
  return `${table}\n${others.length ? "the same under every policy" : label(base)}: ${same.join(", ") || "none"}`;
}

/**
 * A trace's programs: each one's processes, and its anon_vma refusals, merges
 * and VMAs at exit under the baseline, then each policy's changes of them.
 */
function programTable(comparisons: PolicyComparison[]): string {
  const first = comparisons[0];
  const headers = ["program", "processes", `anon_vma refusals`, "merges", "VMAs at exit", ...comparisons.map((c) => `Δ ${c.policy}`)];
  // A process that did nothing of note (a recorder's) is no program.
  const shown = first.programs!.map((p, i) => ({ p, i })).filter(({ p }) => p.merges.baseline || p.anonRefusals.baseline || p.vmasAtExit.baseline);
  const rows = shown.map(({ p, i }) => [
    p.name,
    p.processes,
    p.anonRefusals.baseline,
    p.merges.baseline,
    p.vmasAtExit.baseline,
    ...comparisons.map((c) => {
      const q = c.programs![i];
      const cells = [q.anonRefusals, q.merges, q.vmasAtExit].map((x) => delta(x.baseline, x.policy));
      return cells.every((x) => x === "=") ? "=" : cells.join(" / ");
    }),
  ]);
  return `per program, under ${first.baseline} (each policy: refusals / merges / VMAs at exit)\n${formatTable(headers, rows)}`;
}

/** The input a bare `vmalab compare` runs: a real program from the corpus on which policies differ. */
export const DEFAULT_TRACE = fileURLToPath(new URL("../../corpus/postgres.trace.gz", import.meta.url));

export async function runCompare(opts: CompareCliOptions): Promise<PolicyRun[]> {
  const trace = opts.scenario === undefined && opts.workload === undefined ? (opts.trace ?? DEFAULT_TRACE) : undefined;
  const baseline = opts.baseline ?? "linux-6.18";
  const asked = opts.policies === "all" ? [...POLICIES] : opts.policies;
  const policies = asked.includes(baseline) ? asked : [baseline, ...asked];
  const common = { policies, forkReuse: opts.forkReuse, zeroPage: opts.zeroPage, kernel: opts.kernel, process: opts.process };
  let runs: PolicyRun[];
  let replay: ReplayResult | undefined;
  if (trace !== undefined) ({ runs, replay } = await compareTrace(trace, common));
  else {
    const ops = opts.scenario !== undefined ? parseScenario(readInput(opts.scenario), opts.scenario) : parseScenario(workloadScenario(opts.workload!));
    runs = await compare({ ...common, ops });
  }
  const both = opts.forkReuse === "both";
  const label = (r: PolicyRun) => runLabel(r, both);
  const traceName = trace === DEFAULT_TRACE ? "the corpus's postgres recording" : trace;
  const what = opts.scenario ?? traceName ?? `workload ${opts.workload!.name} seed ${opts.workload!.seed ?? 1}`;
  const comparisons = [true, false].flatMap((reuse) => {
    const group = runs.filter((r) => r.forkReuse === reuse);
    return group.length ? comparePolicies(group, baseline, replay?.stats.seconds) : [];
  });
  for (const c of comparisons) console.log(headline(c));
  console.log(`\n${what}: ${runs[0].ops} ops, ${runs[0].memorySyscalls} memory syscalls`);
  for (const reuse of [true, false]) {
    const group = runs.filter((r) => r.forkReuse === reuse);
    const base = group.find((r) => r.policy === baseline);
    if (base) console.log(comparisonTable(base, group.filter((r) => r !== base), label));
  }
  const programs = comparisons.find((c) => c.programs)?.programs;
  if (programs) console.log(`\n${programTable(comparisons)}`);
  if (replay) console.log(`\n${formatReplayStats(trace!, replay.stats)}`);
  if (opts.html) {
    writeOutput(opts.html, await htmlReport(runs, `vmalab compare: ${what}`, comparisons));
    console.log(`wrote ${opts.html}`);
  }
  if (opts.json) {
    const input = { scenario: opts.scenario, workload: opts.workload, trace };
    writeOutput(opts.json, `${JSON.stringify({ ...input, baseline, comparisons, runs }, null, 2)}\n`);
  }
  return runs;
}
