// A recording on disk: plain or gzip-compressed perf trace or strace text,
// optionally led by vmalab's header (what was recorded, on what host) and the
// kernel's snapshots of each process (snapshot.ts):
//
//   # vmalab trace
//   # program: NAME            # version: ...   # command: ...
//   # kernel: RELEASE          # thp: MODE      # zero-page: yes|no
//   # tracer: perf|strace      # recorder: snapshot-helper (the first process is the recorder)
//   # snapshots: N             then N lines of snapshots
//   # trace                    then the tracer's output to the end
//
// Lines are numbered in the file as a user sees it (uncompressed).

import { parseSnapshots, type Snapshot } from "./snapshot.js";
import { quoted } from "../quote.js";
import { TraceSyntaxError } from "./events.js";

const MAGIC = "# vmalab trace";

/** What a recording says before its trace: the header fields by name ("program", "kernel", "thp", ...; none for a bare trace), the snapshots. */
export interface RecordingHead {
  header: Record<string, string>;
  snapshots: Snapshot[];
}

/** A recording read whole. */
export interface TraceFile extends RecordingHead {
  /** The tracer's output. */
  text: string;
  /** The file line of the first line of `text` (1 for a bare trace). */
  firstLine: number;
}

/**
 * A recording read line by line (lines numbered from 1): the header and the
 * snapshots first, then every line of the trace to `trace`. A text without
 * the header is a bare trace, all of it trace.
 */
export class RecordingReader {
  private state: "first" | "header" | "snapshots" | "trace" = "first";
  private readonly header: Record<string, string> = {};
  private readonly snapshotLines: string[] = [];
  private snapshotsLeft = 0;
  private snapshotsFrom = 0;
  /** The number of the last line read. */
  lineNo = 0;

  constructor(
    private readonly onHead: (head: RecordingHead) => void,
    private readonly trace: (line: string, lineNo: number) => void,
    private readonly file = "<trace>",
  ) {}

  /** One line; true if it was a line of the trace. */
  line(l: string): boolean {
    const line = ++this.lineNo;
    switch (this.state) {
      case "first":
        if (l.replace(/\r$/, "") === MAGIC) {
          this.state = "header";
          return false;
        }
        this.start([]);
        this.trace(l, line);
        return true;
      case "header": {
        if (l === "# trace") {
          this.start(this.snapshotLines.length ? this.parsedSnapshots() : []);
          return false;
        }
        const m = /^# ([a-z-]+): ?(.*)$/.exec(l);
        if (!m) throw new TraceSyntaxError(line, `not a header line: ${quoted(l, 80)}`, this.file);
        this.header[m[1]] = m[2];
        if (m[1] !== "snapshots") return false;
        const n = Number(m[2]);
        if (!Number.isSafeInteger(n) || n < 0) throw new TraceSyntaxError(line, `snapshots: not a line count: ${quoted(m[2])}`, this.file);
        this.snapshotsLeft = n;
        this.snapshotsFrom = line + 1;
        if (n) this.state = "snapshots";
        return false;
      }
      case "snapshots":
        this.snapshotLines.push(l);
        if (--this.snapshotsLeft === 0) this.state = "header";
        return false;
      default:
        this.trace(l, line);
        return true;
    }
  }

  /** The recording has ended: a header cut short is an error. */
  end(): void {
    if (this.state === "first") this.start([]);
    else if (this.state === "snapshots") throw new TraceSyntaxError(this.lineNo + 1, "the snapshots were cut", this.file);
    else if (this.state === "header") throw new TraceSyntaxError(this.lineNo + 1, "the header has no '# trace' line: the recording was cut", this.file);
  }

  private parsedSnapshots(): Snapshot[] {
    try {
      return parseSnapshots(this.snapshotLines, this.snapshotsFrom);
    } catch (err) {
      throw err instanceof TraceSyntaxError ? err.in(this.file) : err;
    }
  }

  private start(snapshots: Snapshot[]): void {
    this.state = "trace";
    this.snapshotLines.length = 0;
    this.onHead({ header: this.header, snapshots });
  }
}

/** Splits a recording's text into its header, snapshots and trace. */
export function parseTraceFile(text: string, file = "<trace>"): TraceFile {
  let head: RecordingHead = { header: {}, snapshots: [] };
  const reader = new RecordingReader((h) => (head = h), () => {}, file);
  for (let pos = 0; pos < text.length; ) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    if (reader.line(text.slice(pos, end))) return { ...head, text: text.slice(pos), firstLine: reader.lineNo };
    pos = end + 1;
  }
  reader.end();
  return { ...head, text: "", firstLine: reader.lineNo + 1 };
}

/** A recording's text: the header fields in order, the snapshot lines, then the trace. */
export function formatTraceFile(header: Record<string, string>, snapshotLines: string[], trace: string): string {
  const fields = Object.entries(header).map(([k, v]) => `# ${k}: ${v}`);
  return [MAGIC, ...fields, `# snapshots: ${snapshotLines.length}`, ...snapshotLines, "# trace", trace].join("\n");
}
