// From a traced program's syscalls to a scenario that replays
// them at the traced addresses. What the trace cannot show is rebuilt by the
// rules below and counted, never guessed silently:
//
// - Threads share their process's address space: a clone with CLONE_VM is
//   the same process. A vfork child (CLONE_VM|CLONE_VFORK, as posix_spawn
//   makes) runs in its parent's mm until it execs: its faults land there,
//   and its execve leaves as a process of its own (`spawn`); an _exit before
//   that ends only itself.
// - execve gives the process a new address space (`exec`). A recording made
//   with --check holds the kernel's snapshot of the layout execve built (the
//   program, ld.so, stack, vdso): the replay restores it exactly (`restore`).
//   Without one, when a call that succeeded in the trace (mprotect, madvise,
//   mremap) meets memory the replay has not mapped, that memory is first
//   mapped as a private read-only file `[execve]` covering the call's range:
//   counted as `reconstructed`.
// - In a recording made with --check, the first process is the recorder
//   (native/snapshot-helper.c): its own calls are not replayed, and the
//   program it starts begins as a process of its own (`spawn`).
// - Page faults come only with perf trace (exceptions:page_fault_user and
//   _kernel): each becomes a one-page touch, a write when the error code says
//   so. A fault on memory the replay has not mapped, or that its VMA does not
//   allow, is not replayed (counted). An strace trace has no faults: no page
//   is touched, so no anon_vma is born and anonymous VMAs merge as unfaulted
//   ones do.
// - perf trace hides clone3's flags: a clone3 child is taken for a thread;
//   if a thread execs, it leaves as a process of its own with an empty
//   address space (`spawn`), as posix_spawn's CLONE_VM|CLONE_VFORK child
//   does. perf shows file names as pointers: each open is a file of its own.
// - A call that failed in the trace is not replayed (counted).
// - strace may show a fork child's first calls before its parent's fork
//   returns: they are replayed just after the fork.

import type { ThpMode } from "../kernel/host.js";
import { quoted } from "../quote.js";
import type { Op, ScenarioOp } from "../scenario/parse.js";
import { ScenarioRun } from "../scenario/run.js";
import { type Backing, type KernelLine, kernelLineOf, type MmapOptions, type MremapOptions, System } from "../system.js";
import { type Advice, type Prot, vmFlagsFromString } from "../vmflags.js";
import { OpStream } from "../workload/stream.js";
import { FidelityCheck, type FidelityReport, TASK_SIZE_PAGES } from "./check.js";
import { newParseStats, type ParseStats, type TraceEvent, unreadable } from "./events.js";
import type { RecordingHead } from "./file.js";
import { isAnonymous, type Snapshot, type SnapshotVma } from "./snapshot.js";

const PAGE = 4096;
/** Faults run in one batch at most (a batch's records are 48 bytes each). */
const FAULT_BATCH = 4096;

export interface ReplayStats extends ParseStats {
  /** Syscalls read, by name. */
  calls: Record<string, number>;
  /** Calls that failed in the trace (not replayed). */
  failed: number;
  /** Calls of a process the replay does not have (it exited, or the trace never showed it being born): not replayed. */
  callsWithoutProcess: number;
  /** Syscalls vmalab does not model, by name (not replayed). */
  unknown: Record<string, number>;
  /** Calls whose return the trace shows without their arguments (not replayed), by name. */
  argsLost: Record<string, number>;
  /** Calls whose return the trace lost (their thread went on): replayed with the return their arguments imply, by name. */
  returnsInferred: Record<string, number>;
  /** Calls whose return the trace lost and their arguments do not imply (not replayed), by name. */
  returnsLost: Record<string, number>;
  /** Calls with an argument vmalab cannot express (an advice it lacks, PROT_WRITE without read...), by what. */
  approximated: Record<string, number>;
  processes: number;
  threads: number;
  execs: number;
  /** [execve] mappings made for memory the trace did not show. */
  reconstructed: number;
  /** execs that started from the kernel's snapshot of the layout execve built. */
  execsFromSnapshot: number;
  /** Page faults replayed (none from strace), and those not replayed (unmapped or not allowed there). */
  faults: number;
  faultsSkipped: number;
  /** The trace lines of the first faults not replayed (at most 20). */
  faultsSkippedLines: number[];
  /** Faults the kernel took inside execve, writing the new image: part of what execve built, not replayed. */
  faultsInExec: number;
  /** Ops of the scenario. */
  ops: number;
  /** The file ended early (a gzip stream cut off): the trace is what could be read. */
  cut: boolean;
}

