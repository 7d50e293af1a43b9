// Why VMAs merged or stayed apart: the merge attempts the core logged
// (assembly/mergelog.ts), read back and told as mm/vma.c's comments draw
// them, prev | middle | next, with the rule that decided each side.

import { MERGE_KINDS, type MergeCounts, REFUSALS, type RefusalCounts } from "./metrics.js";
import { parseScenario } from "./scenario/parse.js";
import { ScenarioRun } from "./scenario/run.js";
import { System, type KernelLine } from "./system.js";
import { vmFlagsString } from "./vmflags.js";
import { fail } from "./wasm.js";

/** A VMA as it was when the merge was tried (anonVma 0: unfaulted). */
export interface VmaSnapshot {
  start: number;
  end: number;
  anonVma: number;
  pgoff: number;
}

/** "not adjacent", "mergeable", or the reason the side was refused. */
export type SideResult = "not adjacent" | "mergeable" | keyof RefusalCounts;

export interface MergeEvent {
  /** vma_merge_new_range (mmap, mremap's copy), vma_merge_existing_range (mprotect, madvise), or mremap growing a VMA. */
  kind: "new range" | "existing range" | "expand";
  /** The merge done, or null when none was. */
  merged: keyof MergeCounts | null;
  left: SideResult;
  right: SideResult;
  prev: VmaSnapshot | null;
  /** The range being mapped or changed, with the attributes it would have. */
  range: VmaSnapshot & { flags: number; file: number };
  /** The existing VMA the range is part of (existing-range merges). */
  middle: VmaSnapshot | null;
  next: VmaSnapshot | null;
  prevFlags: number | null;
  nextFlags: number | null;
}

const F64S = 24;
const SIDE = (x: number): SideResult => (x === -2 ? "not adjacent" : x === -1 ? "mergeable" : REFUSALS[x]);
const KIND = ["new range", "existing range", "expand"] as const;

function snapshot(f: Float64Array, at: number): VmaSnapshot | null {
  return f[at] < 0 ? null : { start: f[at], end: f[at + 1], anonVma: f[at + 2], pgoff: f[at + 3] };
}

/** Turns the system's merge log on (it costs a record per merge tried) or off. */
export function setMergeLog(sys: System, on: boolean): void {
  const rc = sys.core.ex.sys_merge_log(on ? 1 : 0);
  if (rc < 0) fail(rc, "no memory for the merge log");
}

/** The merges tried since the last call, and how many did not fit in the log. */
export function takeMergeLog(sys: System): { events: MergeEvent[]; dropped: number } {
  const ex = sys.core.ex;
  const n = ex.merge_log_count();
  const f = new Float64Array(sys.core.buffer, ex.merge_log_buffer(), n * F64S);
  const events: MergeEvent[] = [];
  for (let i = 0; i < f.length; i += F64S) {
    const r = f.subarray(i, i + F64S);
    events.push({
      kind: KIND[r[0]],
      merged: r[1] < 0 ? null : MERGE_KINDS[r[1]],
      left: SIDE(r[2]),
      right: SIDE(r[3]),
      prev: snapshot(r, 4),
      range: { ...snapshot(r, 8)!, flags: r[21], file: r[23] },
      middle: snapshot(r, 12),
      next: snapshot(r, 16),
      prevFlags: r[20] < 0 ? null : r[20],
      nextFlags: r[22] < 0 ? null : r[22],
    });
  }
  const dropped = ex.merge_log_dropped();
  ex.merge_log_clear();
  return { events, dropped };
}

/** The rule behind a side's result, in words, under a policy. */
function rule(side: SideResult, e: MergeEvent, left: boolean, policy: string): string {
  const other = left ? e.prev : e.next;
  const otherFlags = left ? e.prevFlags : e.nextFlags;
  const av = (id: number | undefined) => (id ? `anon_vma ${id}` : "no anon_vma");
  switch (side) {
    case "not adjacent":
      if (e.middle && (left ? e.range.start > e.middle.start : e.range.end < e.middle.end)) {
        return `the range ${left ? "starts" : "ends"} inside the middle VMA: no merge on this side (it splits)`;
      }
      return other ? `not adjacent (${other.start}-${other.end})` : "none";
    case "mergeable":
      return "mergeable: same flags, file and anon_vma rules, contiguous pgoff";
    case "flags": {
      const a = new Set(vmFlagsString(otherFlags ?? 0).split(" "));
      const b = new Set(vmFlagsString(e.range.flags).split(" "));
      const only = (x: Set<string>, y: Set<string>) => [...x].filter((f) => !y.has(f)).join(" ") || "-";
      return `refused: vm_flags differ (${left ? "prev" : "next"} only: ${only(a, b)}; range only: ${only(b, a)})`;
    }
    case "file":
      return "refused: a different file (or anonymous against file-backed)";
    case "pgoff": {
      const want = left ? e.prev!.pgoff + (e.prev!.end - e.prev!.start) : e.range.pgoff + (e.range.end - e.range.start);
      const have = left ? e.range.pgoff : e.next!.pgoff;
      return `refused: pgoff not contiguous (${want} would follow, ${have} does)`;
    }
    case "anonForkedTarget":
      return policy === "linux-pre-6.16"
        ? `refused: anon_vma: is_mergeable_anon_vma() wants list_is_singular() on the target's chain; ` +
            `an unfaulted target's chain is empty (the refusal 879bca0a2c4f, "mm/vma: fix incorrectly disallowed anonymous VMA merges", lifted in 6.16) or a fork child's has several links`
        : `refused: anon_vma: the target (${av(other?.anonVma)}) is a fork child (its chain links its parents' anon_vmas); ` +
            `its anon_vma would spread over the range and widen the root lock's reach`;
    case "anonForkedSource":
      return `refused: anon_vma: the range's ${av(e.range.anonVma)} would move into the unfaulted target, but the range is a fork child's`;
    case "anonDifferent":
      return (
        `refused: anon_vma: both faulted, ${av(other?.anonVma)} and ${av(e.range.anonVma)}; folios point at their anon_vma` +
        (policy === "matena-2022" ? " and the absorbed one is shared with a fork (not an unshared root)" : "")
      );
    case "anonPrevNext":
      return `refused: anon_vma: prev (${av(e.prev?.anonVma)}) and next (${av(e.next?.anonVma)}) could each merge, but not both: their anon_vmas differ`;
    case "closeHook":
      return "refused: the VMA the merge would remove has a vm_ops->close hook";
    case "special":
      return "refused: VM_SPECIAL (VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP) never merges";
    case "policy":
      return "refused: the no-merge policy";
    case "maxMapCount":
      return "refused: vm.max_map_count";
  }
}

