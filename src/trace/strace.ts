// Reading `strace -f` output: one syscall per line, prefixed by the thread id;
// calls interrupted by another thread's line come as `<unfinished ...>` and a
// later `<... NAME resumed>`; signals (`--- SIG... ---`) and exits (`+++
// exited with N +++`, `+++ killed by SIG... +++`) are lines of their own.

import { quoted } from "../quote.js";

/** One completed syscall, exit or page fault, in the order the trace completes them; `time` in ms where the trace has times. */
export type TraceEvent = (
  /**
   * A completed syscall; `argsLost`: the trace showed its return but not its
   * arguments; `retLost`: its call but not its return (the thread went on).
   */
  | {
      kind: "call";
      tid: number;
      name: string;
      args: string[];
      ret: number | null;
      errno: string | null;
      line: number;
      argsLost?: boolean;
      retLost?: boolean;
    }
  /** A thread ended; with `group`, its whole process (exit_group). `comm`: its command name, where the trace shows it. */
  | { kind: "exit"; tid: number; line: number; group?: boolean; comm?: string }
  /** A page fault; `during`: the syscall its thread was inside, where the trace shows it (the kernel touching user memory). */
  | { kind: "fault"; tid: number; page: number; write: boolean; line: number; during?: string }
) & { time?: number };

export interface ParseStats {
  lines: number;
  /** Lines that could not be read (truncated or corrupted), with their numbers. */
  badLines: number[];
  signals: number;
  /** Calls started but never resumed (the trace was cut). */
  unfinished: number;
  /** How long the traced program ran, from its first event to its last (where the trace has times). */
  seconds?: number;
}

export class TraceSyntaxError extends Error {
  constructor(
    readonly line: number,
    readonly reason: string,
    readonly file?: string,
  ) {
    super(`${file === undefined ? "line " : `${file}:`}${line}: ${reason}`);
    this.name = "TraceSyntaxError";
  }

  /** The same error, naming the file it is in. */
  in(file: string): TraceSyntaxError {
    return new TraceSyntaxError(this.line, this.reason, file);
  }
}

const CALL = /^(\d+)\s+(?:\d+:\d+:\d+(?:\.\d+)?\s+)?([a-z_0-9]+)\((.*)$/;
const RESUMED = /^(\d+)\s+(?:\d+:\d+:\d+(?:\.\d+)?\s+)?<\.\.\. ([a-z_0-9]+) resumed>(.*)$/;
const EXITED = /^(\d+)\s+(?:\d+:\d+:\d+(?:\.\d+)?\s+)?\+\+\+ (?:exited with -?\d+|killed by SIG[A-Z0-9]+(?: \(core dumped\))?) \+\+\+$/;
const SIGNAL = /^(\d+)\s+(?:\d+:\d+:\d+(?:\.\d+)?\s+)?--- SIG[A-Z0-9]+ .* ---$/;
const RESULT = /\)\s+= (-?\d+|0x[0-9a-f]+|\?)(?: ([A-Z][A-Z0-9_]+) \(.*\))?(?: <[\d.]+>)?$/;

/** Splits an argument list at top-level commas (not inside (), [], {}, or quotes). */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth--;
    else if (c === "," && depth === 0) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = text.slice(start).trim();
  if (last) args.push(last);
  return args;
}

/**
 * Parses strace output. A line that cannot be read throws TraceSyntaxError
 * with `strict`; otherwise it is skipped and its number kept in the stats.
 */
export function parseStrace(text: string, strict = false, firstLine = 1): { events: TraceEvent[]; stats: ParseStats } {
  const events: TraceEvent[] = [];
  const stats: ParseStats = { lines: 0, badLines: [], signals: 0, unfinished: 0 };
  const pending = new Map<number, { name: string; head: string; line: number }>();
  const lines = text.split("\n");
  const bad = (line: number, why: string) => {
    if (strict) throw new TraceSyntaxError(line, why);
    stats.badLines.push(line);
  };
  const complete = (tid: number, name: string, body: string, line: number) => {
    const m = RESULT.exec(body);
    if (!m) return bad(line, `no result in ${quoted(body.slice(-60))}`);
    const argText = body.slice(0, m.index);
    const ret = m[1] === "?" ? null : Number(m[1]);
    events.push({ kind: "call", tid, name, args: splitArgs(argText), ret, errno: m[2] ?? null, line });
  };
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trimEnd();
    const line = i + firstLine;
    if (!text) continue;
    stats.lines++;
    let m: RegExpExecArray | null;
    if ((m = EXITED.exec(text))) {
      events.push({ kind: "exit", tid: Number(m[1]), line });
    } else if (SIGNAL.test(text)) {
      stats.signals++;
    } else if ((m = RESUMED.exec(text))) {
      const tid = Number(m[1]);
      const head = pending.get(tid);
      if (!head || head.name !== m[2]) {
        bad(line, `${quoted(m[2])} resumed without its start`);
        continue;
      }
      pending.delete(tid);
      complete(tid, head.name, `${head.head}${m[3]}`, line);
    } else if ((m = CALL.exec(text))) {
      const tid = Number(m[1]);
      const body = m[3];
      if (body.endsWith("<unfinished ...>")) {
        pending.set(tid, { name: m[2], head: body.slice(0, -"<unfinished ...>".length).trimEnd(), line });
      } else {
        complete(tid, m[2], body, line);
      }
    } else {
      bad(line, `not a strace line: ${quoted(text)}`);
    }
  }
  // exit_group and execve of other threads never resume: that is no corruption.
  stats.unfinished = [...pending.values()].filter((p) => p.name !== "exit_group" && p.name !== "exit").length;
  return { events, stats };
}
