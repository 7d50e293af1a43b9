// Reading `perf trace` output with the page-fault tracepoints: syscalls with
// named arguments, calls cut by other events (`NAME(args) ...` then
// `... [continued]: NAME()) = RET`), and exceptions:page_fault_user /
// page_fault_kernel with the faulting address and error code (bit 1: write).
// The events come out in the form strace's reader gives, arguments in
// strace's order and spelling, so one replay serves both. Each event goes to
// the reorder window (events.ts) with the time it took effect (a call's start
// plus its duration, a fault's time; a line without a time takes its
// thread's last one); a line that would go before an earlier line of its own
// thread by no more than the rounding of the times (a microsecond each)
// stays after it. perf sorts its output (record asks it to) to within a
// fraction of a millisecond; unsorted output is put in order within the window.

import { quoted } from "../quote.js";
import { type EventWindow, type ParseStats, type TraceReader, unreadable } from "./events.js";

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
 * The decimal in raw[from, to) (spaces around it allowed) as Number() reads
 * it, without a copy: digits and fraction as one exact integer over an
 * exact power of ten round as Number() does. NaN if it is not one; null if
 * there is nothing but spaces.
 */
function decimal(raw: string, from: number, to: number): number | null {
  while (from < to && raw.charCodeAt(from) === SPACE) from++;
  while (to > from && raw.charCodeAt(to - 1) === SPACE) to--;
  if (from === to) return null;
  let n = 0;
  let scale = 1;
  let dot = false;
  for (let i = from; i < to; i++) {
    const c = raw.charCodeAt(i);
    if (isDigit(c)) {
      n = n * 10 + (c - 48);
      if (dot) scale *= 10;
    } else if (c === 46 /* . */ && !dot) dot = true;
    else return Number.NaN;
  }
  if (to - from > 15 || (dot && to - from === 1)) return Number(raw.slice(from, to)); // past exact integers, or a lone '.'
  return n / scale;
}

/** The hexadecimal digits in raw[from, to) (after "0x") as a number; NaN if there are none or one is not a digit. */
function hex(raw: string, from: number, to: number): number {
  if (from === to || to - from > 13) return Number(`0x${raw.slice(from, to)}`);
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = raw.charCodeAt(i) | 0x20; // lower case
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1;
    if (d < 0) return Number.NaN;
    n = n * 16 + d;
  }
  return n;
}

/** The head and fault of the line being read: one object each, filled in again for every line. */
const HEAD: Head = { start: 0, duration: 0, commStart: 0, commEnd: 0, tid: 0, body: 0 };
const FAULT = { user: false, address: 0, errorCode: 0 };

/**
 * `  TIME ( DUR ms): COMM/TID BODY` read by hand and in place (into HEAD):
 * the regex it replaces took a third of the reading (its greedy COMM
 * backtracked over every body).
 */
function head(raw: string): Head | null {
  let i = 0;
  while (raw.charCodeAt(i) === SPACE) i++;
  const open = raw.indexOf("(", i);
  const close = raw.indexOf("):", open);
  if (open <= i || close < 0) return null;
  const unknown = raw.charCodeAt(i) === 63; /* ? */
  const start = unknown ? Number.NaN : decimal(raw, i, open);
  if (!unknown && !Number.isFinite(start)) return null;
  const ms = raw.lastIndexOf(" ms", close);
  const d = decimal(raw, open + 1, ms > open ? ms : close);
  const duration = d === null ? 0 : ms > open ? d : Number.NaN;
  if (!Number.isFinite(duration)) return null;
  // COMM/TID: the first '/' followed by digits and a space (a command may hold a '/').
  i = close + 2;
  while (raw.charCodeAt(i) === SPACE) i++;
  for (let slash = raw.indexOf("/", i); slash >= 0; slash = raw.indexOf("/", slash + 1)) {
    let j = slash + 1;
    let tid = 0;
    for (let c = raw.charCodeAt(j); isDigit(c); c = raw.charCodeAt(++j)) tid = tid * 10 + (c - 48);
    if (j === slash + 1 || raw.charCodeAt(j) !== SPACE) continue;
    let b = j;
    while (raw.charCodeAt(b) === SPACE) b++;
    HEAD.start = start as number;
    HEAD.duration = duration;
    HEAD.commStart = i;
    HEAD.commEnd = slash;
    HEAD.tid = tid;
    HEAD.body = b;
    return HEAD;
  }
  return null;
}

