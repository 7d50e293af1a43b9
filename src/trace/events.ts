// What the tracers' readers (strace.ts, perf.ts) hand the replay: events,
// put in the order they took effect by a window of bounded size, so that a
// trace of any length is read in constant memory.

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
  /** Lines that could not be read (truncated or corrupted): how many, and the numbers of the first 100. */
  unreadable: number;
  badLines: number[];
  signals: number;
  /** Calls started but never resumed (the trace was cut). */
  unfinished: number;
  /** Events that came later than the reorder window allows (a trace not sorted by time): replayed where they came. */
  late: number;
  /** Events the tracer says it lost (perf's "LOST N events!" lines). */
  lostEvents: number;
  /** How long the traced program ran, from its first event to its last (where the trace has times). */
  seconds?: number;
}

export const newParseStats = (): ParseStats => ({ lines: 0, unreadable: 0, badLines: [], signals: 0, unfinished: 0, late: 0, lostEvents: 0 });

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

/** A line that cannot be read: counted (its number kept among the first 100), or with `strict` an error. */
export function unreadable(stats: ParseStats, strict: boolean, line: number, why: string): void {
  if (strict) throw new TraceSyntaxError(line, why);
  stats.unreadable++;
  if (stats.badLines.length < 100) stats.badLines.push(line);
}

/** What a trace's reader does with each line, and at the end. */
export interface TraceReader {
  line(raw: string, line: number): void;
  end(): void;
}

/** How far, in ms, perf's sorted output runs behind itself (measured on the corpus: under 0.2 ms), with a wide margin. */
const WINDOW_MS = 100;
/** The most events held, whatever their times (a trace without times is held by count alone). */
const WINDOW_EVENTS = 1 << 14;

type Held = { e: TraceEvent; at: number; seq: number };

/**
 * Events in the order they took effect: each is held until the newest event
 * read is WINDOW_MS later (or the window is full), then leaves in time order,
 * events of equal time in the order they were read. `enter` sees every event
 * as it is read, before any later-read event leaves: a clone's return is
 * known before its child's first events are replayed, even when the child
 * ran before its parent's clone returned. Events read in order (perf's
 * sorted output, nearly all of them) wait in a queue; the others in a heap.
 */
export class EventWindow {
  private readonly queue: Held[] = [];
  private head = 0;
  private readonly heap: Held[] = [];
  private seq = 0;
  private newest = Number.NEGATIVE_INFINITY;
  private left = Number.NEGATIVE_INFINITY;
  first = Number.NaN;
  last = Number.NaN;

  /** `timed`: the events have times (perf); else they keep the order they were read in (strace). */
  constructor(
    private readonly timed: boolean,
    private readonly stats: ParseStats,
    private readonly enter: (e: TraceEvent) => void,
    private readonly leave: (e: TraceEvent) => void,
  ) {}

  /** An event that took effect at `at` ms (ignored for a trace without times). */
  push(e: TraceEvent, at = 0): void {
    this.enter(e);
    if (!this.timed) at = this.seq;
    else {
      e.time = at;
      if (Number.isNaN(this.first) || at < this.first) this.first = at;
      if (Number.isNaN(this.last) || at > this.last) this.last = at;
    }
    if (at < this.left) {
      this.stats.late++;
      this.leave(e);
      return;
    }
    const x = { e, at, seq: this.seq++ };
    if (at >= this.newest) this.queue.push(x);
    else this.insert(x);
    if (at > this.newest) this.newest = at;
    const limit = this.timed ? this.newest - WINDOW_MS : Number.NEGATIVE_INFINITY;
    for (;;) {
      const next = this.next();
      if (!next || (this.held() <= WINDOW_EVENTS && next.at >= limit)) break;
      this.take(next);
    }
  }

  /** Lets every event held go. */
  drain(): void {
    for (let next = this.next(); next; next = this.next()) this.take(next);
  }

  private held(): number {
    return this.queue.length - this.head + this.heap.length;
  }

  /** The event to leave next: the earlier of the queue's head and the heap's top. */
  private next(): Held | undefined {
    const q = this.head < this.queue.length ? this.queue[this.head] : undefined;
    const h = this.heap[0];
    return q && (!h || before(q, h)) ? q : h;
  }

  private take(x: Held): void {
    if (x === this.heap[0]) this.pop();
    else if (++this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.left = x.at;
    this.leave(x.e);
  }

  private pop(): void {
    const h = this.heap;
    const end = h.pop()!;
    if (!h.length) return;
    // Sift the last entry down from the root.
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const c = l + 1 < h.length && before(h[l + 1], h[l]) ? l + 1 : l;
      if (!before(h[c], end)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = end;
  }

  private insert(x: Held): void {
    const h = this.heap;
    let i = h.length;
    h.push(x);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(x, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = x;
  }
}

const before = (a: Held, b: Held) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
