// The scenario and strace readers at size: a 10^6-line scenario run end to
// end (`vmalab scenario`, its records printed), its lines read alone, and a
// 50 MB strace trace replayed (`vmalab trace`), each in a fresh process with
// its peak RSS; then the fuzz test of the readers, run longer than in CI.

import { spawnSync } from "node:child_process";
import { closeSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const CLI = new URL("../dist/cli/main.js", import.meta.url).pathname;
const READ_ONLY = `
import { ScenarioReader } from "${new URL("../dist/scenario/parse.js", import.meta.url).pathname}";
import { streamLines } from "${new URL("../dist/files.js", import.meta.url).pathname}";
const reader = new ScenarioReader(process.argv[1]);
const t0 = performance.now();
let ops = 0;
await streamLines(process.argv[1], (l) => { if (reader.line(l)) ops++; });
console.log(JSON.stringify({ seconds: (performance.now() - t0) / 1000, ops }));
`;

/** Runs node with `args` in a fresh process: wall seconds and peak RSS (from /usr/bin/time's format, else resourceUsage). */
function timed(args) {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "ignore", "pipe"] });
  const seconds = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${args.join(" ")}: ${r.stderr}`);
  return seconds;
}

/** A plausible strace -f stream of about `bytes`: processes forked in turn, each mapping, protecting, advising and unmapping, then exiting. */
export function writeStrace(path, bytes) {
  const fd = openSync(path, "w");
  let written = 0;
  let pid = 1000;
  const parent = 999;
  const hex = (page) => `0x${(page * 4096).toString(16)}`;
  writeSync(fd, `${parent} execve("/bin/sh", ["sh"], 0x7ffd /* 3 vars */) = 0\n`);
  while (written < bytes) {
    const lines = [`${parent} clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f00) = ${++pid}`];
    let page = 0x7f0000000 + (pid % 1000) * 4096;
    for (let i = 0; i < 200; i++) {
      lines.push(`${pid} mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = ${hex(page)}`);
      lines.push(`${pid} mprotect(${hex(page + 4)}, 16384, PROT_READ) = 0`);
      lines.push(`${pid} madvise(${hex(page + 8)}, 8192, MADV_DONTNEED) = 0`);
      if (i % 3 === 0) lines.push(`${pid} munmap(${hex(page)}, 65536) = 0`);
      lines.push(`${pid} brk(NULL)                         = 0x5000000`);
      page += 32;
    }
    lines.push(`${pid} exit_group(0)                     = ?`, `${pid} +++ exited with 0 +++`);
    const chunk = `${lines.join("\n")}\n`;
    writeSync(fd, chunk);
    written += chunk.length;
  }
  closeSync(fd);
}

export function benchReaders({ quick }) {
  const dir = tmpdir();
  const scenario = join(dir, `vmalab-bench-${process.pid}.txt`);
  const strace = join(dir, `vmalab-bench-${process.pid}.strace`);
  try {
    const lines = quick ? 200_000 : 1_000_000;
    const gen = spawnSync(process.execPath, [CLI, "generate", "random", "1", "--ops", String(lines)], { encoding: "utf8", maxBuffer: 1 << 30 });
    if (gen.status !== 0) throw new Error(gen.stderr);
    const fd = openSync(scenario, "w");
    writeSync(fd, gen.stdout);
    closeSync(fd);
    const scenarioLines = gen.stdout.split("\n").length - 1;
    process.stderr.write(`  readers: a ${scenarioLines}-line scenario\n`);
    const read = spawnSync(process.execPath, ["--input-type=module", "-e", READ_ONLY, scenario], { encoding: "utf8" });
    if (read.status !== 0) throw new Error(read.stderr);
    const readOnly = JSON.parse(read.stdout);
    const runSeconds = timed([CLI, "scenario", scenario]);
    const rss = (args) => {
      const r = spawnSync("/usr/bin/time", ["-f", "%M", process.execPath, ...args], { encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "ignore", "pipe"] });
      return Number(r.stderr.trim().split("\n").pop()) / 1000;
    };
    const scenarioRss = rss([CLI, "scenario", scenario]);
    const mb = quick ? 10e6 : 50e6;
    writeStrace(strace, mb);
    const straceBytes = statSync(strace).size;
    process.stderr.write(`  readers: a ${(straceBytes / 1e6).toFixed(0)} MB strace trace\n`);
    const straceSeconds = timed([CLI, "trace", strace]);
    const straceRss = rss([CLI, "trace", strace]);
    return {
      scenario: { lines: scenarioLines, readSeconds: readOnly.seconds, linesPerSecondRead: scenarioLines / readOnly.seconds, runSeconds, linesPerSecondRun: scenarioLines / runSeconds, maxRssMb: scenarioRss },
      strace: { mb: straceBytes / 1e6, seconds: straceSeconds, mbPerSecond: straceBytes / 1e6 / straceSeconds, maxRssMb: straceRss },
    };
  } finally {
    rmSync(scenario, { force: true });
    rmSync(strace, { force: true });
  }
}

/** The readers' fuzz test (test/fuzz.test.ts) for `seconds`: its summary line. */
export function benchFuzz({ seconds }) {
  const r = spawnSync("npx", ["vitest", "run", "test/fuzz.test.ts"], {
    encoding: "utf8",
    cwd: new URL("../", import.meta.url).pathname,
    env: { ...process.env, VMALAB_FUZZ_SECONDS: String(seconds) },
  });
  const summary = /fuzz seed \d+: [^\n]*/.exec(r.stdout)?.[0] ?? "no summary";
  return { seconds, passed: r.status === 0, summary };
}
