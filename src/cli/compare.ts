// `vmalab compare`: one op stream, every policy asked for, metrics side by side.

import { readFileSync, writeFileSync } from "node:fs";
import { compare, type PolicyRun, runLabel, type WorkloadSpec, workloadScenario } from "../compare.js";
import type { Metrics } from "../metrics.js";
import { htmlReport } from "../report/html.js";
import { formatTable } from "../report/table.js";
import { readTraceFile } from "../trace/file.js";
import { formatReplayStats, traceToScenario } from "../trace/replay.js";

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
  /** The shared zero page; for a trace, default: what its recording's header says. */
  zeroPage?: boolean;
  json?: string;
}

/** The rows of the comparison: a label and how to read it from a run. */
const ROWS: [string, (r: PolicyRun, m: Metrics) => number][] = [
  ["VMAs, final", (_, m) => m.vmas.total],
  ["VMAs, peak", (_, m) => m.vmas.peak],
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
  ["refused: flags", (_, m) => m.refusals.flags],
  ["refused: file", (_, m) => m.refusals.file],
  ["refused: pgoff", (_, m) => m.refusals.pgoff],
  ["refused: anon_vma, forked target", (_, m) => m.refusals.anonForkedTarget],
  ["refused: anon_vma, forked source", (_, m) => m.refusals.anonForkedSource],
  ["refused: anon_vma, different", (_, m) => m.refusals.anonDifferent],
  ["refused: anon_vma, prev/next", (_, m) => m.refusals.anonPrevNext],
  ["refused: close hook", (_, m) => m.refusals.closeHook],
  ["refused: special", (_, m) => m.refusals.special],
  ["refused: max_map_count", (_, m) => m.refusals.maxMapCount],
  ["refused: policy", (_, m) => m.refusals.policy],
  ["splits", (_, m) => m.splits],
  ["anon_vmas", (_, m) => m.anonVmas],
  ["AVCs", (_, m) => m.avcs],
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
  ["policy cost: folios moved", (_, m) => m.policyCost.foliosMoved],
  ["policy cost: chain links added", (_, m) => m.policyCost.chainLinksAdded],
  ["failed ops", (r) => r.failedOps],
  ["ops/s", (r) => r.opsPerSecond],
];

export async function runCompare(opts: CompareCliOptions): Promise<PolicyRun[]> {
  let scenario: string;
  let zeroPage = opts.zeroPage;
  if (opts.scenario !== undefined) scenario = readFileSync(opts.scenario, "utf8");
  else if (opts.workload !== undefined) scenario = workloadScenario(opts.workload);
  else {
    const trace = readTraceFile(opts.trace!);
    zeroPage ??= trace.header["zero-page"] !== "no";
    const replay = traceToScenario(trace, { zeroPage });
    console.log(formatReplayStats(opts.trace!, replay.stats));
    scenario = replay.scenario;
  }
  const runs = await compare({ scenario, policies: opts.policies, forkReuse: opts.forkReuse, zeroPage, process: opts.process });
  const headers = ["", ...runs.map((r) => runLabel(r, opts.forkReuse === "both"))];
  const what = opts.scenario ?? opts.trace ?? `workload ${opts.workload!.name} seed ${opts.workload!.seed ?? 1}`;
  console.log(`${what}: ${runs[0].ops} ops`);
  console.log(formatTable(headers, ROWS.map(([label, get]) => [label, ...runs.map((r) => get(r, r.metrics))])));
  if (opts.html) {
    writeFileSync(opts.html, await htmlReport(runs, `vmalab compare: ${what}`));
    console.log(`wrote ${opts.html}`);
  }
  if (opts.json) {
    const input = { scenario: opts.scenario, workload: opts.workload, trace: opts.trace };
    writeFileSync(opts.json, `${JSON.stringify({ ...input, runs }, null, 2)}\n`);
  }
  return runs;
}
