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

import { readBytes } from "../files.js";
import { constants, gunzipSync } from "node:zlib";
import { VmalabError } from "../wasm.js";
import { parseSnapshots, type Snapshot } from "./snapshot.js";
import { quoted } from "../quote.js";
import { TraceSyntaxError } from "./strace.js";

const MAGIC = "# vmalab trace";

export interface TraceFile {
  /** Header fields by name ("program", "kernel", "thp", ...); empty for a bare trace. */
  header: Record<string, string>;
  snapshots: Snapshot[];
  /** The tracer's output. */
  text: string;
  /** The file line of the first line of `text` (1 for a bare trace). */
  firstLine: number;
  /** A gzip file that ends early: `text` is what could be read of it. */
  cut?: boolean;
  /** The file it was read from, for errors. */
  path?: string;
}

/**
 * The text of a file, gunzipped when it is gzip (by its magic bytes, whatever
 * its name). A gzip file that ends early gives what could be read, `cut`.
 */
export function readText(path: string): { text: string; cut: boolean } {
  const bytes = readBytes(path);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return { text: asText(bytes, path), cut: false };
  let text: Buffer;
  let cut = false;
  try {
    text = gunzipSync(bytes, { maxOutputLength: MAX_TEXT + 1 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") text = Buffer.alloc(MAX_TEXT + 1);
    else {
      // Z_SYNC_FLUSH hands back what the stream held before it broke off.
      text = gunzipSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_TEXT + 1 });
      cut = true;
    }
  }
  return { text: asText(text, path), cut };
}

/** The longest text a trace may have: what one JavaScript string holds (the readers do not stream yet). */
const MAX_TEXT = 0x1fffffe8;

function asText(bytes: Buffer, path: string): string {
  if (bytes.length > MAX_TEXT) {
    throw new VmalabError("EFBIG", `${path}: the trace does not fit: over ${(MAX_TEXT / 2 ** 20) | 0} MiB of text (cut it at a process boundary into smaller recordings)`);
  }
  return bytes.toString("utf8");
}

/** Splits a recording's text into its header, snapshots and trace. */
export function parseTraceFile(text: string, file = "<trace>"): TraceFile {
  if (!text.startsWith(MAGIC)) return { header: {}, snapshots: [], text, firstLine: 1 };
  const header: Record<string, string> = {};
  let pos = 0;
  let line = 1;
  let snapshots: Snapshot[] = [];
  const nextLine = (): string | null => {
    if (pos >= text.length) return null;
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    const l = text.slice(pos, end);
    pos = end + 1;
    return l;
  };
  nextLine();
  for (let l = nextLine(); ; l = nextLine()) {
    line++;
    if (l === null) throw new TraceSyntaxError(line, "the header has no '# trace' line: the recording was cut", file);
    if (l === "# trace") break;
    const m = /^# ([a-z-]+): ?(.*)$/.exec(l);
    if (!m) throw new TraceSyntaxError(line, `not a header line: ${quoted(l, 80)}`, file);
    header[m[1]] = m[2];
    if (m[1] !== "snapshots") continue;
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n) || n < 0) throw new TraceSyntaxError(line, `snapshots: not a line count: ${quoted(m[2])}`, file);
    const lines: string[] = [];
    for (let k = 0; k < n; k++) {
      const s = nextLine();
      if (s === null) throw new TraceSyntaxError(line + k + 1, "the snapshots were cut", file);
      lines.push(s);
    }
    try {
      snapshots = parseSnapshots(lines, line + 1);
    } catch (err) {
      throw err instanceof TraceSyntaxError ? err.in(file) : err;
    }
    line += n;
  }
  return { header, snapshots, text: text.slice(pos), firstLine: line + 1 };
}

/** Reads a recording from disk (see above). */
export function readTraceFile(path: string): TraceFile {
  const { text, cut } = readText(path);
  return { ...parseTraceFile(text, path), cut, path };
}

/** A recording's text: the header fields in order, the snapshot lines, then the trace. */
export function formatTraceFile(header: Record<string, string>, snapshotLines: string[], trace: string): string {
  const fields = Object.entries(header).map(([k, v]) => `# ${k}: ${v}`);
  return [MAGIC, ...fields, `# snapshots: ${snapshotLines.length}`, ...snapshotLines, "# trace", trace].join("\n");
}