const PROT_BITS: Record<string, number> = { PROT_NONE: 0, PROT_READ: 1, PROT_WRITE: 2, PROT_EXEC: 4 };
const ADVICES: Record<string, Advice> = {
  MADV_NORMAL: "normal",
  MADV_RANDOM: "random",
  MADV_SEQUENTIAL: "sequential",
  MADV_DONTNEED: "dontneed",
  MADV_DONTFORK: "dontfork",
  MADV_DOFORK: "dofork",
  MADV_MERGEABLE: "mergeable",
  MADV_UNMERGEABLE: "unmergeable",
  MADV_HUGEPAGE: "hugepage",
  MADV_NOHUGEPAGE: "nohugepage",
  MADV_DONTDUMP: "dontdump",
  MADV_DODUMP: "dodump",
  MADV_WIPEONFORK: "wipeonfork",
  MADV_KEEPONFORK: "keeponfork",
};
/** Advices that change no VMA (page-level only): nothing to replay. */
const PAGE_ADVICES = new Set(["MADV_FREE", "MADV_WILLNEED", "MADV_COLD", "MADV_PAGEOUT", "MADV_REMOVE", "MADV_POPULATE_READ", "MADV_POPULATE_WRITE"]);
const MEMORY = new Set(["mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "shmget", "shmat", "shmdt"]);
/** shmat()'s SHM_RDONLY and SHM_EXEC. */
const SHM_RDONLY = 0o10000;
const SHM_EXEC = 0o100000;
const CLONES = new Set(["clone", "clone3", "fork", "vfork"]);
const PROCESS = new Set([...CLONES, "execve", "exit_group", "exit"]);
const FILES = new Set(["openat", "open", "close"]);

const num = (s: string | undefined): number => (s === undefined || s === "NULL" ? 0 : Number(s));
const flagSet = (s: string | undefined) => new Set((s ?? "").split("|").map((f) => f.trim()));
const pagesOf = (bytes: number) => Math.ceil(bytes / PAGE);
/** A file name as one scenario word (no spaces or '@'). */
const fileWord = (path: string) => path.replace(/[%@\s]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`);

/**
 * What a clone-family call made: a child sharing its parent's mm (a thread,
 * or until it execs a vfork child), or a process of its own. When perf hid
 * clone3's flags the child is taken to share until an exec (see the rules above).
 */
function cloneKind(name: string, args: string[]): { sharesMm: boolean; untilExec: boolean; hidden: boolean } {
  const flagText = /flags=([A-Za-z_|0-9]+)/.exec(args.join(","))?.[1];
  const flags = flagSet(flagText);
  const vm = name === "vfork" || flags.has("CLONE_VM");
  const vfork = name === "vfork" || flags.has("CLONE_VFORK");
  const hidden = name === "clone3" && flagText === undefined;
  return { sharesMm: hidden || vm, untilExec: hidden || (vm && vfork), hidden };
}

export interface ReplayOptions {
  /** Stop at the first unreadable line (TraceSyntaxError) instead of counting it. */
  strict?: boolean;
  /** The shared zero page; default: what the recording's header says, else true. */
  zeroPage?: boolean;
  /** The kernel line whose rules the replay follows; default: the recording's kernel when it is one vmalab models, else 6.18. */
  kernel?: KernelLine;
}


/** Where a replay's ops go, in order, each once the replay has applied it to its own System. */
export interface ReplaySink {
  /** Before the first op: the replay's zero page setting and kernel line, and the names of its processes (filled in as the replay goes). */
  begin?(replay: { zeroPage: boolean; kernel: KernelLine; programs: Record<number, string> }): void;
  /** `line`: the trace line of the event the op replays (0 for ops the replay adds: proc, dump); `time`: the event's time in ms, where the trace has times. */
  op(op: ScenarioOp, line: number, time: number | undefined): void;
}

/** What a replay found, once the trace has ended. */
export interface ReplayResult {
  stats: ReplayStats;
  /** Each process of the scenario (by its id there) named by its program: from its exec's snapshot, its command at exit, or its parent's. */
  programs: Record<number, string>;
  /** The replay against the kernel's exit snapshots, for a recording that has them. */
  fidelity: FidelityReport | null;
  /** The shared zero page, as the options or the recording's header had it. */
  zeroPage: boolean;
  /** The kernel line the replay followed. */
  kernel: KernelLine;
}

/** A replay in progress: the trace's events go in as they are read (`enter`) and in time order (`leave`). */
export interface ReplayRun {
  stats: ReplayStats;
  enter(e: TraceEvent): void;
  leave(e: TraceEvent): void;
  end(): ReplayResult;
}

export const newReplayStats = (): ReplayStats => ({
  ...newParseStats(),
  calls: {},
  failed: 0,
  callsWithoutProcess: 0,
  argsLost: {},
  returnsInferred: {},
  returnsLost: {},
  unknown: {},
  approximated: {},
  processes: 0,
  threads: 0,
  execs: 0,
  reconstructed: 0,
  execsFromSnapshot: 0,
  faults: 0,
  faultsSkipped: 0,
  faultsSkippedLines: [],
  faultsInExec: 0,
  ops: 0,
  cut: false,
});

/** The recording's snapshots of one kind, per pid, in order. */
function snapshotQueues(snapshots: Snapshot[], when: Snapshot["when"]): Map<number, Snapshot[]> {
  const q = new Map<number, Snapshot[]>();
  for (const s of snapshots) {
    if (s.when !== when) continue;
    if (!q.has(s.pid)) q.set(s.pid, []);
    q.get(s.pid)!.push(s);
  }
  return q;
}

/**
 * The return a call whose return the tracer lost must have had, its thread
 * having gone on: success, at the address asked where the arguments fix it
 * (an mmap with an address, an mremap in place or to a fixed place). Null
 * where nothing fixes it (a new fd, a child's pid, an address the kernel chose).
 */
function inferReturn(name: string, args: string[]): number | null {
  switch (name) {
    case "munmap":
    case "mprotect":
    case "madvise":
    case "close":
    case "execve":
    case "shmdt":
      return 0;
    case "mmap":
      return num(args[0]) || null; // the hint is taken where it is free, as a fixed address is
    case "brk":
      return num(args[0]) || null;
    case "mremap": {
      const flags = flagSet(args[3]);
      if (flags.has("MREMAP_FIXED")) return num(args[4]);
      return flags.has("MREMAP_MAYMOVE") ? null : num(args[0]);
    }
    default:
      return null;
  }
}

/** A process's program as its snapshot shows it: the file its first VMA maps. */
function programName(s: Snapshot): string {
  const path = s.vmas.find((v) => v.path.startsWith("/"))?.path;
  return path ? path.slice(path.lastIndexOf("/") + 1) : `pid ${s.pid}`;
}

/** A snapshot VMA as a `restore` op. */
function restoreOp(v: SnapshotVma, unmodelled: (flag: string) => void): Op {
  const { unknown } = vmFlagsFromString(v.vmFlags);
  unknown.forEach(unmodelled);
  const vmFlags = v.vmFlags
    .split(" ")
    .filter((f) => f && !unknown.includes(f))
    .join(" ");
  const shared = v.perms[3] === "s";
  const backing: Backing = isAnonymous(v)
    ? { kind: shared ? "shared-anon" : "anon" }
    : { kind: "file", name: fileWord(v.path || `[inode ${v.inode}]`), pgoff: v.pgoff, shared };
  return { op: "restore", start: v.start, pages: v.end - v.start, vmFlags, backing, anon: v.anon };
}

/** A user address as a page number; null if it is not one (cut off, unaligned, past TASK_SIZE). */
function pageAt(addr: number): number | null {
  return Number.isSafeInteger(addr) && addr >= 0 && addr % PAGE === 0 && addr / PAGE <= TASK_SIZE_PAGES ? addr / PAGE : null;
}

/**
 * Starts replaying a trace (see the rules above) on linux-6.18, the ops going
 * to `sink` as they are made; checks each process at its exit against the
 * kernel's snapshot where the recording has them.
 */
export function startReplay(head: RecordingHead, opts: ReplayOptions = {}, sink?: ReplaySink): ReplayRun {
  const { header } = head;
  const stats = newReplayStats();
  const strict = opts.strict === true;
  const zeroPage = opts.zeroPage ?? header["zero-page"] !== "no";
  const kernel = opts.kernel ?? kernelLineOf(header.kernel) ?? "6.18";
  const sys = System.createSync({ maxMapCount: 1 << 30, zeroPage, kernel });
  const execSnapshots = snapshotQueues(head.snapshots, "exec");
  const exitSnapshots = snapshotQueues(head.snapshots, "exit");
  const check = head.snapshots.length ? new FidelityCheck((header.thp as ThpMode | undefined) ?? "never") : null;
  const recorded = header.recorder !== undefined;
  const run = new ScenarioRun(sys, { keep: false, reads: false });
  let eventLine = 0; // the trace line of the event being replayed
  let eventTime: number | undefined;
  const owner = new Map<number, number>(); // tid -> process id
  const fds = new Map<number, Map<number, string>>(); // process -> fd -> path
  const brk = new Map<number, number>(); // process -> current break (bytes)
  const shmPages = new Map<number, number>(); // System V segment id -> pages (ids are system-wide)
  const shmAttached = new Map<number, number>(); // attach page -> pages (the same in a forked child)
  let current = 0;
  let first: number | undefined;
  const count = (m: Record<string, number>, k: string) => (m[k] = (m[k] ?? 0) + 1);

  /** Hands on an op the replay's System has run: its place in the scenario, its trace line and time. */
  const handOn = (op: ScenarioOp, line: number, time: number | undefined): void => {
    op.index = stats.ops;
    op.line = stats.ops + 2; // after the scenario's comment line
    stats.ops++;
    if (op.op === "proc") current = op.id;
    sink?.op(op, line, time);
  };
  /** Runs an op on the replay's System and hands it on. */
  const step = (op: Op): void => {
    const sop = op as ScenarioOp;
    sop.index = stats.ops;
    run.step(sop);
    handOn(sop, op.op === "proc" || op.op === "dump" ? 0 : eventLine, eventTime);
  };
  const emit = (proc: number, op: Op): void => {
    if (proc !== current) step({ op: "proc", id: proc });
    step(op);
  };
  // Page faults, most of a trace's events, go to the core in batches: each is held
  // (with -1 for a process that is not there) until another kind of event comes.
  const faultOps = new OpStream();
  const faultsHeld: { e: TraceEvent & { kind: "fault" }; p: number }[] = [];
  const skipFault = (e: TraceEvent) => {
    stats.faultsSkipped++;
    if (stats.faultsSkippedLines.length < 20) stats.faultsSkippedLines.push(e.line);
  };
  const runFaults = (): void => {
    if (!faultsHeld.length) return;
    const failed = new Set<number>();
    sys.runOps(faultOps, (i) => failed.add(i));
    let k = 0;
    for (const { e, p } of faultsHeld) {
      if (p < 0) {
        skipFault(e);
        continue;
      }
      eventLine = e.line;
      eventTime = e.time;
      if (p !== current) step({ op: "proc", id: p });
      // A touch that failed changed nothing: it is not part of the scenario.
      if (failed.has(k++)) skipFault(e);
      else {
        stats.faults++;
        handOn({ op: "touch", start: e.page, pages: 1, access: e.write ? "w" : "r", index: 0, line: 0 }, e.line, e.time);
      }
    }
    faultOps.clear();
    faultsHeld.length = 0;
  };
  const resolving = new Set<number>();
  const procOf = (tid: number): number => {
    if (first === undefined) {
      first = tid;
      owner.set(tid, 0);
      if (!recorded) stats.processes++; // the recorder is not the program's
    }
    const p = owner.get(tid);
    if (p !== undefined) return p;
    const parent = threadParent.get(tid);
    if (parent !== undefined && parent !== tid && !resolving.has(tid)) {
      // A thread seen before its clone returned (a trace where two threads clone each other stops here).
      resolving.add(tid);
      const q = procOf(parent);
      resolving.delete(tid);
      owner.set(tid, q);
      return q;
    }
    // A process seen before its fork returned: its events stand alone until then.
    owner.set(tid, tid);
    stats.processes++;
    return tid;
  };
  /** Maps [execve] over whatever in [start, start + pages) the replay has not mapped. */
  const reconstruct = (proc: number, start: number, pages: number) => {
    let at = start;
    for (const [s, e] of sys.process(proc).ranges(start, start + pages)) {
      if (s > at) fill(proc, at, s - at);
      at = Math.max(at, e);
    }
    if (at < start + pages) fill(proc, at, start + pages - at);
  };
  const fill = (proc: number, start: number, pages: number) => {
    stats.reconstructed++;
    emit(proc, { op: "mmap", start, pages, prot: "r", backing: { kind: "file", name: "[execve]", pgoff: start }, opts: {} });
  };
  const prot = (s: string | undefined, what: string): Prot => {
    let bits = 0;
    for (const f of flagSet(s)) {
      if (f in PROT_BITS) bits |= PROT_BITS[f];
      else if (f !== "") count(stats.approximated, `${what} ${f}`);
    }
    if (bits === 2 || bits === 6) count(stats.approximated, `${what} write without read`);
    return (["none", "r", "rw", "rw", "rx", "rx", "rwx", "rwx"] as const)[bits];
  };

  const alive = (p: number) => sys.hasProcess(p);
  // A child's first events may come before its parent's clone returns: a
  // thread's (perf), whose process is known from its parent as the clone's
  // return is read, and a process's (strace prints them while the parent's
  // clone is unfinished), which wait for the fork to be replayed and run
  // just after it. A vfork child's execve may complete before its parent's
  // vfork returns: which children share their parent's mm until they exec is
  // known as the clone is read too.
  const threadParent = new Map<number, number>();
  const forkChildren = new Set<number>();
  const untilExec = new Set<number>();
  const enter = (e: TraceEvent): void => {
    if (e.kind !== "call" || !(e.ret !== null && e.ret > 0) || !CLONES.has(e.name)) return;
    const kind = cloneKind(e.name, e.args);
    if (kind.sharesMm) threadParent.set(e.ret, e.tid);
    else forkChildren.add(e.ret);
    if (kind.untilExec) untilExec.add(e.ret);
  };
  const waiting = new Map<number, TraceEvent[]>();
  /** The traced pid of a replayed process (process 0 is the trace's first). */
  const pidOf = (p: number) => (p === 0 ? first! : p);
  const programs: Record<number, string> = {};
  sink?.begin?.({ zeroPage, kernel, programs });
  /** Starts process p from the kernel's snapshot of what its execve built, if the recording has it. */
  const restoreExec = (p: number): void => {
    const snap = execSnapshots.get(pidOf(p))?.shift();
    if (!snap) return;
    programs[p] = programName(snap);
    stats.execsFromSnapshot++;
    for (const v of snap.vmas) {
      if (v.end > TASK_SIZE_PAGES) continue; // above TASK_SIZE ([vsyscall]): not the process's to map
      emit(p, restoreOp(v, (flag) => count(stats.approximated, `VmFlags ${flag} (not modelled)`)));
    }
  };
  /** A process is gone: what only it needed goes too. */
  const ended = (p: number): void => {
    fds.delete(p);
    brk.delete(p);
  };
  const lostCalls: { pid: number; name: string }[] = []; // calls the tracer lost the arguments or the return of, by process
  // The processes the recorder starts, until their execve: still the recorder's code.
  const recorderChildren = new Set<number>();
  const replayEvent = (e: TraceEvent): void => {
    if (e.kind !== "fault") runFaults();
    eventLine = e.line;
    eventTime = e.time;
    // Inside execve the kernel writes both the old mm (clearing a vfork child's tid in its parent's
    // memory) and the new image (the stack, the zeroed tail of a segment): the snapshot holds the latter.
    if (e.kind === "fault" && e.during === "execve") {
      const image = execSnapshots.get(e.tid)?.[0];
      if (image?.vmas.some((v) => v.start <= e.page && e.page < v.end)) {
        stats.faultsInExec++;
        return;
      }
    }
    // The recorder's own calls are not the program's; only the processes it starts are, from their execve.
    if (recorded) {
      const p = procOf(e.tid);
      if (p === 0 && e.kind === "call" && CLONES.has(e.name) && e.ret !== null && e.ret > 0) recorderChildren.add(e.ret);
      else if (p === 0) return;
      else if (recorderChildren.has(p)) {
        if (e.kind !== "call" || e.name !== "execve" || e.ret !== 0) return;
        recorderChildren.delete(p);
      }
    }
    if (e.kind === "exit") {
      // A vfork child's _exit ends only itself: the mm is its parent's.
      if (untilExec.delete(e.tid)) return;
      // The process ends with exit_group or its leader thread (whose tid is its pid); other threads just go.
      const p = procOf(e.tid);
      const leader = p === 0 ? first : p;
      if ((e.group || e.tid === leader) && alive(p)) {
        const snap = exitSnapshots.get(pidOf(p))?.shift();
        if (e.comm && programs[p] === undefined) programs[p] = e.comm;
        if (snap && check) check.compare(e.comm || `pid ${pidOf(p)}`, pidOf(p), snap.vmas, sys.process(p).vmas());
        emit(p, { op: "dump" });
        emit(p, { op: "exit" });
        ended(p);
      }
      return;
    }
    if (e.kind === "fault") {
      // The core decides, as the kernel's fault handler does (a stack grows down to a fault below it).
      const p = procOf(e.tid);
      if (alive(p)) faultOps.touch(p, e.page, 1, e.write ? "w" : "r");
      faultsHeld.push({ e, p: alive(p) ? p : -1 });
      if (faultOps.length >= FAULT_BATCH) runFaults();
      return;
    }
    count(stats.calls, e.name);
    if (!MEMORY.has(e.name) && !PROCESS.has(e.name) && !FILES.has(e.name)) {
      count(stats.unknown, e.name);
      return;
    }
    if (e.ret !== null && e.ret < 0) {
      stats.failed++;
      return;
    }
    if (e.argsLost) {
      count(stats.argsLost, e.name);
      lostCalls.push({ pid: pidOf(procOf(e.tid)), name: e.name });
      return;
    }
    const inferred = e.retLost ? inferReturn(e.name, e.args) : e.ret;
    if (inferred === null && e.retLost) {
      count(stats.returnsLost, e.name);
      lostCalls.push({ pid: pidOf(procOf(e.tid)), name: e.name });
      return;
    }
    if (e.retLost) count(stats.returnsInferred, e.name);
    const p = procOf(e.tid);
    // A vfork child's parent may exit once the child's execve has let it go: the child goes on.
    if (!alive(p) && !(e.name === "execve" && untilExec.has(e.tid))) {
      // Its process has exited (or never was replayed): a child it forked stands alone, its events not held.
      if (CLONES.has(e.name) && inferred !== null && inferred > 0) release(inferred);
      stats.callsWithoutProcess++;
      return;
    }
    const a = e.args;
    const ret = inferred ?? 0;
    /** An address argument or return as a page; a call whose address is no page address is an unreadable line. */
    const page = (addr: number): number | null => {
      const pg = pageAt(addr);
      if (pg === null) unreadable(stats, strict, e.line, `${e.name}: ${quoted(String(addr))} is not a page address (cut off or corrupted)`);
      return pg;
    };
    /** A length argument in pages; one no address space holds (past TASK_SIZE) is an unreadable line. */
    const length = (bytes: number): number | null => {
      const n = Number.isSafeInteger(bytes) && bytes >= 0 ? pagesOf(bytes) : Number.NaN;
      if (n <= TASK_SIZE_PAGES) return n;
      unreadable(stats, strict, e.line, `${e.name}: a length of ${quoted(String(bytes))} bytes is past any address space (cut off or corrupted)`);
      return null;
    };
    switch (e.name) {
      case "openat":
      case "open": {
        const path = /"((?:[^"\\]|\\.)*)"/.exec(a[e.name === "openat" ? 1 : 0] ?? "")?.[1] ?? `fd${ret}`;
        if (!fds.has(p)) fds.set(p, new Map());
        fds.get(p)!.set(ret, path);
        break;
      }
      case "close":
        fds.get(p)?.delete(num(a[0]));
        break;
      case "shmget":
        if (num(a[1]) > 0) shmPages.set(ret, pagesOf(num(a[1])));
        break;
      case "shmat": {
        // A System V segment is a shmem file of its own, mapped shared.
        const pages = shmPages.get(num(a[0]));
        if (pages === undefined) {
          count(stats.approximated, "shmat of a segment made before the trace (not replayed)");
          break;
        }
        const start = page(ret);
        if (start === null) break;
        const flags = num(a[2]);
        const prot = flags & SHM_RDONLY ? (flags & SHM_EXEC ? "rx" : "r") : flags & SHM_EXEC ? "rwx" : "rw";
        shmAttached.set(start, pages);
        emit(p, { op: "mmap", start, pages, prot, backing: { kind: "file", name: fileWord(`[SYSV ${num(a[0])}]`), pgoff: 0, shared: true }, opts: {} });
        break;
      }
      case "shmdt": {
        const pages = shmAttached.get(num(a[0]) / PAGE);
        if (pages !== undefined) emit(p, { op: "munmap", start: num(a[0]) / PAGE, pages });
        break;
      }
      case "mmap": {
        const [, len, pr, fl, fd, off] = a;
        const start = page(ret);
        const pages = length(num(len));
        if (start === null || pages === null) break;
        const flags = flagSet(fl);
        let backing: Backing = { kind: "anon" };
        if (flags.has("MAP_ANONYMOUS")) {
          if (flags.has("MAP_SHARED")) backing = { kind: "shared-anon" };
        } else {
          const path = fds.get(p)?.get(num(fd)) ?? `fd${num(fd)}`;
          backing = { kind: "file", name: fileWord(path), pgoff: Math.floor(num(off) / PAGE), shared: flags.has("MAP_SHARED") };
        }
        const opts: MmapOptions = {};
        if (flags.has("MAP_NORESERVE")) opts.noreserve = true;
        if (flags.has("MAP_GROWSDOWN")) opts.growsdown = true;
        if (flags.has("MAP_STACK")) opts.stack = true;
        emit(p, { op: "mmap", start, pages, prot: prot(pr, "mmap"), backing, opts });
        break;
      }
      case "munmap": {
        const start = page(num(a[0]));
        const pages = length(num(a[1]));
        if (start !== null && pages !== null) emit(p, { op: "munmap", start, pages });
        break;
      }
      case "mprotect": {
        const start = page(num(a[0]));
        const pages = length(num(a[1]));
        if (start === null || pages === null) break;
        reconstruct(p, start, pages);
        emit(p, { op: "mprotect", start, pages, prot: prot(a[2], "mprotect") });
        break;
      }
      case "madvise": {
        const advice = ADVICES[a[2]];
        if (!advice) {
          if (!PAGE_ADVICES.has(a[2])) count(stats.approximated, `madvise ${a[2]}`);
          break;
        }
        const start = page(num(a[0]));
        const pages = length(num(a[1]));
        if (start === null || pages === null) break;
        reconstruct(p, start, pages);
        emit(p, { op: "madvise", start, pages, advice });
        break;
      }
      case "mremap": {
        const start = page(num(a[0]));
        const to = page(ret);
        const oldPages = length(num(a[1]));
        const newPages = length(num(a[2]));
        if (start === null || to === null || oldPages === null || newPages === null) break;
        const flags = flagSet(a[3]);
        reconstruct(p, start, oldPages);
        const opts: MremapOptions = {};
        if (to !== start || flags.has("MREMAP_FIXED")) opts.fixed = to;
        if (flags.has("MREMAP_DONTUNMAP")) opts.dontunmap = true;
        emit(p, { op: "mremap", start, oldPages, newPages, opts });
        break;
      }
      case "brk": {
        const was = brk.get(p);
        brk.set(p, ret);
        // brk(NULL) reports the start; the heap is [start, break) in whole pages.
        if (was === undefined || ret === was) break;
        const from = pagesOf(was);
        const to = pagesOf(ret);
        if (to > from) emit(p, { op: "mmap", start: from, pages: to - from, prot: "rw", backing: { kind: "anon" }, opts: {} });
        else if (to < from) emit(p, { op: "munmap", start: to, pages: from - to });
        break;
      }
      case "clone":
      case "clone3":
      case "fork":
      case "vfork": {
        const kind = cloneKind(e.name, a);
        if (kind.hidden) count(stats.approximated, "clone3 flags unknown: a thread until it execs");
        if (kind.sharesMm) {
          if (!owner.has(ret)) owner.set(ret, p); // unless it has exec'd already
          stats.threads++;
        } else {
          owner.set(ret, ret);
          stats.processes++;
          // The program the recorder starts has nothing of the recorder's: it execs at once.
          emit(p, recorded && p === 0 ? { op: "spawn", child: ret } : { op: "fork", child: ret });
          if (programs[p] !== undefined) programs[ret] = programs[p];
          fds.set(ret, new Map(fds.get(p)));
          if (brk.has(p)) brk.set(ret, brk.get(p)!);
          for (const w of waiting.get(ret) ?? []) replayEvent(w);
          waiting.delete(ret);
        }
        break;
      }
      case "execve":
        stats.execs++;
        if (untilExec.delete(e.tid)) {
          // A child that shared its parent's mm execs: a spawned process of its own from here (posix_spawn, vfork).
          owner.set(e.tid, e.tid);
          stats.threads--;
          stats.processes++;
          step({ op: "spawn", child: e.tid });
          fds.set(e.tid, new Map(fds.get(p)));
          restoreExec(e.tid);
          break;
        }
        emit(p, { op: "exec" });
        delete programs[p]; // a new program: its snapshot or its command at exit names it
        restoreExec(p);
        brk.delete(p);
        break;
      case "exit_group":
      case "exit":
        break; // the +++ exited line ends the process
    }
  };
  /** A fork child whose fork will not be replayed: the events it waits with go now, and it waits no more. */
  const release = (child: number): void => {
    forkChildren.delete(child);
    const held = waiting.get(child) ?? [];
    waiting.delete(child);
    for (const w of held) replayEvent(w);
  };
  const leave = (e: TraceEvent): void => {
    if (forkChildren.has(e.tid) && !owner.has(e.tid)) {
      if (!waiting.has(e.tid)) waiting.set(e.tid, []);
      waiting.get(e.tid)!.push(e);
    } else replayEvent(e);
  };
  const end = (): ReplayResult => {
    // A child whose fork was not replayed (its parent had gone): its events stand alone.
    for (const ws of waiting.values()) for (const w of ws) replayEvent(w);
    waiting.clear();
    runFaults();
    if (check) {
      // A process killed by a signal has no exit in the trace: its last state is where the replay ends.
      for (const [pid, q] of exitSnapshots) {
        const p = pid === first ? 0 : owner.get(pid);
        const snap = p !== undefined && alive(p) ? q.shift() : undefined;
        if (snap) check.compare(programName(snap), pid, snap.vmas, sys.process(p!).vmas());
        check.unmatched += q.length;
      }
    }
    check?.explainLostCalls(lostCalls);
    check?.explainLostEvents(stats.lostEvents);
    return { stats, programs, fidelity: check?.report() ?? null, zeroPage, kernel };
  };
  return { stats, enter, leave, end };
}

/** The stats of a replay as a few lines of text. */
export function formatReplayStats(file: string, s: ReplayStats): string {
  const list = (m: Record<string, number>) =>
    Object.entries(m)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ") || "none";
  const calls = Object.values(s.calls).reduce((a, b) => a + b, 0);
  return [
    `${file}: ${s.lines} lines, ${calls} syscalls (${list(s.calls)})`,
    `  processes ${s.processes}, threads ${s.threads}, execs ${s.execs}; ${s.ops} scenario ops`,
    `  not replayed: failed in the trace ${s.failed}; of a process the replay does not have (exited, or never seen being born): ${s.callsWithoutProcess}; unknown syscalls: ${list(s.unknown)}; ` +
      `arguments lost by the tracer: ${list(s.argsLost)}; returns lost: ${list(s.returnsLost)}`,
    `  returns the tracer lost, replayed as their arguments imply: ${list(s.returnsInferred)}`,
    `  approximated: ${list(s.approximated)}`,
    `  execs started from the kernel's snapshot: ${s.execsFromSnapshot} of ${s.execs}; ` +
      `rebuilt: ${s.reconstructed} [execve] mappings for memory the trace did not show`,
    `  page faults replayed: ${s.faults}; not replayed (memory not mapped in the replay, or not allowed): ${s.faultsSkipped}` +
      `${s.faultsSkipped ? ` (first at line ${s.faultsSkippedLines[0]})` : ""}; ` +
      `inside execve (part of the layout it built): ${s.faultsInExec}`,
    `  unreadable lines: ${s.unreadable}${s.unreadable ? ` (first at line ${s.badLines[0]})` : ""}; calls never resumed: ${s.unfinished}; signals: ${s.signals}`,
    ...(s.late ? [`  events later than the reorder window (the trace is not sorted by time): ${s.late}, replayed where they came`] : []),
    ...(s.cut ? ["  the file ends early (a gzip stream cut off): replayed as far as it goes"] : []),
  ].join("\n");
}
