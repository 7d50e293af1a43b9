import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, test } from "vitest";
import { parseScenario, runOps, System } from "../src/index.js";
import { perfTraceWorks, recordTrace, type Tracer } from "../src/trace/record.js";
import { EventWindow, newParseStats, TraceSyntaxError } from "../src/trace/events.js";
import { parseTraceFile } from "../src/trace/file.js";
import { traceToScenario, traceToScenarioFile } from "../src/trace/read.js";
import type { ReplayStats } from "../src/trace/replay.js";
import { kernelLineOf as kernelLineOfRelease } from "../src/system.js";
import { parseStrace } from "../src/trace/strace.js";
import { tempDir } from "./support/temp.js";

const TRACE = `100 execve("/bin/app", ["app"], 0x7ffd /* 3 vars */) = 0
100 brk(NULL)                         = 0x5000000
100 openat(AT_FDCWD, "/lib/libx.so", O_RDONLY|O_CLOEXEC) = 3
100 mmap(NULL, 16384, PROT_READ, MAP_PRIVATE|MAP_DENYWRITE, 3, 0) = 0x7f0000000000
100 mmap(0x7f0000001000, 4096, PROT_READ|PROT_EXEC, MAP_PRIVATE|MAP_FIXED|MAP_DENYWRITE, 3, 0x1000) = 0x7f0000001000
100 close(3)                          = 0
100 mprotect(0x400000, 4096, PROT_READ) = 0
100 brk(0x5021000)                    = 0x5021000
100 mmap(NULL, 8392704, PROT_NONE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK, -1, 0 <unfinished ...>
100 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED} ---
100 <... mmap resumed>) = 0x7e0000000000
100 clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM, child_tid=0x1}, 88) = 101
101 mmap(NULL, 65536, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE, -1, 0) = 0x7d0000000000
101 futex(0x1, FUTEX_WAKE, 1) = 0
100 mmap(NULL, 1099511627776, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = -1 ENOMEM (Cannot allocate memory)
100 madvise(0x7d0000000000, 4096, MADV_FREE) = 0
100 madvise(0x7d0000000000, 4096, MADV_DONTFORK) = 0
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x1) = 102
102 mremap(0x7d0000001000, 8192, 16384, MREMAP_MAYMOVE) = 0x7c0000000000
102 exit_group(0)                     = ?
102 +++ exited with 0 +++
101 +++ exited with 0 +++
100 exit_group(0)                     = ?
100 +++ exited with 0 +++
`;

