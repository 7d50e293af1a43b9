// Reading `perf trace` output with the page-fault tracepoints: syscalls with
// named arguments, calls cut by other events (`NAME(args) ...` then
// `... [continued]: NAME()) = RET`), and exceptions:page_fault_user /
// page_fault_kernel with the faulting address and error code (bit 1: write).
// The events come out in the form strace's reader gives, arguments in
// strace's order and spelling, so one replay serves both. Unless perf sorted
// them (record does), lines are not in time order: events are sorted by when
// they took effect (a call's start plus its duration, a fault's time; a line
// without a time takes its thread's last one); a line that would go before
// an earlier line of its own thread by no more than the rounding of the
// times (a microsecond each) stays after it.

import { quoted } from "../quote.js";
import { type ParseStats, type TraceEvent, TraceSyntaxError } from "./strace.js";

const HEAD = /^\s*([\d.]+|\?)\s+\(\s*(?:([\d.]+) ms)?\s*\):\s+(.*)\/(\d+)\s+(.*)$/;
const CONTINUED = /^\.\.\. \[continued\]: ([a-z_0-9]+)\(\)\)\s+= ?(.*)$/;
const CALL = /^([a-z_0-9]+)\((.*)\)\s+(?:= ?(.*)|\.\.\.)$/;
// perf leaves out arguments that are zero: a missing error_code is a read.
const FAULT = /^exceptions:page_fault_(user|kernel)\(address: (0x[0-9a-f]+)(?:, ip: -?\d+)?(?:, error_code: (\d+))?\)$/;
const RESULT = /^(-?\d+|0x[0-9a-f]+|\?)?(?: ([A-Z][A-Z0-9_]+) \(.*\))?(?: \(.*\))?$/;
const CLONES = new Set(["clone", "clone3", "fork", "vfork"]);
/** How far apart, in ms, two times perf printed may be from their rounding alone (start and duration, 1 µs each). */
const ROUNDING = 0.0025;
/** User addresses end at TASK_SIZE (47 bits on x86-64). */
const TASK_SIZE = 2 ** 47;

/** Named perf arguments -> strace's positional ones (with strace's prefixes). */
function positional(name: string, named: Map<string, string>, line: number): string[] {
  const g = (k: string, dflt: string) => named.get(k) ?? dflt;
  const flags = (k: string, prefix: string, dflt: string) =>
    named.has(k) ? named.get(k)!.split("|").map((f) => (/^0x/.test(f) ? f : prefix + f)).join("|") : dflt;
  switch (name) {
    case "mmap":
      return [g("addr", "NULL"), g("len", "0"), flags("prot", "PROT_", "PROT_NONE"), flags("flags", "MAP_", "0"), g("fd", "-1"), g("off", "0")];
    case "munmap":
      return [g("addr", "0"), g("len", "0")];
    case "mprotect":
      return [g("start", "0"), g("len", "0"), flags("prot", "PROT_", "PROT_NONE")];
    case "madvise":
      return [g("start", "0"), g("len_in", "0"), g("behavior", "MADV_NORMAL")];
    case "mremap":
      return [g("addr", "0"), g("old_len", "0"), g("new_len", "0"), flags("flags", "MREMAP_", "0"), g("new_addr", "0")];
    case "brk":
      return [g("brk", "NULL")];
    case "clone":
      return [`flags=${flags("clone_flags", "CLONE_", "0")}`];
    case "openat":
    case "open":
      // perf shows the name as a pointer: one file per open.
      return name === "openat" ? ["AT_FDCWD", `"[open ${line}]"`] : [`"[open ${line}]"`];
    case "close":
      return [g("fd", "0")];
    case "shmget":
      return [g("key", "0"), g("size", "0"), g("shmflg", "0")];
    case "shmat":
      return [g("shmid", "0"), g("shmaddr", "NULL"), g("shmflg", "0")];
    case "shmdt":
      return [g("shmaddr", "0")];
    default:
      return [...named.values()];
  }
}

function parseArgs(text: string): Map<string, string> {
  const named = new Map<string, string>();
  for (const part of text.split(/,\s+(?=[a-z_]+: )/)) {
    const m = /^([a-z_]+): (.*)$/.exec(part.trim());
    if (m) named.set(m[1], m[2]);
  }
  return named;
}

