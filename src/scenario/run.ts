// Running a scenario on a System and the records it produces.

import type { System } from "../system.js";
import { VmalabError } from "../wasm.js";
import type { ScenarioOp } from "./parse.js";

export type DumpVma = [start: number, end: number, perms: string, kind: string, anonPages: number, vmflags: string];

export type ScenarioRecord =
  | { op: number; proc: number; errno: string }
  | { dump: number; proc: number; vmas: DumpVma[] }
  | { rmap: number; proc: number; page: number; mapped: [number, number][] };

/** What a run keeps: its records in `out` (`keep`), and whether it runs the ops that only read (dump, rmap). */
export interface RunOptions {
  keep?: boolean;
  reads?: boolean;
}

/**
 * A scenario run in progress: the current process, the record counters, the
 * records so far. Without `keep` no record is kept (each is returned), and
 * without `reads` dump and rmap are skipped: a run of any length in
 * constant memory.
 */
export class ScenarioRun {
  readonly out: ScenarioRecord[] = [];
  private readonly dumps = new Map<number, number>();
  private rmaps = 0;
  private current = 0;
  private readonly keep: boolean;
  private readonly reads: boolean;

  constructor(
    private readonly sys: System,
    opts: RunOptions = {},
  ) {
    this.keep = opts.keep !== false;
    this.reads = opts.reads !== false;
  }

  /** One op; returns its record (a failed syscall's errno, a dump, an rmap), or null. */
  step(op: ScenarioOp): ScenarioRecord | null {
    let record: ScenarioRecord | null;
    // A failed syscall is an errno record, its error's stack never shown: taking one costs more than the op.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      record = this.apply(op);
    } catch (err) {
      if (!(err instanceof VmalabError)) {
        Error.stackTraceLimit = stackTraceLimit;
        throw err;
      }
      record = { op: op.index, proc: this.current, errno: err.code };
    } finally {
      Error.stackTraceLimit = stackTraceLimit;
    }
    if (record && this.keep) this.out.push(record);
    return record;
  }

  private apply(op: ScenarioOp): ScenarioRecord | null {
    if (op.op === "proc") {
      this.sys.process(op.id);
      this.current = op.id;
      return null;
    }
    // A spawned process needs nothing of the current one (which may have exited).
    if (op.op === "spawn") {
      this.sys.spawnEmpty(op.child);
      return null;
    }
    const p = this.sys.process(this.current);
    switch (op.op) {
      case "mmap":
        p.mmap(op.start, op.pages, op.prot, op.backing, op.opts);
        return null;
      case "munmap":
        p.munmap(op.start, op.pages);
        return null;
      case "mprotect":
        p.mprotect(op.start, op.pages, op.prot);
        return null;
      case "madvise":
        p.madvise(op.start, op.pages, op.advice);
        return null;
      case "mremap":
        p.mremap(op.start, op.oldPages, op.newPages, op.opts);
        return null;
      case "touch":
        p.touch(op.start, op.pages, op.access);
        return null;
      case "restore":
        p.restore(op.start, op.pages, op.vmFlags, op.backing, op.anon);
        return null;
      case "fork":
        p.fork(op.child);
        return null;
      case "exit":
        p.exit();
        return null;
      case "exec":
        p.exec();
        return null;
      case "rmap":
        if (!this.reads) return null;
        return { rmap: this.rmaps++, proc: this.current, page: op.page, mapped: p.rmap(op.page).mappings };
      case "dump": {
        if (!this.reads) return null;
        const k = this.dumps.get(this.current) ?? 0;
        this.dumps.set(this.current, k + 1);
        const vmas = p.vmas().map((v): DumpVma => [v.start, v.end, v.perms, v.kind, v.anonPages, v.flags]);
        return { dump: k, proc: this.current, vmas };
      }
    }
    return null;
  }
}

/**
 * Runs the ops on `sys` (process 0 is current at the start) and returns the
 * records in op order; `afterOp` (tests use it for invariant checks) runs
 * after every op.
 */
export function runOps(sys: System, ops: ScenarioOp[], afterOp?: (op: ScenarioOp) => void): ScenarioRecord[] {
  const run = new ScenarioRun(sys);
  for (const op of ops) {
    run.step(op);
    afterOp?.(op);
  }
  return run.out;
}