describe("strace traces", () => {
  test("parsing: unfinished and resumed calls, signals, errors, exits", () => {
    const { events, stats } = parseStrace(TRACE);
    expect(stats).toMatchObject({ badLines: [], signals: 1, unfinished: 0 });
    const mmap = events.find((e) => e.kind === "call" && e.name === "mmap" && e.line === 11);
    expect(mmap).toMatchObject({ tid: 100, args: ["NULL", "8392704", "PROT_NONE", "MAP_PRIVATE|MAP_ANONYMOUS|MAP_STACK", "-1", "0"], ret: 0x7e0000000000 });
    const failed = events.find((e) => e.kind === "call" && e.ret === -1);
    expect(failed).toMatchObject({ name: "mmap", errno: "ENOMEM" });
    expect(events.filter((e) => e.kind === "exit").map((e) => e.tid)).toEqual([102, 101, 100]);
    const clone3 = events.find((e) => e.kind === "call" && e.name === "clone3");
    expect(clone3 && clone3.kind === "call" && clone3.args[0]).toMatch(/^\{flags=CLONE_VM\|/);
  });

  test("a corrupted or truncated line is skipped and counted, or stops a strict read with its number", () => {
    const bad = TRACE.replace("100 close(3)                          = 0", "100 close(3").replace("100 brk(NULL)", "garbage here");
    const { stats } = parseStrace(bad);
    expect(stats.badLines).toEqual([2, 6]);
    expect(() => parseStrace(bad, true)).toThrow(TraceSyntaxError);
    expect(() => parseStrace(bad, true)).toThrow(/^line 2: /);
  });

  test("replay: the ops at the traced addresses, threads in their process, the rules counted", () => {
    const { scenario, stats } = traceToScenario(TRACE);
    const page = (x: number) => x / 4096;
    const lines = scenario.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(lines).toEqual([
      "exec",
      `mmap ${page(0x7f0000000000)} 4 r file:/lib/libx.so@0`,
      `mmap ${page(0x7f0000001000)} 1 rx file:/lib/libx.so@1`,
      // The program's own pages came with execve: rebuilt when mprotect touches them.
      `mmap ${page(0x400000)} 1 r file:[execve]@${page(0x400000)}`,
      `mprotect ${page(0x400000)} 1 r`,
      `mmap ${page(0x5000000)} 33 rw anon`,
      `mmap ${page(0x7e0000000000)} 2049 none anon stack`,
      // The thread's mmap is its process's.
      `mmap ${page(0x7d0000000000)} 16 rw anon noreserve`,
      `madvise ${page(0x7d0000000000)} 1 dontfork`,
      "fork 102",
      "proc 102",
      `mremap ${page(0x7d0000001000)} 2 4 fixed=${page(0x7c0000000000)}`,
      "dump",
      "exit",
      "proc 0",
      "dump",
      "exit",
    ]);
    expect(stats).toMatchObject({ processes: 2, threads: 1, execs: 1, failed: 1, reconstructed: 1, faults: 0 });
    expect(stats.unknown).toEqual({ futex: 1 });
    const records = runOps(System.createSync(), parseScenario(scenario));
    expect(records.filter((r) => "errno" in r)).toEqual([]);
  });

  test("replay: a fork child's calls that strace shows before the fork returned run in the child, after the fork", () => {
    const racy = `100 mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x1 <unfinished ...>
101 munmap(0x7f0000000000, 4096) = 0
101 exit_group(0)                     = ?
101 +++ exited with 0 +++
100 <... clone resumed>) = 101
100 exit_group(0)                     = ?
100 +++ exited with 0 +++
`;
    const { scenario, stats } = traceToScenario(racy);
    const page = 0x7f0000000000 / 4096;
    expect(scenario.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
      `mmap ${page} 2 rw anon`,
      "fork 101",
      "proc 101",
      `munmap ${page} 1`,
      "dump",
      "exit",
      "proc 0",
      "dump",
      "exit",
    ]);
    expect(stats).toMatchObject({ processes: 2, threads: 0 });
    const dumps = runOps(System.createSync(), parseScenario(scenario)).filter((r) => "dump" in r);
    expect(dumps.map((d) => ("vmas" in d ? d.vmas.map(([s, e]) => e - s) : []))).toEqual([[1], [2]]);
  });
});

const PERF = `         ? (         ): app/200  ... [continued]: execve())                                           = 0
     0.400 ( 0.030 ms): app/200 mmap(len: 65536, prot: READ|WRITE, flags: PRIVATE|ANONYMOUS)       = 0x7f0000000000
     0.500 (         ): app/200 exceptions:page_fault_user(address: 0x7f0000000010, ip: 1234, error_code: 6)
     0.600 ( 0.100 ms): app/200 clone3(uargs: 0x7ffd0, size: 88)                               = 201
     2.000 (         ): app/201 exceptions:page_fault_user(address: 0x7f0000001000, ip: 1234, error_code: 4)
     0.650 (         ): app/201 mprotect(start: 0x7f0000002000, len: 4096)      ...
     0.900 ( 0.010 ms): app/201  ... [continued]: mprotect())                                         = 0
     0.800 (         ): app/200 exceptions:page_fault_kernel(address: 0x7f0000003000, ip: -5)
LOST 3 events!
     3.000 (         ): app/200 exit_group()                                                          = ?
`;

describe("perf trace", () => {
  test("named arguments, continued calls, faults (write from the error code), time order, lost events", () => {
    const { scenario, stats } = traceToScenario(PERF);
    const page = 0x7f0000000000 / 4096;
    expect(scenario.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
      "exec",
      `mmap ${page} 16 rw anon`,
      `touch ${page} 1 w`,
      // The kernel's read of page 3 and the thread's mprotect (done at 0.91 ms) come before its fault at 2 ms.
      `touch ${page + 3} 1 r`,
      `mprotect ${page + 2} 1 none`,
      `touch ${page + 1} 1 r`,
      "dump",
      "exit",
    ]);
    expect(stats).toMatchObject({ badLines: [9], lostEvents: 3, threads: 1, processes: 1, faults: 3, faultsSkipped: 0 });
    expect(stats.approximated).toEqual({ "clone3 flags unknown: a thread until it execs": 1 });
    expect(() => traceToScenario(PERF, { strict: true })).toThrow(/^line 9: LOST 3 events!/);
  });
});