/** An exceptions:page_fault_* body (the commonest line), read in place from `at` (into FAULT): user or kernel, address, error code; null if not one. */
function fault(raw: string, at: number): { user: boolean; address: number; errorCode: number } | null {
  if (!raw.startsWith("exceptions:page_fault_", at)) return null;
  const user = raw.startsWith("user(", at + 22);
  if (!user && !raw.startsWith("kernel(", at + 22)) return null;
  const a = raw.indexOf("address: 0x", at);
  if (a < 0) return null;
  let end = a + 11;
  while (end < raw.length && raw.charCodeAt(end) !== 44 /* , */ && raw.charCodeAt(end) !== 41 /* ) */) end++;
  const address = hex(raw, a + 11, end);
  const e = raw.indexOf("error_code: ", end);
  // perf leaves out arguments that are zero: a missing error_code is a read.
  let errorCode = 0;
  if (e >= 0) {
    let j = e + 12;
    for (let c = raw.charCodeAt(j); isDigit(c) && j < e + 16; c = raw.charCodeAt(++j)) errorCode = errorCode * 10 + (c - 48);
    if (j === e + 12) errorCode = Number.NaN;
  }
  if (!Number.isFinite(address) || raw.charCodeAt(raw.length - 1) !== 41 || Number.isNaN(errorCode)) return null;
  FAULT.user = user;
  FAULT.address = address;
  FAULT.errorCode = errorCode;
  return FAULT;
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

/** Reads perf trace output (see above) line by line into `window`; bad lines as StraceReader treats them. */
export class PerfReader implements TraceReader {
  private readonly pending = new Map<number, { name: string; args: string[]; line: number; at: number }>();
  /** Per thread: the time of its last line, and when that line's event took effect. */
  private readonly last = new Map<number, { time: number; at: number }>();
  private at = 0;
  private comm = "";

  constructor(
    private readonly window: EventWindow,
    private readonly stats: ParseStats,
    private readonly strict = false,
  ) {}

  line(text: string, line: number): void {
    const raw = text.charCodeAt(text.length - 1) <= SPACE ? text.trimEnd() : text;
    let lead = 0;
    while (lead < raw.length && raw.charCodeAt(lead) <= SPACE) lead++;
    if (lead === raw.length) return;
    this.stats.lines++;
    const lost = raw.startsWith("LOST ", lead) ? /^LOST (\d+) events!/.exec(raw.trim()) : null;
    if (lost) {
      this.stats.lostEvents += Number(lost[1]);
      return this.bad(line, raw.trim());
    }
    const h = head(raw);
    if (!h) return this.bad(line, `not a perf trace line: ${quoted(raw)}`);
    const tid = h.tid;
    let last = this.last.get(tid);
    if (!last) this.last.set(tid, (last = { time: 0, at: Number.NaN }));
    const start = Number.isNaN(h.start) ? last.time : h.start;
    let at = start + h.duration;
    if (at < last.at && last.at - at <= ROUNDING) at = last.at;
    last.time = start;
    last.at = at;
    this.at = at;
    let m: RegExpExecArray | null;
    const f = fault(raw, h.body);
    if (f) {
      const write = (f.errorCode & 2) !== 0;
      if (f.user) this.settle(tid);
      const during = this.pending.get(tid)?.name;
      if (f.address < TASK_SIZE) this.window.push({ kind: "fault", tid, page: Math.floor(f.address / 4096), write, line, during }, at);
      return;
    }
    this.comm = raw.slice(h.commStart, h.commEnd).trim();
    const body = raw.slice(h.body);
    if ((m = CONTINUED.exec(body))) {
      const p = this.pending.get(tid);
      this.pending.delete(tid);
      // A new thread or process starts as the return of its parent's clone: not a call of its own.
      if (!p && CLONES.has(m[1])) return;
      const res = this.result(m[2], line);
      if (!res) return;
      // The first execve of a recording continues without having started in the trace.
      if (p?.name === m[1] || m[1] === "execve") this.push(tid, m[1], p?.name === m[1] ? p.args : [], res, line);
      // perf sometimes prints a return without the call it ends: its arguments are lost.
      else this.window.push({ kind: "call", tid, name: m[1], args: [], ret: res.ret, errno: res.errno, line, argsLost: true }, at);
    } else if ((m = CALL.exec(body))) {
      const args = positional(m[1], parseArgs(m[2]), line);
      this.settle(tid);
      if (m[3] === undefined) this.pending.set(tid, { name: m[1], args, line, at });
      else {
        const res = this.result(m[3], line);
        if (res) this.push(tid, m[1], args, res, line);
      }
    } else {
      this.bad(line, `unknown perf trace event: ${quoted(body)}`);
    }
  }

  end(): void {
    this.stats.unfinished = [...this.pending.values()].filter((p) => p.name !== "exit_group" && p.name !== "exit").length;
  }

  private bad(line: number, why: string): void {
    unreadable(this.stats, this.strict, line, why);
  }

  private result(text: string, line: number): { ret: number | null; errno: string | null } | null {
    const m = RESULT.exec(text.trim());
    if (!m) {
      this.bad(line, `no result in ${quoted(text)}`);
      return null;
    }
    return { ret: m[1] === undefined || m[1] === "?" ? null : Number(m[1]), errno: m[2] ?? null };
  }

  private push(tid: number, name: string, args: string[], res: { ret: number | null; errno: string | null }, line: number): void {
    // exit_group ends every thread of the process; a thread's exit only itself.
    // The command outlives its line (it names the program): a copy, not a slice that would keep the whole chunk read.
    if (name === "exit_group") this.window.push({ kind: "exit", tid, line, group: true, comm: Buffer.from(this.comm).toString() }, this.at);
    else this.window.push({ kind: "call", tid, name, args, ret: res.ret, errno: res.errno, line }, this.at);
  }

  /**
   * perf sometimes loses a call's return. A thread back in user mode (a user
   * fault) or in its next call had that call done: it is kept with its return unknown.
   */
  private settle(tid: number): void {
    const p = this.pending.get(tid);
    if (!p || p.name === "exit_group" || p.name === "exit") return;
    this.pending.delete(tid);
    this.window.push({ kind: "call", tid, name: p.name, args: p.args, ret: null, errno: null, line: p.line, retLost: true }, p.at);
  }
}

/** Whether a trace's first line is perf trace output rather than strace's. */
export function isPerfLine(line: string): boolean {
  return head(line.trimEnd()) !== null;
}
