// `vmalab record`: runs a program under strace and keeps the trace.

import { spawnSync } from "node:child_process";
import { VmalabError } from "../wasm.js";

/** The syscalls a replay uses (trace.ts maps them to scenario ops). */
export const TRACED = [
  "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
  "clone", "clone3", "fork", "vfork", "execve", "exit_group", "exit",
  "openat", "open", "close",
];

/** Runs `cmd args...` under `strace -f`, writing the trace to `out`; returns the program's exit status. */
export function recordTrace(cmd: string, args: string[], out: string): number {
  const r = spawnSync("strace", ["-f", "-q", "-e", `trace=${TRACED.join(",")}`, "-e", "signal=none", "-o", out, "--", cmd, ...args], {
    stdio: "inherit",
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw new VmalabError("ENOENT", "strace is not installed (Debian: apt-get install strace)");
  }
  if (r.error) throw r.error;
  return r.status ?? 128;
}
