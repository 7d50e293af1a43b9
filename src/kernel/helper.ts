// Running scenarios on the host kernel through native/kernel-helper.c.

import { spawnSync } from "node:child_process";
import { nativeBinary, NativeHelperError } from "../native.js";
import type { ScenarioOp } from "../scenario/parse.js";
import type { ScenarioRecord } from "../scenario/run.js";
import { mmapFlags, mremapFlags } from "../system.js";
import { ADVICE, PROT } from "../vmflags.js";

/** kernel-check could not run a scenario on the kernel (a helper failure, not a difference). */
export class KernelCheckError extends NativeHelperError {}

/** The compiled kernel helper's path. */
export function helperBinary(): string {
  return nativeBinary("kernel-helper", "kernel-check");
}

/** The helper's input for a parsed scenario. */
export function helperInput(ops: ScenarioOp[]): string {
  const files = new Map<string, number>();
  let top = 0;
  let procs = 1;
  const lines: string[] = [];
  for (const o of ops) {
    const i = o.index;
    switch (o.op) {
      case "mmap": {
        top = Math.max(top, o.start + o.pages);
        const flags = mmapFlags(o.backing, o.opts);
        let file = -1;
        let pgoff = 0;
        if (o.backing.kind === "file") {
          if (!files.has(o.backing.name)) files.set(o.backing.name, files.size);
          file = files.get(o.backing.name)!;
          pgoff = o.backing.pgoff;
        }
        lines.push(`mmap ${i} ${o.start} ${o.pages} ${PROT[o.prot]} ${flags} ${file} ${pgoff}`);
        break;
      }
      case "munmap":
        top = Math.max(top, o.start + o.pages);
        lines.push(`munmap ${i} ${o.start} ${o.pages}`);
        break;
      case "mprotect":
        top = Math.max(top, o.start + o.pages);
        lines.push(`mprotect ${i} ${o.start} ${o.pages} ${PROT[o.prot]}`);
        break;
      case "madvise":
        top = Math.max(top, o.start + o.pages);
        lines.push(`madvise ${i} ${o.start} ${o.pages} ${ADVICE[o.advice]}`);
        break;
      case "mremap": {
        const flags = mremapFlags(o.opts);
        top = Math.max(top, o.start + Math.max(o.oldPages, o.newPages), (o.opts.fixed ?? 0) + o.newPages);
        lines.push(`mremap ${i} ${o.start} ${o.oldPages} ${o.newPages} ${flags} ${o.opts.fixed ?? 0}`);
        break;
      }
      case "touch":
        top = Math.max(top, o.start + o.pages);
        lines.push(`touch ${i} ${o.start} ${o.pages} ${o.access === "w" ? 1 : 0}`);
        break;
      case "rmap":
        top = Math.max(top, o.page + 1);
        lines.push(`rmap ${i} ${o.page}`);
        break;
      case "fork":
        procs = Math.max(procs, o.child + 1);
        lines.push(`fork ${i} ${o.child}`);
        break;
      case "proc":
        procs = Math.max(procs, o.id + 1);
        lines.push(`proc ${i} ${o.id}`);
        break;
      case "exec":
      case "spawn":
      case "restore":
        throw new KernelCheckError(`kernel-check cannot run ${o.op} (a trace replay's op): the helper forks, it does not exec`);
      default:
        lines.push(`${o.op} ${i}`);
    }
  }
  if (procs > 256) throw new KernelCheckError(`kernel-check runs process ids 0 to 255 (the helper's table), got ${procs - 1}`);
  const header = [`arena ${top + 64}`, `procs ${procs}`, ...[...files].map(([name, k]) => `file ${k} ${name}`)];
  return [...header, ...lines, ""].join("\n");
}

/** Runs the ops on the host kernel; returns the records it produced. */
export function runOnKernel(ops: ScenarioOp[]): ScenarioRecord[] {
  const r = spawnSync(helperBinary(), [], { input: helperInput(ops), encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.error) throw new KernelCheckError(`running the kernel helper failed: ${r.error.message}`);
  if (r.status !== 0) throw new KernelCheckError(`the kernel helper failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ScenarioRecord);
}
