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

/** A line's head: its time (NaN for '?'), duration (0 if none), where its command is, its thread, where its body starts. */
interface Head {
  start: number;
  duration: number;
  commStart: number;
  commEnd: number;
  tid: number;
  body: number;
}

const SPACE = 32;
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * `  TIME ( DUR ms): COMM/TID BODY` read by hand: the regex it replaces took
 * a third of the reading (its greedy COMM backtracked over every body).
 */
function head(raw: string): Head | null {
  let i = 0;
  while (raw.charCodeAt(i) === SPACE) i++;
  const open = raw.indexOf("(", i);
  const close = raw.indexOf("):", open);
  if (open <= i || close < 0) return null;
  const unknown = raw.charCodeAt(i) === 63; /* ? */
  const start = unknown ? Number.NaN : Number(raw.slice(i, open));
  if (!unknown && !Number.isFinite(start)) return null;
  const ms = raw.lastIndexOf(" ms", close);
  const duration = ms > open ? Number(raw.slice(open + 1, ms)) : raw.slice(open + 1, close).trim() === "" ? 0 : Number.NaN;
  if (!Number.isFinite(duration)) return null;
  // COMM/TID: the first '/' followed by digits and a space (a command may hold a '/').
  i = close + 2;
  while (raw.charCodeAt(i) === SPACE) i++;
  for (let slash = raw.indexOf("/", i); slash >= 0; slash = raw.indexOf("/", slash + 1)) {
    let j = slash + 1;
    while (isDigit(raw.charCodeAt(j))) j++;
    if (j === slash + 1 || raw.charCodeAt(j) !== SPACE) continue;
    let b = j;
    while (raw.charCodeAt(b) === SPACE) b++;
    return { start, duration, commStart: i, commEnd: slash, tid: Number(raw.slice(slash + 1, j)), body: b };
  }
  return null;
}

/** An exceptions:page_fault_* body (the commonest line), read in place from `at`: user or kernel, address, error code; null if not one. */
function fault(raw: string, at: number): { user: boolean; address: number; errorCode: number } | null {
  if (!raw.startsWith("exceptions:page_fault_", at)) return null;
  const user = raw.startsWith("user(", at + 22);
  if (!user && !raw.startsWith("kernel(", at + 22)) return null;
  const a = raw.indexOf("address: 0x", at);
  if (a < 0) return null;
  let end = a + 11;
  while (end < raw.length && raw.charCodeAt(end) !== 44 /* , */ && raw.charCodeAt(end) !== 41 /* ) */) end++;
  const address = Number(raw.slice(a + 9, end));
  const e = raw.indexOf("error_code: ", end);
  // perf leaves out arguments that are zero: a missing error_code is a read.
  const errorCode = e < 0 ? 0 : Number.parseInt(raw.slice(e + 12, e + 16), 10);
  if (!Number.isFinite(address) || raw.charCodeAt(raw.length - 1) !== 41 || Number.isNaN(errorCode)) return null;
  return { user, address, errorCode };
}
const CONTINUED = /^\.\.\. \[continued\]: ([a-z_0-9]+)\(\)\)\s+= ?(.*)$/;
const CALL = /^([a-z_0-9]+)\((.*)\)\s+(?:= ?(.*)|\.\.\.)$/;
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
    const line = i + firstLine;
    const raw = lines[i].charCodeAt(lines[i].length - 1) <= SPACE ? lines[i].trimEnd() : lines[i];
    let lead = 0;
    while (lead < raw.length && raw.charCodeAt(lead) <= SPACE) lead++;
    if (lead === raw.length) continue;
    stats.lines++;
    if (raw.startsWith("LOST ", lead) && /^LOST \d+ events!/.test(raw.trim())) {
      bad(line, raw.trim());
      continue;
    }
    const h = head(raw);
    if (!h) {
      bad(line, `not a perf trace line: ${quoted(raw)}`);
      continue;
    }
    const tid = h.tid;
    const start = Number.isNaN(h.start) ? (lastTime.get(tid) ?? 0) : h.start;
    lastTime.set(tid, start);
    at = start + h.duration;
    const before = lastAt.get(tid);
    if (before !== undefined && at < before && before - at <= ROUNDING) at = before;
    lastAt.set(tid, at);
    let m: RegExpExecArray | null;
    const f = fault(raw, h.body);
    if (f) {
      const write = (f.errorCode & 2) !== 0;
      if (f.user) settle(tid);
      const during = pending.get(tid)?.name;
      if (f.address < TASK_SIZE) timed.push({ e: { kind: "fault", tid, page: Math.floor(f.address / 4096), write, line, during }, at });
      continue;
    }
    comm = raw.slice(h.commStart, h.commEnd).trim();
    const body = raw.slice(h.body);
    if ((m = CONTINUED.exec(body))) {
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
  return {
    events: timed.map((t) => {
      t.e.time = t.at;
      return t.e;
    }),
    stats,
  };
}

/** Whether text looks like perf trace output rather than strace's. */
export function isPerfTrace(text: string): boolean {
  const first = text.split("\n").find((l) => l.trim());
  return first !== undefined && head(first.trimEnd()) !== null;
}
