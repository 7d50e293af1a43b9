// A policy against a baseline on the same input: the numbers the merge
// debates asked for. How many merges today's rule refuses that the policy
// allows, and how many stay refused; how often it matters (per 1,000 memory
// syscalls, per second of a traced program, VMAs at peak, on average, at
// exit); what it costs (folios moved, chain links, anon_vmas and AVCs, what
// shares a root's lock). Every figure is a total over the run under each
// policy, as the kernel's tracepoints would count them under each kernel.

import type { PolicyRun } from "./compare.js";
import { ANON_REFUSALS, MERGES_DONE, type Metrics } from "./metrics.js";
import { VmalabError } from "./wasm.js";

/** A figure under the baseline and under the policy. */
export interface Pair {
  baseline: number;
  policy: number;
}

export interface PolicyComparison {
  policy: string;
  baseline: string;
  /** Refused merges whose reason is the anon_vma (forked target or source, different, prev/next). */
  anonRefusals: Pair & {
    /** policy ÷ baseline; null when the baseline refused none ("none to lift"). */
    shareRemaining: number | null;
  };
  merges: Pair & {
    gained: number;
    /** Merges gained per 1,000 memory syscalls of the input. */
    gainedPer1000Syscalls: number;
    /** Merges gained per second of the traced program's own run (traces only). */
    gainedPerSecond: number | null;
  };
  vmas: { peak: Pair; mean: Pair; atExit: Pair };
  cost: {
    foliosMoved: number;
    bytesMoved: number;
    chainLinksAdded: number;
    /** The most alive at once. */
    anonVmas: Pair;
    avcs: Pair;
    /** VMAs and folios under one root anon_vma (what one lock covers): the largest, at the anon_vma peak. */
    vmasPerRootMax: Pair;
    foliosPerRootMax: Pair;
    chainLengthMax: Pair;
    /** AVCs and VMAs an rmap walk visits, at the anon_vma peak (PolicyRun.atAnonPeak). */
    rmapAvcsPerWalk: Pair;
    rmapVmasPerWalk: Pair;
  };
  /** Whether any figure above differs from the baseline's. */
  changes: boolean;
  /** The same per program, where the input names its processes (traces). */
  programs?: ProgramComparison[];
}

export interface ProgramComparison {
  name: string;
  processes: number;
  anonRefusals: Pair;
  merges: Pair;
  peakVmas: Pair;
  vmasAtExit: Pair;
}

const PAGE_BYTES = 4096;

export function anonRefusals(m: Metrics): number {
  return ANON_REFUSALS.reduce((n, k) => n + m.refusals[k], 0);
}

export function mergeCount(m: Metrics): number {
  return MERGES_DONE.reduce((n, k) => n + m.merges[k], 0);
}

/**
 * Each run against the baseline's (the run of policy `baseline` with the
 * same settings); `programSeconds`: how long a traced program ran.
 */
export function comparePolicies(runs: PolicyRun[], baseline: string, programSeconds?: number): PolicyComparison[] {
  const base = runs.find((r) => r.policy === baseline);
  if (!base) throw new VmalabError("EINVAL", `the baseline '${baseline}' is not among the policies run (${runs.map((r) => r.policy).join(", ")})`);
  return runs.filter((r) => r !== base).map((r) => comparePolicy(base, r, programSeconds));
}

