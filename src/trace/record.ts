// `vmalab record`: runs a program under perf trace (syscalls and page
// faults) or strace (syscalls only) and keeps the trace.

import { spawnSync } from "node:child_process";
import { VmalabError } from "../wasm.js";

/** The syscalls a replay uses (replay.ts maps them to scenario ops). */
export const TRACED = [
  "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
  "clone", "clone3", "fork", "vfork", "execve", "exit_group", "exit",
  "openat", "open", "close",
];
/** Faults from user mode and from the kernel touching user memory (copy_to_user...). */
const FAULTS = ["exceptions:page_fault_user", "exceptions:page_fault_kernel"];

export type Tracer = "perf" | "strace";

/** Whether `perf trace` works here (installed, and allowed to trace: root or a low perf_event_paranoid). */
export function perfTraceWorks(): boolean {
  const r = spawnSync("perf", ["trace", "-e", `exit_group,${FAULTS[0]}`, "-o", "/dev/null", "--", "true"], { stdio: "ignore" });
  return r.status === 0;
}

/** perf trace where it works (faults tell when anon_vmas are born), else strace. */
export function defaultTracer(): Tracer {
  return perfTraceWorks() ? "perf" : "strace";
}

/** Runs `cmd args...` under the tracer, writing the trace to `out`; returns the program's exit status. */
export function recordTrace(cmd: string, args: string[], out: string, tracer: Tracer = defaultTracer()): number {
  const argv =
    tracer === "perf"
      ? ["trace", "-e", [...TRACED, ...FAULTS].join(","), "-o", out, "--", cmd, ...args]
      : ["-f", "-q", "-e", `trace=${TRACED.join(",")}`, "-e", "signal=none", "-o", out, "--", cmd, ...args];
  const r = spawnSync(tracer, argv, { stdio: "inherit" });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    const pkg = tracer === "perf" ? "linux-perf" : "strace";
    throw new VmalabError("ENOENT", `${tracer} is not installed (Debian: apt-get install ${pkg})`);
  }
  if (r.error) throw r.error;
  return r.status ?? 128;
}
