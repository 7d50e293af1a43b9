// `vmalab record`: runs a program under perf trace (syscalls and page
// faults) or strace (syscalls only) and writes the recording (file.ts): a
// header naming the program and the host, with --check the kernel's
// snapshots of each process (native/snapshot-helper.c), then the trace.
// A name ending in .gz is written gzip-compressed.

import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { release, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { checkOutput, writeOutput } from "../files.js";
import { probeHost } from "../kernel/host.js";
import { nativeBinary } from "../native.js";
import { VmalabError } from "../wasm.js";
import { formatTraceFile } from "./file.js";

/** The syscalls a replay uses (replay.ts maps them to scenario ops). */
export const TRACED = [
  "mmap", "munmap", "mprotect", "mremap", "madvise", "brk",
  "clone", "clone3", "fork", "vfork", "execve", "exit_group", "exit",
  "openat", "open", "close", "shmget", "shmat", "shmdt",
];
/** Faults from user mode and from the kernel touching user memory (copy_to_user...). */
const FAULTS = ["exceptions:page_fault_user", "exceptions:page_fault_kernel"];

export type Tracer = "perf" | "strace";
/**
 * perf's ring buffer per CPU: a fault storm (a compiler's heap) overruns the
 * default. perf trace also sorts events (--sort-events): unsorted, a thread
 * that moved to another CPU inside a syscall had its return printed first
 * and lost.
 */
const PERF_BUFFER = "16M";

export interface RecordOptions {
  tracer?: Tracer;
  /** Also save the kernel's view of each process after execve and at exit (perf only: strace and the helper both need ptrace). */
  check?: boolean;
  /** The header's program name and version (default: the command's base name, no version). */
  program?: string;
  version?: string;
}

/** Whether `perf trace` works here (installed, and allowed to trace: root or a low perf_event_paranoid). */
export function perfTraceWorks(): boolean {
  const r = spawnSync("perf", ["trace", "-e", `exit_group,${FAULTS[0]}`, "-o", "/dev/null", "--", "true"], { stdio: "ignore" });
  return r.status === 0;
}

/** perf trace where it works (faults tell when anon_vmas are born), else strace. */
export function defaultTracer(): Tracer {
  return perfTraceWorks() ? "perf" : "strace";
}

/** A recording under way: the tracer's command line and where its outputs go until they are put together. */
interface Recording {
  tracer: Tracer;
  argv: string[];
  dir: string;
  header: Record<string, string>;
  check: boolean;
}

function prepare(cmd: string, args: string[], out: string, opts: RecordOptions): Recording {
  if (!findProgram(cmd)) throw new VmalabError("ENOENT", `no program '${cmd}' to record (not a file, nor found in PATH)`);
  checkOutput(out);
  const tracer = opts.tracer ?? defaultTracer();
  const check = opts.check === true;
  if (check && tracer !== "perf") {
    throw new VmalabError("EINVAL", "record --check needs perf trace (strace and the snapshot helper would both trace with ptrace)");
  }
  const host = probeHost();
  const helper = check ? nativeBinary("snapshot-helper", "record --check") : "";
  const dir = mkdtempSync(join(tmpdir(), "vmalab-record-"));
  const program = check ? [helper, join(dir, "snapshots"), "--", cmd, ...args] : [cmd, ...args];
  const traced = join(dir, "trace");
  const argv =
    tracer === "perf"
      ? ["trace", "--sort-events", "-m", PERF_BUFFER, "-e", [...TRACED, ...FAULTS].join(","), "-o", traced, "--", ...program]
      : ["-f", "-q", "-e", `trace=${TRACED.join(",")}`, "-e", "signal=none", "-o", traced, "--", ...program];
  const header: Record<string, string> = {
    program: opts.program ?? basename(cmd),
    ...(opts.version ? { version: opts.version } : {}),
    command: [cmd, ...args].join(" "),
    kernel: release(),
    thp: host.thp,
    "zero-page": host.zeroPage ? "yes" : "no",
    tracer,
    ...(check ? { recorder: "snapshot-helper" } : {}),
  };
  return { tracer, argv, dir, header, check };
}

/** Whether `cmd` names a program that can be run: a path to an executable file, or one found in PATH. */
function findProgram(cmd: string): boolean {
  const runnable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes("/")) return runnable(cmd);
  return (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && runnable(join(dir, cmd)));
}

/** Puts the recording together in `out` once the tracer has exited; returns the program's exit status. */
function finish(rec: Recording, status: number | null, error: Error | undefined, out: string): number {
  try {
    if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
      const pkg = rec.tracer === "perf" ? "linux-perf" : "strace";
      throw new VmalabError("ENOENT", `${rec.tracer} is not installed (Debian: apt-get install ${pkg})`);
    }
    if (error) throw error;
    let trace: string;
    try {
      trace = readFileSync(join(rec.dir, "trace"), "utf8");
    } catch {
      throw new VmalabError("EIO", `${rec.tracer} wrote no trace (exit ${status}): is tracing allowed here (root, or perf_event_paranoid)?`);
    }
    // The helper exits 125 when it could not start, 127 when the program was not found.
    if (rec.check && (status === 125 || status === 127)) throw new VmalabError("ENOENT", `record --check: '${rec.header.command}' did not start`);
    const snapshots = rec.check ? readFileSync(join(rec.dir, "snapshots"), "utf8").split("\n").filter(Boolean) : [];
    const text = formatTraceFile(rec.header, snapshots, trace);
    writeOutput(out, out.endsWith(".gz") ? gzipSync(text) : text);
    return status ?? 128;
  } finally {
    rmSync(rec.dir, { recursive: true, force: true });
  }
}

/** Runs `cmd args...` under the tracer and writes the recording to `out`; returns the program's exit status. */
export function recordTrace(cmd: string, args: string[], out: string, opts: RecordOptions = {}): number {
  const rec = prepare(cmd, args, out, opts);
  const r = spawnSync(rec.tracer, rec.argv, { stdio: "inherit" });
  return finish(rec, r.status, r.error, out);
}

/**
 * recordTrace() for a program that runs while the caller drives it (a
 * server under load): `started` resolves once the tracer is running, `done`
 * with the program's exit status once the recording is written.
 */
export function startRecording(cmd: string, args: string[], out: string, opts: RecordOptions = {}): Promise<number> {
  const rec = prepare(cmd, args, out, opts);
  return new Promise((resolve, reject) => {
    const child = spawn(rec.tracer, rec.argv, { stdio: ["ignore", "ignore", "inherit"] });
    let error: Error | undefined;
    child.once("error", (e) => (error = e));
    child.once("close", (status) => {
      try {
        resolve(finish(rec, status, error, out));
      } catch (err) {
        reject(err);
      }
    });
  });
}
