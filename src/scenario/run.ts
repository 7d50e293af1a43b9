// Running a scenario on a System and the records it produces.

import { System, type SystemOptions } from "../system.js";
import { VmalabError } from "../wasm.js";
import { parseScenario, type ScenarioOp } from "./parse.js";

export type DumpVma = [start: number, end: number, perms: string, kind: string, anonPages: number, vmflags: string];

export type ScenarioRecord =
  | { op: number; proc: number; errno: string }
  | { dump: number; proc: number; vmas: DumpVma[] }
  | { rmap: number; proc: number; page: number; mapped: [number, number][] };

/**
 * A scenario run in progress: the current process, the record counters, the
 * records so far. With `keep` false no record is kept, and dump and rmap,
 * which only read, are skipped: a run of any length in constant memory.
 */
export class ScenarioRun {
  readonly out: ScenarioRecord[] = [];
  private readonly dumps = new Map<number, number>();
  private rmaps = 0;
  private current = 0;

  constructor(
    private readonly sys: System,
    private readonly keep = true,
  ) {}

  /** One op; a failed syscall becomes an errno record, which it returns (null when the op succeeded). */
  step(op: ScenarioOp): ScenarioRecord | null {
    try {
      this.apply(op);
      return null;
    } catch (err) {
      if (!(err instanceof VmalabError)) throw err;
      const record = { op: op.index, proc: this.current, errno: err.code };
      if (this.keep) this.out.push(record);
      return record;
    }
  }

  private apply(op: ScenarioOp): void {
    if (op.op === "proc") {
      this.sys.process(op.id);
      this.current = op.id;
      return;
    }
    // A spawned process needs nothing of the current one (which may have exited).
    if (op.op === "spawn") {
      this.sys.spawnEmpty(op.child);
      return;
    }
    const p = this.sys.process(this.current);
    switch (op.op) {
      case "mmap":
        p.mmap(op.start, op.pages, op.prot, op.backing, op.opts);
        return;
      case "munmap":
        return p.munmap(op.start, op.pages);
      case "mprotect":
        return p.mprotect(op.start, op.pages, op.prot);
      case "madvise":
        return p.madvise(op.start, op.pages, op.advice);
      case "mremap":
        p.mremap(op.start, op.oldPages, op.newPages, op.opts);
        return;
      case "touch":
        return p.touch(op.start, op.pages, op.access);
      case "restore":
        return p.restore(op.start, op.pages, op.vmFlags, op.backing, op.anon);
      case "fork":
        p.fork(op.child);
        return;
      case "exit":
        return p.exit();
      case "exec":
        p.exec();
        return;
      case "rmap":
        if (!this.keep) return;
        this.out.push({ rmap: this.rmaps++, proc: this.current, page: op.page, mapped: p.rmap(op.page).mappings });
        return;
      case "dump": {
        if (!this.keep) return;
        const k = this.dumps.get(this.current) ?? 0;
        this.dumps.set(this.current, k + 1);
        const vmas = p.vmas().map((v): DumpVma => [v.start, v.end, v.perms, v.kind, v.anonPages, v.flags]);
        this.out.push({ dump: k, proc: this.current, vmas });
      }
    }
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

/** Parses and runs a scenario on a new System. */
export function runScenario(text: string, opts: SystemOptions = {}, file?: string): ScenarioRecord[] {
  return runOps(System.createSync(opts), parseScenario(text, file));
}
