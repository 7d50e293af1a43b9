// Reading a trace into a replay, in one pass and constant memory: the
// recording's lines (file.ts) -> the tracer's reader (perf.ts or strace.ts,
// by the first line) -> the reorder window (events.ts) -> the replay
// (replay.ts) -> the ops to a sink, as they are made.

import { lineSplitter, openOutput, streamLines } from "../files.js";
import { formatOp } from "../scenario/format.js";
import type { ScenarioOp } from "../scenario/parse.js";
import { EventWindow, TraceSyntaxError, type TraceReader } from "./events.js";
import { parseTraceFile, RecordingReader, type RecordingHead, type TraceFile } from "./file.js";
import { isPerfLine, PerfReader } from "./perf.js";
import { type ReplayOptions, type ReplayResult, type ReplayRun, type ReplaySink, startReplay } from "./replay.js";
import { StraceReader } from "./strace.js";

const SCENARIO_HEAD = "# replayed from a trace by vmalab\n";

/** One trace going through the stages above, a line at a time, once its recording's head is read. */
class TraceIngest {
  private readonly replay: ReplayRun;
  private reader: TraceReader | null = null;
  private window: EventWindow | null = null;

  constructor(
    head: RecordingHead,
    private readonly opts: ReplayOptions,
    sink: ReplaySink | undefined,
  ) {
    this.replay = startReplay(head, opts, sink);
  }

  line(line: string, lineNo: number): void {
    if (!this.reader) {
      if (!line.trim()) return;
      const { stats, enter, leave } = this.replay;
      const perf = isPerfLine(line);
      this.window = new EventWindow(perf, stats, enter, leave);
      this.reader = perf ? new PerfReader(this.window, stats, this.opts.strict) : new StraceReader(this.window, stats, this.opts.strict);
    }
    this.reader.line(line, lineNo);
  }

  /** The trace has ended (`cut`: early, a gzip stream cut off; `lastLine`: its last line's number). */
  end(cut: boolean, lastLine: number): ReplayResult {
    if (cut && this.opts.strict) throw new TraceSyntaxError(lastLine, "the file ends early (a gzip stream cut off)");
    this.reader?.end();
    const w = this.window;
    w?.drain();
    const { stats } = this.replay;
    if (w && !Number.isNaN(w.first)) stats.seconds = (w.last - w.first) / 1000;
    stats.cut = cut;
    return this.replay.end();
  }
}

/**
 * Replays a recording on disk (plain or gzip, see file.ts) as it is read,
 * each op to `sink`. Memory does not grow with the trace's length.
 */
export async function replayTraceFile(path: string, opts: ReplayOptions = {}, sink?: ReplaySink): Promise<ReplayResult> {
  let ingest: TraceIngest | undefined;
  const recording = new RecordingReader(
    (head) => (ingest = new TraceIngest(head, opts, sink)),
    (l, n) => ingest!.line(l, n),
    path,
  );
  try {
    const { cut } = await streamLines(path, (l) => recording.line(l));
    recording.end();
    return ingest!.end(cut, recording.lineNo);
  } catch (err) {
    throw err instanceof TraceSyntaxError && err.file === undefined ? err.in(path) : err;
  }
}

/** A replay's scenario as text, a line per op, written as the ops come. */
export class ScenarioText implements ReplaySink {
  constructor(private readonly write: (text: string) => void) {
    write(SCENARIO_HEAD);
  }

  op(op: ScenarioOp): void {
    this.write(`${formatOp(op)}\n`);
  }
}

/** Several sinks as one. */
export function sinks(...all: (ReplaySink | undefined)[]): ReplaySink {
  const some = all.filter((s): s is ReplaySink => s !== undefined);
  return {
    begin: (replay) => some.forEach((s) => s.begin?.(replay)),
    op: (op, line, time) => some.forEach((s) => s.op(op, line, time)),
  };
}

/** Replays a recording to a scenario file, written as it goes. */
export async function traceToScenarioFile(path: string, out: string, opts: ReplayOptions = {}, sink?: ReplaySink): Promise<ReplayResult> {
  const file = openOutput(out);
  try {
    return await replayTraceFile(path, opts, sinks(new ScenarioText((t) => file.write(t)), sink));
  } finally {
    file.end();
  }
}

/** A replay held whole: its ops, and each op's trace line and time. */
export interface Replay extends ReplayResult {
  ops: ScenarioOp[];
  /** For each op, in order, the trace line of the event it replays (0 for ops the replay adds: proc, dump). */
  traceLines: number[];
  /** For each op, the time in ms of the event it replays, where the trace has times (perf); else empty. */
  traceTimes: number[];
}

/** A sink that keeps every op (what a Replay holds). */
function keeper(): ReplaySink & { held(result: ReplayResult): Replay } {
  const ops: ScenarioOp[] = [];
  const traceLines: number[] = [];
  const traceTimes: number[] = [];
  let timed = true;
  return {
    op(op, line, time) {
      ops.push(op);
      traceLines.push(line);
      if (time === undefined) timed = false;
      else traceTimes.push(time);
    },
    held: (result) => ({ ...result, ops, traceLines, traceTimes: timed ? traceTimes : [] }),
  };
}

/** Replays a recording on disk and keeps its ops (for what needs them all, as explain does). */
export async function loadReplay(path: string, opts: ReplayOptions = {}): Promise<Replay> {
  const k = keeper();
  return k.held(await replayTraceFile(path, opts, k));
}

/**
 * Converts a trace held in memory (perf trace or strace -f output, or a
 * recording with vmalab's header) to a scenario, replaying it on linux-6.18
 * as it goes; checks it against the kernel's snapshots where the recording
 * has them.
 */
export function traceToScenario(input: string | TraceFile, opts: ReplayOptions = {}): Replay & { scenario: string } {
  const file = typeof input === "string" ? parseTraceFile(input) : input;
  const text: string[] = [];
  const k = keeper();
  const ingest = new TraceIngest(file, opts, sinks(new ScenarioText((t) => text.push(t)), k));
  let n = file.firstLine;
  const lines = lineSplitter((l) => ingest.line(l, n++));
  lines.push(file.text);
  lines.end(false);
  return { ...k.held(ingest.end(false, n - 1)), scenario: text.join("") };
}