test("a recording replays under the rules of the kernel line it was recorded on, when vmalab models it", () => {
  expect(kernelLineOfRelease("6.1.0-50-cloud-amd64")).toBe("6.1");
  expect(kernelLineOfRelease("6.12.111+deb12-cloud-amd64")).toBe("6.12");
  expect(kernelLineOfRelease("6.18.44-fc-v1252")).toBe("6.18");
  expect(kernelLineOfRelease("5.10.0-30-amd64")).toBeUndefined();
  const recording = (release: string) => `# vmalab trace\n# kernel: ${release}\n# tracer: strace\n# snapshots: 0\n# trace\n${TRACE}`;
  expect(traceToScenario(recording("6.1.0-50-cloud-amd64")).kernel).toBe("6.1");
  expect(traceToScenario(recording("5.10.0-30-amd64")).kernel).toBe("6.18");
  expect(traceToScenario(recording("6.1.0-50-cloud-amd64"), { kernel: "6.12" }).kernel).toBe("6.12");
});

describe("reading a trace as it streams", () => {
  const CORPUS = new URL("../corpus/", import.meta.url).pathname;

  test("a recording read in chunks from its gzip file replays to the scenario of its whole text, op for op", async () => {
    const file = join(CORPUS, "python.trace.gz");
    const out = join(tempDir("vmalab-stream-"), "python.txt");
    const streamed = await traceToScenarioFile(file, out, {});
    const whole = traceToScenario(parseTraceFile(gunzipSync(readFileSync(file)).toString("utf8")));
    expect(readFileSync(out, "utf8")).toBe(whole.scenario);
    expect(streamed.stats).toEqual(whole.stats);
    expect(streamed.fidelity).toEqual(whole.fidelity);
    expect(whole.stats.ops).toBeGreaterThan(10_000);
  });

  test("the reorder window: events in time order whatever order they are read in; one later than the window is counted late", () => {
    const stats = newParseStats();
    const out: number[] = [];
    const w = new EventWindow(true, stats, () => {}, (e) => out.push(e.line));
    const fault = (line: number) => ({ kind: "fault" as const, tid: 1, page: 1, write: false, line });
    // Read out of order by less than the window: put back in order; equal times keep the order they were read in.
    for (const [line, at] of [[1, 10], [2, 5], [3, 10], [4, 7]]) w.push(fault(line), at);
    // 200 ms later: everything before 100 ms ago leaves; an event from before that is late.
    w.push(fault(5), 210);
    expect(out).toEqual([2, 4, 1, 3]);
    w.push(fault(6), 6);
    expect(stats.late).toBe(1);
    w.drain();
    expect(out).toEqual([2, 4, 1, 3, 6, 5]);
  });

  test("a call whose address is cut off or unaligned is an unreadable line of the trace, not a scenario error", () => {
    const cut = `100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f1ab
100 munmap(0x7f0000000800, 4096) = 0
100 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
`;
    const { scenario, stats } = traceToScenario(cut);
    expect(stats.badLines).toEqual([1, 2]);
    expect(stats.unreadable).toBe(2);
    expect(scenario.split("\n").filter((l) => l.startsWith("mmap"))).toEqual([`mmap ${0x7f0000000000 / 4096} 1 r anon`]);
    expect(() => traceToScenario(cut, { strict: true })).toThrow(/^line 1: mmap: '520619' is not a page address/);
  });
});

// Recording needs the tracers (and ptrace / perf events); .ci/run installs them and requires these tests to run.
const hasStrace = spawnSync("strace", ["-V"]).status === 0;
const hasPerf = perfTraceWorks();
if ((!hasStrace || !hasPerf) && process.env.VMALAB_REQUIRE_TRACERS === "1") {
  throw new Error(`tracers are required here: strace ${hasStrace ? "works" : "missing"}, perf trace ${hasPerf ? "works" : "missing"}`);
}

