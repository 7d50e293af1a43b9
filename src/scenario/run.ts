// Running a scenario on a System and the records it produces (design.md §6).

import { System, type SystemOptions } from "../system.js";
import { VmalabError } from "../wasm.js";
import { parseScenario, type ScenarioOp } from "./parse.js";

export type DumpVma = [start: number, end: number, perms: string, kind: string, anonPages: number, vmflags: string];

export type ScenarioRecord =
  | { op: number; proc: number; errno: string }
  | { dump: number; proc: number; vmas: DumpVma[] }
  | { rmap: number; proc: number; page: number; mapped: [number, number][] };

/** Runs the ops on `sys` (process 0 is current at the start) and returns the records in op order. */
export function runOps(sys: System, ops: ScenarioOp[]): ScenarioRecord[] {
  const out: ScenarioRecord[] = [];
  const dumps = new Map<number, number>();
  let rmaps = 0;
  let current = 0;
  for (const op of ops) {
    try {
      if (op.op === "proc") {
        sys.process(op.id);
        current = op.id;
        continue;
      }
      const p = sys.process(current);
      switch (op.op) {
        case "mmap":
          p.mmap(op.start, op.pages, op.prot, op.backing, op.opts);
          break;
        case "munmap":
          p.munmap(op.start, op.pages);
          break;
        case "mprotect":
          p.mprotect(op.start, op.pages, op.prot);
          break;
        case "madvise":
          p.madvise(op.start, op.pages, op.advice);
          break;
        case "mremap":
          p.mremap(op.start, op.oldPages, op.newPages, op.opts);
          break;
        case "touch":
          p.touch(op.start, op.pages, op.access);
          break;
        case "rmap":
          out.push({ rmap: rmaps++, proc: current, page: op.page, mapped: p.rmap(op.page) });
          break;
        case "fork":
          p.fork(op.child);
          break;
        case "exit":
          p.exit();
          break;
        case "dump": {
          const k = dumps.get(current) ?? 0;
          dumps.set(current, k + 1);
          const vmas = p.vmas().map((v): DumpVma => [v.start, v.end, v.perms, v.kind, v.anonPages, v.flags]);
          out.push({ dump: k, proc: current, vmas });
          break;
        }
      }
    } catch (err) {
      if (!(err instanceof VmalabError)) throw err;
      out.push({ op: op.index, proc: current, errno: err.code });
    }
  }
  return out;
}

/** Parses and runs a scenario on a new System. */
export function runScenario(text: string, opts: SystemOptions = {}, file?: string): ScenarioRecord[] {
  const ops = parseScenario(text, file);
  return runOps(System.createSync(opts), ops);
}