/** Parses perf trace output (see above); bad lines as parseStrace treats them. */
export function parsePerfTrace(text: string, strict = false, firstLine = 1): { events: TraceEvent[]; stats: ParseStats } {
  const stats: ParseStats = { lines: 0, badLines: [], signals: 0, unfinished: 0 };
  const pending = new Map<number, { name: string; args: string[]; line: number; at: number }>();
  const timed: { e: TraceEvent; at: number }[] = [];
  const lastTime = new Map<number, number>();
  const lastAt = new Map<number, number>();
  const bad = (line: number, why: string) => {
    if (strict) throw new TraceSyntaxError(line, why);
    stats.badLines.push(line);
  };
  const result = (text: string, line: number): { ret: number | null; errno: string | null } | null => {
    const m = RESULT.exec(text.trim());
    if (!m) {
      bad(line, `no result in ${quoted(text)}`);
      return null;
    }
    return { ret: m[1] === undefined || m[1] === "?" ? null : Number(m[1]), errno: m[2] ?? null };
  };
  let at = 0;
  let comm = "";
  const push = (tid: number, name: string, args: string[], res: { ret: number | null; errno: string | null }, line: number) => {
    // exit_group ends every thread of the process; a thread's exit only itself.
    if (name === "exit_group") timed.push({ e: { kind: "exit", tid, line, group: true, comm }, at });
    else timed.push({ e: { kind: "call", tid, name, args, ret: res.ret, errno: res.errno, line }, at });
  };
  // perf sometimes loses a call's return. A thread back in user mode (a user fault) or in its next
  // call had that call done: it is kept with its return unknown.
  const settle = (tid: number) => {
    const p = pending.get(tid);
    if (!p || p.name === "exit_group" || p.name === "exit") return;
    pending.delete(tid);
    timed.push({ e: { kind: "call", tid, name: p.name, args: p.args, ret: null, errno: null, line: p.line, retLost: true }, at: p.at });
  };
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trimEnd();
    const line = i + firstLine;
    if (!raw.trim()) continue;
    stats.lines++;
    if (/^LOST \d+ events!/.test(raw.trim())) {
      bad(line, raw.trim());
      continue;
    }
    const h = HEAD.exec(raw);
    if (!h) {
      bad(line, `not a perf trace line: ${quoted(raw)}`);
      continue;
    }
    const tid = Number(h[4]);
    comm = h[3].trim();
    const body = h[5].trim();
    const start = h[1] === "?" ? (lastTime.get(tid) ?? 0) : Number(h[1]);
    lastTime.set(tid, start);
    at = start + (h[2] === undefined ? 0 : Number(h[2]));
    const before = lastAt.get(tid);
    if (before !== undefined && at < before && before - at <= ROUNDING) at = before;
    lastAt.set(tid, at);
    let m: RegExpExecArray | null;
    if ((m = FAULT.exec(body))) {
      const address = Number(m[2]);
      const write = (Number(m[3] ?? 0) & 2) !== 0;
      if (m[1] === "user") settle(tid);
      const during = pending.get(tid)?.name;
      if (address < TASK_SIZE) timed.push({ e: { kind: "fault", tid, page: Math.floor(address / 4096), write, line, during }, at });
    } else if ((m = CONTINUED.exec(body))) {
      const p = pending.get(tid);
      pending.delete(tid);
      // A new thread or process starts as the return of its parent's clone: not a call of its own.
      if (!p && CLONES.has(m[1])) continue;
      const res = result(m[2], line);
      if (!res) continue;
      // The first execve of a recording continues without having started in the trace.
      if (p?.name === m[1] || m[1] === "execve") push(tid, m[1], p?.name === m[1] ? p.args : [], res, line);
      // perf sometimes prints a return without the call it ends: its arguments are lost.
      else timed.push({ e: { kind: "call", tid, name: m[1], args: [], ret: res.ret, errno: res.errno, line, argsLost: true }, at });
    } else if ((m = CALL.exec(body))) {
      const args = positional(m[1], parseArgs(m[2]), line);
      settle(tid);
      if (m[3] === undefined) pending.set(tid, { name: m[1], args, line, at });
      else {
        const res = result(m[3], line);
        if (res) push(tid, m[1], args, res, line);
      }
    } else {
      bad(line, `unknown perf trace event: ${quoted(body)}`);
    }
  }
  stats.unfinished = [...pending.values()].filter((p) => p.name !== "exit_group" && p.name !== "exit").length;
  // Array.prototype.sort is stable: a thread's events keep their order at equal times.
  timed.sort((a, b) => a.at - b.at);
  if (timed.length) stats.seconds = (timed[timed.length - 1].at - timed[0].at) / 1000;
  return { events: timed.map((t) => t.e), stats };
}

/** Whether text looks like perf trace output rather than strace's. */
export function isPerfTrace(text: string): boolean {
  const first = text.split("\n").find((l) => l.trim());
  return first !== undefined && HEAD.test(first);
}
