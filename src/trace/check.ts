// The fidelity check of a replay: at each process's exit, the replay's
// address space against the kernel's own (the exit snapshot): VMA boundaries
// and permissions, anonymous or file, and Anonymous pages per VMA. Every
// difference is given the cause that explains it, or "unexplained".

import { type ThpMode, thpCapable } from "../kernel/host.js";
import type { DumpVma } from "../scenario/run.js";
import type { VmaInfo } from "../system.js";
import { isAnonymous, type SnapshotVma } from "./snapshot.js";

/** User addresses end at TASK_SIZE (47 bits on x86-64), in pages; [vsyscall] lies above. */
export const TASK_SIZE_PAGES = 2 ** 35;

export interface ProgramFidelity {
  name: string;
  /** Exit snapshots compared. */
  snapshots: number;
  /** Kernel VMAs compared, over all of them. */
  vmas: number;
  /** Kernel VMAs the replay has with the same start, end, perms and anonymous-or-file kind. */
  boundariesExact: number;
  /** Of those, the ones whose Anonymous pages agree too. */
  anonExact: number;
}

export interface FidelityDifference {
  program: string;
  pid: number;
  /** "[start, end)" in pages. */
  vma: string;
  kernel: string;
  replay: string;
  cause: string;
}

export interface FidelityReport {
  programs: ProgramFidelity[];
  differences: FidelityDifference[];
  /** Exit snapshots the replay had no process to compare with. */
  unmatched: number;
}

const range = (v: { start: number; end: number }) => `[${v.start}, ${v.end})`;
const kernelText = (v: SnapshotVma) => `${range(v)} ${v.perms} ${v.path || "anon"} anon=${v.anonPages} ${v.vmFlags}`;
const replayText = (vs: VmaInfo[]) => vs.map((v) => `${range(v)} ${v.perms} ${v.kind} anon=${v.anonPages} ${v.flags}`).join("; ") || "nothing mapped";
const asDump = (v: SnapshotVma): DumpVma => [v.start, v.end, v.perms, isAnonymous(v) ? "anon" : "file", v.anonPages, v.vmFlags];

/** The VMAs of a list sorted by start (none overlapping) that overlap [start, end). */
function within<V extends { start: number; end: number }>(vmas: V[], start: number, end: number): V[] {
  let lo = 0;
  let hi = vmas.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (vmas[mid].end <= start) lo = mid + 1;
    else hi = mid;
  }
  let i = lo;
  while (i < vmas.length && vmas[i].start < end) i++;
  return vmas.slice(lo, i);
}

/** Gathers the comparisons of a replay's exits, per program name. */
export class FidelityCheck {
  private readonly programs = new Map<string, ProgramFidelity>();
  readonly differences: FidelityDifference[] = [];
  unmatched = 0;

  constructor(private readonly thp: ThpMode) {}

  /** Compares one process at its exit: the kernel's VMAs with the replay's. */
  compare(program: string, pid: number, kernel: SnapshotVma[], replay: VmaInfo[]): void {
    let p = this.programs.get(program);
    if (!p) this.programs.set(program, (p = { name: program, snapshots: 0, vmas: 0, boundariesExact: 0, anonExact: 0 }));
    p.snapshots++;
    const byStart = new Map(replay.map((v) => [v.start, v]));
    const user = kernel.filter((v) => v.end <= TASK_SIZE_PAGES);
    const thpCapableStarts = new Set(thpCapable(user.map(asDump), this.thp).map((d) => d[0]));
    for (const k of user) {
      p.vmas++;
      const r = byStart.get(k.start);
      const kindAgrees = r !== undefined && (r.kind === "anon" || r.kind.startsWith("shared-anon")) === isAnonymous(k);
      const overlapping = () => within(replay, k.start, k.end);
      const differ = (cause: string) =>
        this.differences.push({ program, pid, vma: range(k), kernel: kernelText(k), replay: replayText(overlapping()), cause });
      if (!r || r.end !== k.end || r.perms !== k.perms || !kindAgrees) {
        differ(boundaryCause(k, overlapping()));
        continue;
      }
      p.boundariesExact++;
      if (r.anonPages === k.anonPages) {
        p.anonExact++;
      } else if (k.anonPages > r.anonPages && thpCapableStarts.has(k.start)) {
        differ(`THP (${this.thp}): the kernel may back this VMA with huge pages; vmalab models 4 KiB folios`);
      } else if (k.anonPages > r.anonPages) {
        differ("faults the trace did not show (pages the kernel wrote without a user fault, or lost events)");
      } else {
        differ("pages the kernel dropped without a syscall vmalab replays (MADV_FREE reclaim, swap-out, MADV_PAGEOUT)");
      }
    }
    // What the replay maps where the kernel maps nothing.
    for (const r of replay) {
      if (within(user, r.start, r.end).length) continue;
      this.differences.push({ program, pid, vma: range(r), kernel: "nothing mapped", replay: replayText([r]), cause: "unexplained" });
    }
  }

  /**
   * Once the replay has ended: a process some of whose calls the trace lost
   * the arguments or the return of (perf printed one without the other) has
   * its otherwise unexplained differences explained by them.
   */
  explainLostCalls(lost: { pid: number; name: string }[]): void {
    for (const d of this.differences) {
      if (!d.cause.startsWith("unexplained")) continue;
      const names = [...new Set(lost.filter((l) => l.pid === d.pid).map((l) => l.name))];
      if (names.length) d.cause = `calls the trace lost half of (${names.join(", ")}: perf printed a call without its return or the other way round)`;
    }
  }

  /** Once the replay has ended: when the tracer said it lost events, they explain what nothing else does. */
  explainLostEvents(count: number): void {
    if (count === 0) return;
    for (const d of this.differences) {
      if (d.cause.startsWith("unexplained")) d.cause = `events the tracer lost (it reported ${count} lost: the trace misses calls or faults)`;
    }
  }

  report(): FidelityReport {
    return { programs: [...this.programs.values()], differences: this.differences, unmatched: this.unmatched };
  }
}

/** Why a kernel VMA's boundaries or perms are not the replay's. */
function boundaryCause(k: SnapshotVma, replay: VmaInfo[]): string {
  if (k.path.startsWith("[") && k.path !== "[stack]" && k.path !== "[heap]") return `a mapping the kernel made that no syscall shows (${k.path})`;
  if (replay.length === 0) return "unexplained: the replay has nothing mapped here";
  return "unexplained";
}

/** The report as text: agreement per program, then every difference with its cause. */
export function formatFidelity(r: FidelityReport): string {
  const pct = (a: number, b: number) => (b === 0 ? "-" : `${((100 * a) / b).toFixed(1)} %`);
  const lines = ["fidelity at each process's exit (kernel's smaps against the replay):"];
  for (const p of r.programs) {
    lines.push(
      `  ${p.name}: ${p.snapshots} exits, ${p.vmas} VMAs; boundaries and perms exact ${p.boundariesExact} (${pct(p.boundariesExact, p.vmas)}), ` +
        `Anonymous exact ${p.anonExact} (${pct(p.anonExact, p.vmas)})`,
    );
  }
  if (r.unmatched) lines.push(`  exit snapshots with no process in the replay to compare with: ${r.unmatched}`);
  for (const d of r.differences) {
    lines.push(`  ${d.program} ${d.pid} ${d.vma}: ${d.cause}`, `    kernel: ${d.kernel}`, `    replay: ${d.replay}`);
  }
  return lines.join("\n");
}