describe("recorded programs replay as they ran", () => {
  const dir = mkdtempSync(join(tmpdir(), "vmalab-trace-"));
  const bin = join(dir, "alloc-service");

  /** Records the service, replays the trace; returns the VMAs its syscalls made and those matching its own maps. */
  function proof(tracer: Tracer): { made: number; matched: number; stats: ReplayStats } {
    if (!existsSync(bin)) {
      const src = new URL("./fixtures/alloc-service.c", import.meta.url).pathname;
      const cc = spawnSync(process.env.CC ?? "cc", ["-O1", "-pthread", "-o", bin, src], { encoding: "utf8" });
      expect(cc.status, cc.stderr).toBe(0);
    }
    const maps = join(dir, `${tracer}.maps`);
    const trace = join(dir, `${tracer}.trace`);
    expect(recordTrace(bin, [maps], trace, { tracer })).toBe(0);
    const { scenario, stats } = traceToScenario(readFileSync(trace, "utf8"));
    const records = runOps(System.createSync({ maxMapCount: 1 << 30 }), parseScenario(scenario));
    const dump = records.filter((r) => "dump" in r && r.proc === 0).at(-1);
    if (!dump || !("vmas" in dump)) throw new Error("no final dump of the program");
    const real = readFileSync(maps, "utf8")
      .trim()
      .split("\n")
      .map((l) => {
        const [range, perms] = l.split(/\s+/);
        const [s, e] = range.split("-").map((x) => parseInt(x, 16) / 4096);
        return `${s}-${e} ${perms}`;
      });
    const made = dump.vmas.filter(([, , , kind]) => !kind.includes("[execve]"));
    const matched = made.filter(([s, e, perms]) => real.includes(`${s}-${e} ${perms}`));
    console.log(`trace replay with ${tracer}: ${matched.length} of ${made.length} VMAs match the program's own maps`);
    return { made: made.length, matched: matched.length, stats };
  }

  test.runIf(hasPerf)("an allocator-heavy service recorded with perf trace (faults): every VMA its syscalls made matches its maps", () => {
    const { made, matched, stats } = proof("perf");
    expect(stats).toMatchObject({ badLines: [], processes: 2, execs: 1, threads: 4 });
    expect(stats.faults).toBeGreaterThan(100);
    expect(made).toBeGreaterThan(20);
    expect(matched).toBe(made);
  });

  test.runIf(hasStrace)("the same with strace (no faults): the fraction that still matches", () => {
    const { made, matched, stats } = proof("strace");
    expect(stats).toMatchObject({ badLines: [], processes: 2, execs: 1, threads: 4, faults: 0 });
    expect(made).toBeGreaterThan(20);
    // Without faults no anon_vma is born: faulted neighbours the kernel kept apart may merge here.
    expect(matched / made).toBeGreaterThanOrEqual(0.9);
  });

  for (const [name, cmd, args] of [
    ["node", process.execPath, ["-e", "const a = []; for (let i = 0; i < 1e5; i++) a.push({ i }); console.log(a.length)"]],
    ["python3", "python3", ["-c", "print(sum(range(10**6)))"]],
    ["git", "git", ["--version"]],
  ] as const) {
    test.runIf((hasPerf || hasStrace) && spawnSync(cmd, ["--version"]).status === 0)(
      `${name}: the replay runs to the end with sane metrics`,
      () => {
        const trace = join(dir, `${name}.trace`);
        expect(recordTrace(cmd, [...args], trace, { tracer: hasPerf ? "perf" : "strace" })).toBe(0);
        const { scenario, stats } = traceToScenario(readFileSync(trace, "utf8"));
        expect(stats.badLines).toEqual([]);
        expect(stats.calls.mmap).toBeGreaterThan(5);
        const sys = System.createSync({ maxMapCount: 1 << 30 });
        const records = runOps(sys, parseScenario(scenario));
        expect(records.filter((r) => "dump" in r).length).toBeGreaterThanOrEqual(1);
        const m = sys.metrics();
        expect(m.vmas.peak).toBeGreaterThan(5);
        expect(m.merges.newLeft + m.merges.newRight + m.merges.existingLeft + m.merges.existingRight).toBeGreaterThan(0);
        sys.checkInvariants();
      },
    );
  }
});
