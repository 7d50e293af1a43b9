// Reading `strace -f` output: one syscall per line, prefixed by the thread id;
// calls interrupted by another thread's line come as `<unfinished ...>` and a
// later `<... NAME resumed>`; signals (`--- SIG... ---`) and exits (`+++
// exited with N +++`, `+++ killed by SIG... +++`) are lines of their own.

import { quoted } from "../quote.js";
import { EventWindow, newParseStats, type ParseStats, type TraceEvent, type TraceReader, unreadable } from "./events.js";

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
 * Reads strace output line by line into `window`. A line that cannot be read
 * throws TraceSyntaxError with `strict`; otherwise it is skipped and counted.
 */
export class StraceReader implements TraceReader {
  private readonly pending = new Map<number, { name: string; head: string; line: number }>();

  constructor(
    private readonly window: EventWindow,
    private readonly stats: ParseStats,
    private readonly strict = false,
  ) {}

  line(raw: string, line: number): void {
    const text = raw.trimEnd();
    if (!text) return;
    this.stats.lines++;
    let m: RegExpExecArray | null;
    if ((m = EXITED.exec(text))) {
      this.window.push({ kind: "exit", tid: Number(m[1]), line });
    } else if (SIGNAL.test(text)) {
      this.stats.signals++;
    } else if ((m = RESUMED.exec(text))) {
      const tid = Number(m[1]);
      const head = this.pending.get(tid);
      if (!head || head.name !== m[2]) return unreadable(this.stats, this.strict, line, `${quoted(m[2])} resumed without its start`);
      this.pending.delete(tid);
      this.complete(tid, head.name, `${head.head}${m[3]}`, line);
    } else if ((m = CALL.exec(text))) {
      const tid = Number(m[1]);
      const body = m[3];
      if (body.endsWith("<unfinished ...>")) {
        this.pending.set(tid, { name: m[2], head: body.slice(0, -"<unfinished ...>".length).trimEnd(), line });
      } else {
        this.complete(tid, m[2], body, line);
      }
    } else {
      unreadable(this.stats, this.strict, line, `not a strace line: ${quoted(text)}`);
    }
  }

  end(): void {
    // exit_group and execve of other threads never resume: that is no corruption.
    this.stats.unfinished = [...this.pending.values()].filter((p) => p.name !== "exit_group" && p.name !== "exit").length;
  }

  private complete(tid: number, name: string, body: string, line: number): void {
    const m = RESULT.exec(body);
    if (!m) return unreadable(this.stats, this.strict, line, `no result in ${quoted(body.slice(-60))}`);
    const argText = body.slice(0, m.index);
    const ret = m[1] === "?" ? null : Number(m[1]);
    this.window.push({ kind: "call", tid, name, args: splitArgs(argText), ret, errno: m[2] ?? null, line });
  }
}

/** Parses a whole strace text (lines numbered from `firstLine`): its events in order, and what was skipped. */
export function parseStrace(text: string, strict = false, firstLine = 1): { events: TraceEvent[]; stats: ParseStats } {
  const events: TraceEvent[] = [];
  const stats = newParseStats();
  const window = new EventWindow(false, stats, () => {}, (e) => events.push(e));
  const reader = new StraceReader(window, stats, strict);
  text.split("\n").forEach((l, i) => reader.line(l, i + firstLine));
  reader.end();
  window.drain();
  return { events, stats };
}
