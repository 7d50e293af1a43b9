// Trace ingestion: MB of trace text per second, end to end (read, gunzip,
// parse, replay under linux-6.18 with the fidelity check where there are
// snapshots), and the peak RSS of a process that does only that. Each corpus
// recording is read in a fresh process (its figures include the JIT's
// warm-up, a large part of a small recording's time); the long trace is
// made of the corpus recordings' traces one after another until it is a
// given size (1 GB in a full run): the steady state, and whether memory
// stays flat as a trace grows.

import { spawnSync } from "node:child_process";
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { median } from "./stats.mjs";

const CORPUS = new URL("../corpus/", import.meta.url).pathname;
const CHILD = `
import { replayTraceFile } from "${new URL("../dist/trace/read.js", import.meta.url).pathname}";
const t0 = performance.now();
await replayTraceFile(process.argv[1]);
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ seconds, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
`;

const recordings = () => readdirSync(CORPUS).filter((x) => x.endsWith(".trace.gz")).sort();

/** One replay of `path` in a fresh process: seconds and peak RSS. */
function replayOnce(path) {
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", CHILD, path], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`trace bench on ${path}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Each corpus recording, `rounds` times in a fresh process: MB/s of its uncompressed text and peak RSS. */
export function benchTraces({ rounds }) {
  const rows = [];
  for (const f of recordings()) {
    const path = `${CORPUS}${f}`;
    const bytes = gunzipSync(readFileSync(path)).length;
    const runs = [];
    for (let i = 0; i < rounds; i++) {
      runs.push(replayOnce(path));
      process.stderr.write(`  trace ${f}: round ${i + 1}\n`);
    }
    const seconds = median(runs.map((r) => r.seconds));
    rows.push({ trace: f, mb: bytes / 1e6, seconds, mbPerSecond: bytes / 1e6 / seconds, maxRssMb: Math.max(...runs.map((r) => r.maxRssBytes)) / 1e6 });
  }
  return rows;
}

/**
 * A bare perf trace of about `bytes` (1e9: 1 GB): the corpus recordings'
 * traces (the part after '# trace') in turn, again and again, each started
 * by a launcher process that forks it (as a shell runs one program after
 * another). Each copy's threads get ids of their own (an offset of 2^22,
 * Linux's largest pid, per copy), clone's returns too, and its times follow
 * the previous copy's. Without the recordings' headers there are no
 * snapshots: execve's layout is rebuilt from the calls, as for any bare trace.
 */
export function buildLongTrace(path, bytes) {
  const fd = openSync(path, "w");
  const HEAD = /^(\s*)(\d+\.\d+)( \([^)]*\): .*?\/)(\d+)( .*)$/;
  const CLONE_RET = /^(\s*(?:clone3?|v?fork)\(.*\)\s+= |\s*\.\.\. \[continued\]: (?:clone3?|v?fork)\(\)\)\s+= )(\d+)(.*)$/;
  let written = 0;
  let copy = 0;
  let timeBase = 0;
  while (written < bytes) {
    for (const f of recordings()) {
      copy++;
      const pidBase = copy * 2 ** 22;
      const text = gunzipSync(readFileSync(`${CORPUS}${f}`)).toString("utf8");
      const lines = text.slice(text.indexOf("\n# trace\n") + 9).split("\n");
      let first = Number.NaN;
      let last = 0;
      const root = Number(HEAD.exec(lines.find((l) => HEAD.test(l)))[4]) + pidBase;
      const out = [`${timeBase.toFixed(3)} ( 0.010 ms): launcher/1 clone(clone_flags: CHILD_CLEARTID|CHILD_SETTID|0x11, child_tidptr: 0x7f0000000a10) = ${root} (launcher)\n`];
      for (const line of lines) {
        const m = HEAD.exec(line);
        if (!m) continue;
        const t = Number(m[2]);
        if (Number.isNaN(first)) first = t;
        last = Math.max(last, t - first);
        const body = m[5].slice(1);
        const c = CLONE_RET.exec(body);
        const rest = c ? ` ${c[1]}${Number(c[2]) + pidBase}${c[3]}` : m[5];
        out.push(`${m[1]}${(timeBase + 1 + t - first).toFixed(3)}${m[3]}${Number(m[4]) + pidBase}${rest}\n`);
      }
      timeBase += last + 2;
      const chunk = out.join("");
      writeSync(fd, chunk);
      written += Buffer.byteLength(chunk);
      if (written >= bytes) break;
    }
  }
  closeSync(fd);
  return written;
}

/** The long trace (built in the temporary directory, then removed), replayed `rounds` times in a fresh process. */
export function benchLongTrace({ bytes, rounds }) {
  const path = join(tmpdir(), `vmalab-long-${process.pid}.trace`);
  try {
    process.stderr.write(`  building a ${(bytes / 1e6).toFixed(0)} MB trace from the corpus at ${path}\n`);
    buildLongTrace(path, bytes);
    const size = statSync(path).size;
    const runs = [];
    for (let i = 0; i < rounds; i++) {
      runs.push(replayOnce(path));
      process.stderr.write(`  long trace: round ${i + 1}\n`);
    }
    const seconds = median(runs.map((r) => r.seconds));
    return { mb: size / 1e6, seconds, mbPerSecond: size / 1e6 / seconds, maxRssMb: Math.max(...runs.map((r) => r.maxRssBytes)) / 1e6 };
  } finally {
    rmSync(path, { force: true });
  }
}