function comparePolicy(b: PolicyRun, p: PolicyRun, programSeconds?: number): PolicyComparison {
  const pair = (get: (r: PolicyRun) => number): Pair => ({ baseline: get(b), policy: get(p) });
  const refusals = pair((r) => anonRefusals(r.metrics));
  const merges = pair((r) => mergeCount(r.metrics));
  const gained = merges.policy - merges.baseline;
  const c: PolicyComparison = {
    policy: p.policy,
    baseline: b.policy,
    anonRefusals: { ...refusals, shareRemaining: refusals.baseline === 0 ? null : refusals.policy / refusals.baseline },
    merges: {
      ...merges,
      gained,
      gainedPer1000Syscalls: b.memorySyscalls ? (1000 * gained) / b.memorySyscalls : 0,
      gainedPerSecond: programSeconds ? gained / programSeconds : null,
    },
    vmas: { peak: pair((r) => r.metrics.vmas.peak), mean: pair((r) => r.vmasMean), atExit: pair((r) => r.vmasAtExit) },
    cost: {
      foliosMoved: p.metrics.policyCost.foliosMoved - b.metrics.policyCost.foliosMoved,
      bytesMoved: (p.metrics.policyCost.foliosMoved - b.metrics.policyCost.foliosMoved) * PAGE_BYTES,
      chainLinksAdded: p.metrics.policyCost.chainLinksAdded - b.metrics.policyCost.chainLinksAdded,
      anonVmas: pair((r) => r.metrics.peak.anonVmas),
      avcs: pair((r) => r.metrics.peak.avcs),
      vmasPerRootMax: pair((r) => r.atAnonPeak.perRoot.vmas.max),
      foliosPerRootMax: pair((r) => r.atAnonPeak.perRoot.folios.max),
      chainLengthMax: pair((r) => r.metrics.chainLength.max),
      rmapAvcsPerWalk: pair((r) => r.atAnonPeak.rmap.avcsPerWalk),
      rmapVmasPerWalk: pair((r) => r.atAnonPeak.rmap.vmasPerWalk),
    },
    changes: false,
  };
  const pairs = [c.anonRefusals, c.merges, c.vmas.peak, c.vmas.mean, c.vmas.atExit, c.cost.anonVmas, c.cost.avcs, c.cost.vmasPerRootMax, c.cost.foliosPerRootMax, c.cost.chainLengthMax, c.cost.rmapAvcsPerWalk, c.cost.rmapVmasPerWalk];
  c.changes = pairs.some((x) => x.baseline !== x.policy) || c.cost.foliosMoved !== 0 || c.cost.chainLinksAdded !== 0;
  if (b.perProgram && p.perProgram) {
    const bp = b.perProgram;
    const pp = p.perProgram;
    c.programs = Object.keys(bp).sort().map((name) => {
      const get = (k: "anonRefusals" | "merges" | "peakVmas" | "vmasAtExit"): Pair => ({ baseline: bp[name][k], policy: pp[name]?.[k] ?? 0 });
      return { name, processes: bp[name].processes, anonRefusals: get("anonRefusals"), merges: get("merges"), peakVmas: get("peakVmas"), vmasAtExit: get("vmasAtExit") };
    });
  }
  return c;
}

const n = (x: number) => (Number.isInteger(x) ? x.toLocaleString("en-US") : x.toLocaleString("en-US", { maximumFractionDigits: 1 })).replace("-", "−");
const signed = (x: number) => `${x >= 0 ? "+" : "−"}${n(Math.abs(x))}`;
const pct = (from: number, to: number) => (from === 0 ? "" : ` (${to >= from ? "+" : "−"}${Math.abs((100 * (to - from)) / from).toFixed(1)} %)`);
const mib = (bytes: number) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(0)} KiB`);

/** One line that says what the policy changes on this input, or that it changes nothing. */
export function headline(c: PolicyComparison): string {
  const who = `${c.policy} vs ${c.baseline}`;
  if (!c.changes) return `${who}: no change on this input (${n(c.anonRefusals.baseline)} anon_vma refusals under both, ${n(c.merges.baseline)} merges)`;
  const peak = c.vmas.peak;
  const parts = [peak.baseline === peak.policy ? `peak VMAs ${n(peak.baseline)} (unchanged)` : `peak VMAs ${n(peak.baseline)} → ${n(peak.policy)}${pct(peak.baseline, peak.policy)}`];
  const r = c.anonRefusals;
  const remain = r.shareRemaining === null ? "none to lift" : `${(100 * r.shareRemaining).toFixed(0)} % remain`;
  parts.push(`anon_vma refusals ${n(r.baseline)} → ${n(r.policy)} (${remain})`);
  const perSecond = c.merges.gainedPerSecond === null ? "" : `, ${signed(c.merges.gainedPerSecond)} per second of the program's run`;
  parts.push(`merges ${signed(c.merges.gained)} (${signed(c.merges.gainedPer1000Syscalls)} per 1,000 memory syscalls${perSecond})`);
  const cost: string[] = [];
  if (c.cost.foliosMoved) cost.push(`${n(c.cost.foliosMoved)} folios moved (${mib(c.cost.bytesMoved)})`);
  if (c.cost.chainLinksAdded) cost.push(`${n(c.cost.chainLinksAdded)} chain links added`);
  const lock = c.cost.foliosPerRootMax;
  if (lock.baseline !== lock.policy) cost.push(`folios under one root anon_vma's lock at the anon_vma peak, at most ${n(lock.baseline)} → ${n(lock.policy)}`);
  parts.push(`cost ${cost.length ? cost.join(", ") : "none"}`);
  return `${who}: ${parts.join("; ")}`;
}
