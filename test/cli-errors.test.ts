import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { System } from "../src/index.js";
import { tempDir } from "./support/temp.js";

const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
const vmalab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
const COMMANDS = ["scenario", "kernel-check", "host", "compare", "explain", "record", "corpus", "trace", "workload", "playground", "generate", "demo"];
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

describe("the command line as a user meets it", () => {
  test("every subcommand answers --help and -h with its own usage, exit 0", () => {
    for (const c of COMMANDS) {
      for (const flag of ["--help", "-h"]) {
        const r = vmalab(c, flag);
        expect(r.status, `${c} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout.startsWith(`  vmalab ${c}`), `${c} ${flag}`).toBe(true);
        expect(r.stdout).not.toContain("vmalab --version");
      }
    }
  });

  test("an unknown option gets that subcommand's usage, exit 2", () => {
    const r = vmalab("trace", "--bogus", "x");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmalab: Unknown option '--bogus'/);
    expect(r.stderr).toContain("  vmalab trace FILE");
    expect(r.stderr).not.toContain("vmalab workload NAME");
  });

  test("a file that cannot be read is named, with why", () => {
    const dir = tempDir("vmalab-cli-");
    for (const [args, code, why] of [
      [["scenario", dir], "EISDIR", "is a directory"],
      [["scenario", join(dir, "none.txt")], "ENOENT", "no such file"],
      [["compare", "--scenario", dir], "EISDIR", "is a directory"],
      [["trace", join(dir, "none.trace")], "ENOENT", "no such file"],
      [["explain", dir], "EISDIR", "is a directory"],
    ] as const) {
      const r = vmalab(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(`vmalab: ${code}: `);
      expect(r.stderr).toContain(why);
      noStack(r.stderr);
    }
  });

  test("an output that cannot be written is said before the run, not after it", () => {
    const r = vmalab("workload", "mixed", "--ops", "10", "--quiet", "--scenario-out", "/nonexistent/dir/x.txt");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("vmalab: ENOENT: /nonexistent/dir/x.txt: cannot write: no such file\n");
    expect(r.stdout).toBe("");
    const proc = vmalab("compare", "--workload", "random", "--ops", "10", "--policy", "linux-6.18", "--json", "/proc/version");
    expect(proc.status).toBe(2);
    expect(proc.stderr).toMatch(/^vmalab: (EIO|EACCES): \/proc\/version: cannot write: /);
    noStack(proc.stderr);
  });

  test("stray arguments and out-of-range numbers are refused", () => {
    expect(vmalab("generate", "random", "1", "extra").stderr).toMatch(/^vmalab: generate takes FAMILY SEED, and not 'extra'/);
    const demo = vmalab("demo", "--ranges", "1e12");
    expect(demo.status).toBe(2);
    expect(demo.stderr).toMatch(/^vmalab: --ranges takes a whole number from 1 to 10000000, got '1e12'/);
  });

  test("control characters in an input are escaped in the message", () => {
    const dir = tempDir("vmalab-cli-");
    const file = join(dir, "bad.txt");
    writeFileSync(file, "mmap 1 1 \u001b[31mrw anon\n");
    const r = vmalab("scenario", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("\\x1b[31mrw");
    expect(r.stderr).not.toContain("\u001b");
  });

  test("two threads of a trace that clone each other end nowhere near a stack overflow", () => {
    const dir = tempDir("vmalab-cli-");
    const file = join(dir, "cycle.trace");
    writeFileSync(
      file,
      "100 clone(child_stack=NULL, flags=CLONE_VM|CLONE_THREAD) = 101\n101 clone(child_stack=NULL, flags=CLONE_VM|CLONE_THREAD) = 100\n" +
        "101 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
    );
    const r = vmalab("trace", file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("threads 2");
  });
});

test("maxMapCount is a whole number from 1 to 2^31 - 1", () => {
  for (const bad of [-1, Number.NaN, 1.5, 0, 2 ** 31]) {
    expect(() => System.createSync({ maxMapCount: bad }), String(bad)).toThrow(/EINVAL: maxMapCount must be a whole number/);
  }
  expect(System.createSync({ maxMapCount: 3 }).process(0)).toBeDefined();
});

describe("what a user did, and the clear answer", () => {
  test("mapped a range ending past page 2^53: refused with the syscall's errno, nothing mapped; the reader takes 2^53 itself", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    expect(() => p.mmap(2 ** 53 - 1, 4, "rw")).toThrow(/^ENOMEM: mmap: \[9007199254740991, \+4\) ends past page 2\^53/);
    p.mmap(100, 4, "rw");
    expect(() => p.mremap(100, 4, 4, { fixed: 2 ** 53 - 2 })).toThrow(/^EINVAL: mremap to: .* ends past page 2\^53/);
    expect(() => p.munmap(2 ** 53 - 1, 2)).toThrow(/^EINVAL: munmap/);
    expect(p.vmas().map((v) => [v.start, v.end])).toEqual([[100, 104]]);
    // The same rule in a scenario: 2^53 is a page number, 2^53 + 1 is not, and a range past it is the syscall's error.
    const records = sys.runScenario(`mmap ${2 ** 53 - 1} 4 rw anon\nmunmap ${2 ** 53} 1\n`);
    expect(records).toEqual([
      { op: 0, proc: 0, errno: "ENOMEM" },
      { op: 1, proc: 0, errno: "EINVAL" },
    ]);
    expect(() => sys.runScenario("mmap 9007199254740993 1 rw anon\n", "big.txt")).toThrow(/^big\.txt:1: PAGE must be a whole number from 0 to 2\^53/);
  });

  test("forked a process id past 2^32 - 1, or not a number: refused everywhere with the one range", () => {
    const p = System.createSync().process(0);
    for (const bad of [Number.NaN, -1, 1.5, "7", 2 ** 32] as unknown as number[]) {
      expect(() => p.fork(bad), String(bad)).toThrow(/^EINVAL: a process id must be a whole number from 0 to 4294967295/);
    }
    expect(p.fork(2 ** 32 - 1).id).toBe(2 ** 32 - 1);
    const dir = tempDir("vmalab-ids-");
    writeFileSync(join(dir, "fork.txt"), "fork 4294967296\nrmap 0\n");
    const r = vmalab("scenario", join(dir, "fork.txt"));
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/fork\.txt:1: CHILD must be a process id from 0 to 4294967295/);
  });

  test("called the API with what the scenario reader refuses: each a clear EINVAL, not a silent default", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    const bad: [() => unknown, RegExp][] = [
      [() => p.touch(0, 1, "x" as "r"), /touch access must be 'r' or 'w'/],
      [() => p.mmap(0, 1, "rw", { kind: "weird" } as never), /backing kind must be anon, shared-anon or file/],
      [() => p.mmap(0, 1, "rw", { kind: "file", pgoff: 0 } as never), /a file backing needs a name/],
      [() => p.mmap(0, 1, "rw", null as never), /a backing is an object/],
      [() => p.mprotect(0, 1, "toString" as never), /unknown protection 'toString'/],
      [() => System.createSync(null as never), /System options are an object/],
      [() => System.createSync({ kernel: "5.10" as never }), /kernel must be one of 6\.1, 6\.12, 6\.18, got '5\.10'/],
      [() => System.createSync({ policy: "linux-6.12", kernel: "6.18" }), /policy 'linux-6\.12' is kernel 6\.12, not 6\.18/],
    ];
    for (const [call, message] of bad) expect(call).toThrow(message);
    expect(() => sys.runScenario(undefined as never)).toThrow(/a scenario is text/);
    expect(p.vmas()).toEqual([]);
  });

  test("RangeMap.findMany with a plain array works like a Float64Array; anything else is a clear error", async () => {
    const { RangeMap } = await import("../src/index.js");
    const m = RangeMap.createSync();
    m.insert(0, 10, 7);
    expect([...m.findMany([1, 20])]).toEqual([7, -1]);
    expect(() => m.findMany(null as never)).toThrow(/EINVAL: findMany takes an array of page numbers/);
    expect(() => m.findMany([-1])).toThrow(/EINVAL: addr must be an integer page number/);
  });

  test("ran a scenario of /dev/zero: an error at once, not a read that never ends", () => {
    const r = spawnSync(process.execPath, [cli, "scenario", "/dev/zero"], { encoding: "utf8", timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmalab: \/dev\/zero:1: a line of over 4096 characters: not a scenario/);
  });

  test("recorded to an unwritable file, or a program that does not exist: said before anything runs, nothing claimed written", () => {
    const out = vmalab("record", "--out", "/nonexistent-dir/x.trace", "--", "true");
    expect(out.status).toBe(2);
    expect(out.stderr).toMatch(/^vmalab: ENOENT: \/nonexistent-dir\/x\.trace: cannot write: no such file/);
    const missing = vmalab("record", "--out", join(tempDir("vmalab-rec-"), "x.trace"), "--", "/no/such/program");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/no program '\/no\/such\/program' to record/);
    expect(missing.stderr).not.toContain("written");
  });

  test("kernel-check with a kernel image that is not there, or --kernel without an image: said at once", () => {
    const missing = vmalab("kernel-check", "--kernel-image", "/no/vmlinuz-6.12.1", "test/cases/arena-0.txt");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^vmalab: ENOENT: \/no\/vmlinuz-6\.12\.1: no such kernel image/);
    const unnamed = vmalab("kernel-check", "--kernel-image", "/no/bzImage", "test/cases/arena-0.txt");
    expect(unnamed.stderr).toMatch(/cannot tell its kernel line from its name .*: give --kernel/);
    const alone = vmalab("kernel-check", "--kernel", "6.1", "test/cases/arena-0.txt");
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/--kernel goes with --kernel-image/);
  });

  test("compared a scenario file with a bad line: the file and line are named", () => {
    const file = join(tempDir("vmalab-cmp-"), "bad.txt");
    writeFileSync(file, "mmap 1 2 rw anon\nbogus\n");
    const r = vmalab("compare", "--scenario", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${file}:2: unknown op 'bogus'`);
  });

  test("a trace with an impossible length, or calls of a process never seen being born: counted, not replayed as huge VMAs", async () => {
    const { traceToScenario } = await import("../src/trace/read.js");
    const { scenario, stats } = traceToScenario(`100 mmap(NULL, 18446744073709551615, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000
200 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000001000
`);
    expect(stats.badLines).toEqual([1]);
    expect(stats.callsWithoutProcess).toBe(1);
    expect(scenario.split("\n").filter((l) => l.startsWith("mmap"))).toEqual([]);
  });

  test("used up memoryLimit: a whole VMA still unmaps (teardown has a reserve), and the process still exits", () => {
    const sys = System.createSync({ memoryLimit: 4 * 2 ** 20, maxMapCount: 1 << 30 });
    const p = sys.process(0);
    let mapped = 0;
    expect(() => {
      for (;; mapped++) p.mmap(mapped * 2, 1, mapped % 2 ? "r" : "rw");
    }).toThrow(/^ENOMEM/);
    expect(mapped).toBeGreaterThan(1000);
    for (let k = 0; k < 50; k++) p.munmap(k * 2, 1);
    expect(p.mapCount).toBe(mapped - 50);
    sys.checkInvariants();
    p.exit();
    expect(sys.liveObjects()).toEqual({ anonVmas: 0, avcs: 0, vmas: 0, folios: 0 });
  });
});

test("the progress bar's ETA never reads 2m60s", async () => {
  const { etaText } = await import("../src/cli/workload.js");
  expect(etaText(179.6)).toBe("3m00s");
  expect(etaText(119.9)).toBe("2m00s");
  expect(etaText(59.6)).toBe("1m00s");
  expect(etaText(3599)).toBe("1h00m");
  expect(etaText(7)).toBe("7s");
  expect(etaText(Number.POSITIVE_INFINITY)).toBe("?");
});

test("the package's public types leave out the raw ABI and what is @internal", () => {
  const dts = readFileSync(new URL("../dist/system.d.ts", import.meta.url), "utf8");
  expect(dts).toContain("declare class System");
  expect(dts).not.toMatch(/\breadonly core: Core\b/);
  expect(dts).not.toMatch(/\bfileId\(|\bspawn\(id/);
});
