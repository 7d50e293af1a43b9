// Running scenarios on the host kernel through native/kernel-helper.c, which
// the package ships as source and compiles with the system C compiler on
// first use (cached per user, keyed by the source's hash).

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ScenarioOp } from "../scenario/parse.js";
import type { ScenarioRecord } from "../scenario/run.js";
import { mmapFlags, mremapFlags } from "../system.js";
import { ADVICE, PROT } from "../vmflags.js";

const SOURCE = new URL("../../native/kernel-helper.c", import.meta.url);
export class KernelCheckError extends Error {}

/** Where the helper and what it found are kept, per user. */
export function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "vmalab");
}

/** The compiled helper's path, compiling it if needed. */
export function helperBinary(): string {
  if (process.platform !== "linux") throw new KernelCheckError(`kernel-check needs Linux (this is ${process.platform})`);
  const source = readFileSync(SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const bin = join(dir, `kernel-helper-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC ?? "cc";
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync(cc, ["-O2", "-Wall", "-o", tmp, SOURCE.pathname], { encoding: "utf8" });
  if (r.error) throw new KernelCheckError(`kernel-check needs a C compiler: running '${cc}' failed (${r.error.message}); install gcc or set CC`);
  if (r.status !== 0) throw new KernelCheckError(`compiling the kernel helper with '${cc}' failed:\n${r.stderr}`);
  renameSync(tmp, bin);
  return bin;
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
        throw new KernelCheckError(`kernel-check cannot run ${o.op} (a trace replay's op): the helper forks, it does not exec`);
      default:
        lines.push(`${o.op} ${i}`);
    }
  }
  if (procs > 256) throw new KernelCheckError("kernel-check runs at most 256 processes");
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