const cell = (v: VmaSnapshot | null) => (v ? `${v.start}-${v.end}` : "");
const anonCell = (v: VmaSnapshot | null) => (v ? (v.anonVma ? `anon_vma ${v.anonVma}` : "unfaulted") : "");

/** prev | range | next drawn as mm/vma.c's comments do: the range as ****, neighbours as ----. */
export function diagram(e: MergeEvent): string {
  const cols = [
    { label: "prev", v: e.prev, fill: "-" },
    { label: e.kind === "existing range" ? "middle" : "range", v: e.range, fill: "*" },
    { label: "next", v: e.next, fill: "-" },
  ];
  // Each column is `w` wide and starts with its left border; the last present column closes with one more.
  const w = Math.max(12, ...cols.map((c) => Math.max(cell(c.v).length, anonCell(c.v).length) + 2));
  const row = (f: (c: (typeof cols)[number]) => string) =>
    cols.map((c) => (c.v ? ` ${f(c)}` : "").padEnd(w)).join("").trimEnd();
  const last = cols.map((c) => c.v !== null).lastIndexOf(true);
  const bar = cols
    .map((c, i) => (c.v ? `|${c.fill.repeat(w - 1)}${i === last ? "|" : ""}` : " ".repeat(w)))
    .join("")
    .trimEnd();
  const lines = [row((c) => c.label), bar, row((c) => cell(c.v)), row((c) => anonCell(c.v))];
  if (e.middle && (e.middle.start !== e.range.start || e.middle.end !== e.range.end)) {
    lines.push(`  (the range is part of middle VMA ${e.middle.start}-${e.middle.end})`);
  }
  return lines.join("\n");
}

const DONE: Record<keyof MergeCounts, string> = {
  newLeft: "merged: prev grows over the new range",
  newRight: "merged: next grows down over the new range",
  newBoth: "merged: prev grows over the range and next; next is removed",
  existingLeft: "merged: prev grows over the range",
  existingRight: "merged: next grows down over the range",
  existingBoth: "merged: prev grows over the range and next; middle and next are removed",
  partial: "merged (partial)",
  full: "merged (full)",
  expand: "merged: the VMA grows in place",
};

/** One merge attempt as text: the diagram, each side's rule, the outcome. */
export function explainEvent(e: MergeEvent, policy: string): string {
  return [
    diagram(e),
    `  left  (prev): ${rule(e.left, e, true, policy)}`,
    `  right (next): ${rule(e.right, e, false, policy)}`,
    `  => ${e.merged ? DONE[e.merged] : "no merge"}`,
  ].join("\n");
}

/** Runs a scenario under a policy and explains every merge tried, op by op (or for op `only`). */
export function explainScenario(text: string, opts: { policy?: string; kernel?: KernelLine; op?: number; file?: string; zeroPage?: boolean } = {}): string {
  const sys = System.createSync({ policy: opts.policy, kernel: opts.kernel, zeroPage: opts.zeroPage });
  setMergeLog(sys, true);
  const run = new ScenarioRun(sys);
  const ops = parseScenario(text, opts.file);
  if (opts.op !== undefined && !ops.some((o) => o.index === opts.op)) {
    fail(-22, `no op ${opts.op} (the scenario has ops 0 to ${ops.length - 1})`);
  }
  const source = text.split("\n");
  const out: string[] = [`policy ${sys.policy}`];
  for (const op of ops) {
    const before = run.out.length;
    run.step(op);
    const { events, dropped } = takeMergeLog(sys);
    if (opts.op !== undefined && op.index !== opts.op) continue;
    if (events.length === 0 && opts.op === undefined) continue;
    const failed = run.out.slice(before).find((r) => "errno" in r);
    out.push("", `op ${op.index} (line ${op.line}): ${source[op.line - 1].trim()}${failed && "errno" in failed ? ` -> ${failed.errno}` : ""}`);
    if (events.length === 0) out.push("  no merge tried (no adjacent VMA)");
    for (const e of events) out.push(explainEvent(e, sys.policy));
    if (dropped) out.push(`  ... and ${dropped} more merges tried than the log holds`);
  }
  return out.join("\n");
}
