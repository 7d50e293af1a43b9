import { spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { kernelCheck } from "../src/kernel/check.js";
import { formatTraceFile, parseTraceFile } from "../src/trace/file.js";
import { perfTraceWorks, recordTrace } from "../src/trace/record.js";
import { TraceSyntaxError } from "../src/trace/events.js";
import { replayTraceFile, traceToScenario } from "../src/trace/read.js";
import { tempDir } from "./support/temp.js";

// A recording with a header and snapshots: one process execs (its layout comes from the
// snapshot), maps and faults, forks a child that exits, and exits. Pages: 0x1000 = page 1.
/** One VMA of a snapshot as the helper writes it: the smaps header line, Anonymous, the anon runs, VmFlags. */
function vma(range: string, perms: string, path: string, anonKb: number, flags: string, runs?: string): string[] {
  const file = path.startsWith("/") ? "00002000 fe:00 42" : "00000000 00:00 0";
  const head = `${range} ${perms} ${file}${path ? `                         ${path}` : " "}`;
  return [head, `Anonymous:             ${anonKb} kB`, ...(runs ? [`anon ${runs}`] : []), `VmFlags: ${flags} `];
}
const TEXT = "555555554000-555555556000";
const DATA = "555555556000-555555557000";
const SNAPSHOTS = [
  "snapshot exec 300",
  ...vma(TEXT, "r-xp", "/usr/bin/app", 0, "rd ex mr mw me"),
  ...vma(DATA, "rw-p", "/usr/bin/app", 4, "rd wr mr mw me ac", "555555556000-555555557000"),
  ...vma("7ffffffde000-7ffffffff000", "rw-p", "[stack]", 8, "rd wr mr mw me gd ac", "7fffffffd000-7ffffffff000"),
  "end",
  "snapshot exit 301",
  ...vma(TEXT, "r-xp", "/usr/bin/app", 0, "rd ex mr mw me"),
  ...vma(DATA, "rw-p", "/usr/bin/app", 4, "rd wr mr mw me ac"),
  ...vma("7f0000000000-7f0000004000", "rw-p", "", 4, "rd wr mr mw me ac"),
  ...vma("7ffffffde000-7ffffffff000", "rw-p", "[stack]", 8, "rd wr mr mw me gd ac"),
  "end",
  "snapshot exit 300",
  ...vma(TEXT, "r-xp", "/usr/bin/app", 0, "rd ex mr mw me"),
  ...vma(DATA, "rw-p", "/usr/bin/app", 4, "rd wr mr mw me ac"),
  ...vma("7f0000000000-7f0000004000", "rw-p", "", 8, "rd wr mr mw me ac"),
  ...vma("7ffffffdd000-7ffffffff000", "rw-p", "[stack]", 12, "rd wr mr mw me gd ac"),
  "end",
];const TRACE = `         ? (         ): helper/299  ... [continued]: execve())                                       = 0
     0.100 ( 0.050 ms): helper/299 clone(clone_flags: CHILD_CLEARTID|CHILD_SETTID|0x11)          = 300
     0.120 (         ): helper/300 exceptions:page_fault_user(address: 0x7ffd00001000, ip: 1, error_code: 6)
     0.200 (         ): app/300 execve(filename: 0x1234)                                       ...
     0.210 (         ): app/300 exceptions:page_fault_kernel(address: 0x7fffffffe000, ip: -1, error_code: 2)
     0.200 ( 0.020 ms): app/300  ... [continued]: execve())                                       = 0
     0.300 ( 0.010 ms): app/300 mmap(len: 16384, prot: READ|WRITE, flags: PRIVATE|ANONYMOUS)       = 0x7f0000000000
     0.400 (         ): app/300 exceptions:page_fault_user(address: 0x7f0000000010, ip: 1, error_code: 6)
     0.500 ( 0.010 ms): app/300 clone(clone_flags: CHILD_CLEARTID|CHILD_SETTID|0x11)            = 301
     0.600 ( 0.010 ms): app/301 exit_group()                                                    = ?
     0.700 (         ): app/300 exceptions:page_fault_user(address: 0x7f0000001010, ip: 1, error_code: 6)
     0.800 (         ): app/300 exceptions:page_fault_user(address: 0x7ffffffdd010, ip: 1, error_code: 6)
     0.900 ( 0.010 ms): app/300 exit_group()                                                    = ?
`;
const HEADER = { program: "app", kernel: "6.18.44", thp: "madvise", "zero-page": "yes", tracer: "perf", recorder: "snapshot-helper" };

describe("recordings: header, snapshots, gzip", () => {
  test("a recording's parts, its lines numbered as in the file", () => {
    const f = parseTraceFile(formatTraceFile(HEADER, SNAPSHOTS, TRACE));
    expect(f.header).toMatchObject({ program: "app", thp: "madvise", snapshots: String(SNAPSHOTS.length) });
    expect(f.snapshots.map((s) => `${s.when} ${s.pid} ${s.vmas.length}`)).toEqual(["exec 300 3", "exit 301 4", "exit 300 4"]);
    expect(f.snapshots[0].vmas[2]).toMatchObject({ path: "[stack]", anonPages: 2, anon: [[0x7fffffffd, 2]], vmFlags: "rd wr mr mw me gd ac" });
    // 7 header lines (magic, 6 fields), the snapshots count line, the snapshots, "# trace".
    expect(f.firstLine).toBe(1 + 6 + 1 + SNAPSHOTS.length + 1 + 1);
  });

  test("a gzip file reads as its text; a cut one replays as far as it goes (--strict: an error at its end); a cut snapshot is an error naming the file", async () => {
    const dir = tempDir("vmalab-rec-");
    const text = formatTraceFile(HEADER, SNAPSHOTS, TRACE);
    const gz = gzipSync(text);
    writeFileSync(join(dir, "a.gz"), gz);
    const whole = await replayTraceFile(join(dir, "a.gz"));
    expect(whole.stats.cut).toBe(false);
    expect(whole.fidelity?.programs.reduce((n, p) => n + p.snapshots, 0)).toBe(2);
    writeFileSync(join(dir, "cut.gz"), gz.subarray(0, gz.length - 20));
    const cut = await replayTraceFile(join(dir, "cut.gz"));
    expect(cut.stats.cut).toBe(true);
    expect(cut.stats.lines).toBeGreaterThan(whole.stats.lines / 2);
    await expect(replayTraceFile(join(dir, "cut.gz"), { strict: true })).rejects.toThrow(/^.*cut\.gz:\d+: the file ends early/);
    const lines = formatTraceFile(HEADER, SNAPSHOTS.slice(0, 5), TRACE);
    expect(() => parseTraceFile(lines, "x.trace")).toThrow(TraceSyntaxError);
    expect(() => parseTraceFile(lines, "x.trace")).toThrow(/^x\.trace:\d+: snapshot: cut off/);
    expect(() => parseTraceFile(text.split("\n").slice(0, 20).join("\n"), "y.trace")).toThrow(/^y\.trace:\d+: the snapshots were cut/);
  });

  test("the replay starts from the exec snapshot, skips the recorder, and matches the exit snapshots", () => {
    const { scenario, stats, fidelity } = traceToScenario(parseTraceFile(formatTraceFile(HEADER, SNAPSHOTS, TRACE)));
    // The recorder (299) and its child before its execve (a fault at 0x7ffd00001000) are not the program.
    expect(scenario).not.toContain("34357641217");
    expect(stats).toMatchObject({ execsFromSnapshot: 1, faultsInExec: 1, faults: 3, faultsSkipped: 0 });
    expect(scenario).toContain("restore 34359738334 33 rd,wr,mr,mw,me,gd,ac anon anon=34359738365+2");
    // The stack grew by one page to meet the fault below it.
    expect(fidelity).toEqual({
      programs: [{ name: "app", snapshots: 2, vmas: 8, boundariesExact: 8, anonExact: 8 }],
      differences: [],
      unmatched: 0,
    });
  });

  test("a difference is reported with its cause", () => {
    const wrong = SNAPSHOTS.map((l, i) => (i === SNAPSHOTS.length - 3 ? "Anonymous:             20 kB" : l));
    const { fidelity } = traceToScenario(parseTraceFile(formatTraceFile(HEADER, wrong, TRACE)));
    expect(fidelity!.programs[0]).toMatchObject({ vmas: 8, boundariesExact: 8, anonExact: 7 });
    expect(fidelity!.differences).toEqual([
      expect.objectContaining({ program: "app", pid: 300, vma: "[34359738333, 34359738367)", cause: expect.stringMatching(/^faults the trace did not show/) }),
    ]);
  });
});

test("a stack grows down to a touch below it, within its guard gap and RLIMIT_STACK (kernel-check)", () => {
  for (const text of [
    "mmap 1000 4 rw anon growsdown\ntouch 998 1 w\ntouch 990 1 r\ndump\n",
    // An accessible VMA 280 pages below: the guard gap (256) holds, the touch 30 pages lower fails.
    "mmap 700 10 rw anon\nmmap 1000 4 rw anon growsdown\ntouch 990 1 w\ntouch 960 1 w\ndump\n",
    "mmap 800 10 rw anon\nmmap 1000 4 rw anon growsdown\ntouch 900 1 w\ndump\n",
    // An inaccessible VMA does not keep a stack from growing next to it.
    "mmap 800 10 none anon\nmmap 1000 4 rw anon growsdown\ntouch 900 1 w\ndump\nmprotect 800 10 r\ntouch 850 1 w\ndump\n",
    // 8 MiB of stack at most.
    "mmap 4000 4 rw anon growsdown\ntouch 3000 1 w\ndump\ntouch 1900 1 w\ndump\n",
  ]) {
    const r = kernelCheck(text, "stack");
    expect(r.pass, `${r.difference}\n${text}`).toBe(true);
  }
  const grown = kernelCheck("mmap 1000 4 rw anon growsdown\ntouch 998 1 w\ndump\n", "stack").simulator;
  expect(grown.find((r) => "vmas" in r)).toMatchObject({ vmas: [[998, 1004, "rw-p", "anon", 1, "rd wr mr mw me gd ac"]] });
});

// Recording needs perf trace and ptrace; .ci/run installs perf and requires these tests to run.
const hasPerf = perfTraceWorks();
if (!hasPerf && process.env.VMALAB_REQUIRE_TRACERS === "1") throw new Error("perf trace is required here");

describe.runIf(hasPerf)("record --check: every replay against the kernel's own view", () => {
  const dir = tempDir("vmalab-check-");

  // perf trace drops an event now and then (about one fault in 10^4): a live recording is held to
  // the targets, every difference explained; the shipped recordings (corpus.test.ts) to exact figures.
  async function check(name: string, cmd: string, args: string[]) {
    const out = join(dir, `${name}.trace.gz`);
    expect(recordTrace(cmd, args, out, { tracer: "perf", check: true })).toBe(0);
    const { stats, fidelity } = await replayTraceFile(out);
    expect(fidelity).not.toBeNull();
    const all = fidelity!.programs.reduce((a, p) => ({ vmas: a.vmas + p.vmas, b: a.b + p.boundariesExact, anon: a.anon + p.anonExact }), { vmas: 0, b: 0, anon: 0 });
    console.log(`${name}: ${all.vmas} VMAs at exits, boundaries exact ${all.b}, Anonymous exact ${all.anon}`);
    // Small programs: one event perf drops is a percent of their VMAs, so what is held here is that
    // nearly all agree and that every difference has its cause.
    expect(all.b / all.vmas).toBeGreaterThanOrEqual(0.97);
    expect(all.anon / all.vmas).toBeGreaterThanOrEqual(0.95);
    expect(fidelity!.differences.filter((d) => d.cause.startsWith("unexplained"))).toEqual([]);
    return { stats, fidelity: fidelity!, all };
  }

  test("a shell running a program through vfork: the targets at every exit", async () => {
    const { stats, fidelity } = await check("sh", "sh", ["-c", "ls / > /dev/null; true"]);
    expect(stats.execs).toBe(stats.execsFromSnapshot);
    expect(fidelity.programs.map((p) => p.name).sort()).toEqual(["ls", "sh"]);
  });

  test("an allocator-heavy threaded service with a fork: the targets at every exit", async () => {
    const bin = join(dir, "alloc-service");
    if (!existsSync(bin)) {
      const src = new URL("./fixtures/alloc-service.c", import.meta.url).pathname;
      const cc = spawnSync(process.env.CC ?? "cc", ["-O1", "-pthread", "-o", bin, src], { encoding: "utf8" });
      expect(cc.status, cc.stderr).toBe(0);
    }
    const { fidelity, all } = await check("alloc-service", bin, [join(dir, "maps")]);
    expect(fidelity.programs[0]).toMatchObject({ name: "alloc-service", snapshots: 2 });
    expect(all.vmas).toBeGreaterThan(50);
  });
});

describe("bad recordings: the replay goes on where it can, --strict stops with file:line", () => {
  const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
  const dir = tempDir("vmalab-bad-");
  const vmalab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
  const text = formatTraceFile(HEADER, SNAPSHOTS, TRACE);
  const lines = text.split("\n");
  const traceAt = lines.indexOf("# trace") + 2; // the file line of the trace's first line
  // Cut mid-line, garbage between lines, an event perf might print that vmalab does not know.
  const bad = [
    ...lines.slice(0, traceAt + 6),
    "\u0000\u0001 garbage \u001b[31m here",
    "     0.650 (         ): app/300 sched:sched_switch(prev_comm: app)",
    ...lines.slice(traceAt + 6),
  ].join("\n");
  const badFile = join(dir, "bad.trace");
  writeFileSync(badFile, `${bad.slice(0, bad.length - 30)}`);

  test("counted with line numbers; the check still runs", () => {
    const r = vmalab("trace", "--check", badFile);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`unreadable lines: 3 \\(first at line ${traceAt + 7}\\)`));
    expect(r.stdout).toContain("app: 2 exits");
  });

  test("--strict: the first unreadable line, with its file and line, and no stack trace", () => {
    const r = vmalab("trace", "--strict", badFile);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^vmalab: ${badFile.replace(/[.]/g, "\\.")}:${traceAt + 7}: not a perf trace line: '\\\\x00\\\\x01 garbage \\\\x1b`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stderr).not.toContain("\u001b");
  });

  test("a gzip file cut short: what it holds is replayed and the cut is said", () => {
    const gz = gzipSync(text);
    const file = join(dir, "cut.trace.gz");
    writeFileSync(file, gz.subarray(0, Math.floor(gz.length * 0.8)));
    const r = vmalab("trace", file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("the file ends early");
    expect(vmalab("trace", "--strict", file).stderr).toMatch(/cut\.trace\.gz:\d+: the file ends early/);
  });
});
