import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, test } from "vitest";
import { System, type VmaInfo } from "../src/index.js";
import { loadReplay, type Replay } from "../src/trace/read.js";
import { apartRule, whyApart } from "../src/why-apart.js";

/** The VMAs of a scenario's process 0 at its end. */
function vmasOf(text: string): VmaInfo[] {
  const sys = System.createSync();
  sys.runScenario(text);
  return sys.process(0).vmas();
}

describe("the rule that keeps two adjacent VMAs apart", () => {
  const pair = (text: string) => {
    const [a, b] = vmasOf(text);
    return apartRule(a, b);
  };
  test("each rule, on VMAs made to differ in just that", () => {
    expect(pair("mmap 100 4 rw anon\nmmap 104 4 r anon\n")).toMatchObject({ rule: "flags differ", detail: expect.stringMatching(/^wr ac /) });
    expect(pair("mmap 100 4 r file:a@0\nmmap 104 4 r file:b@4\n")).toMatchObject({ rule: "different files" });
    expect(pair("mmap 100 4 r file:a@0\nmmap 104 4 r file:a@9\n")).toMatchObject({ rule: "pgoff not contiguous", detail: "0+4 ≠ 9" });
    // Faulted apart with a flag between them, then made alike: two anon_vmas.
    expect(pair("mmap 100 8 rw anon\nmadvise 104 4 dontdump\ntouch 100 1 w\ntouch 104 1 w\nmadvise 104 4 dodump\n")).toMatchObject({ rule: "anon_vma: different" });
    // A VM_IO neighbour (set before the other is mapped, or they would have merged).
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(104, 4, "rw");
    p.setSpecial(104, 0x4000); // VM_IO
    p.mmap(100, 4, "rw");
    const [a, b] = p.vmas();
    expect(apartRule(a, b)).toMatchObject({ rule: "VM_SPECIAL", detail: "- | io" });
  });
});

const CORPUS = new URL("../corpus/", import.meta.url).pathname;

describe("why a traced program has its VMAs: explain --trace", () => {
  let replay: Replay;
  beforeAll(async () => {
    replay = await loadReplay(`${CORPUS}postgres.trace.gz`);
  });

  test("at exit: the process with the most VMAs, every adjacent pair apart by rule, what made each, what each policy merges", () => {
    const w = whyApart(replay, { policies: ["chain-union-2010", "no-merge"] });
    expect(w).toMatchObject({ program: "postgres", at: "exit", vmas: 247 });
    expect(w.rules).toEqual([
      { rule: "flags differ", pairs: 214 },
      { rule: "different files", pairs: 18 },
      { rule: "VM_SPECIAL", pairs: 4 },
      { rule: "anon_vma: different, one shared with a fork", pairs: 1 },
    ]);
    expect(w.pairs).toHaveLength(237);
    // The boundaries execve built were made by the execve's line; a pair's lines are trace lines of its syscalls.
    expect(w.pairs.filter((p) => p.madeBy.length > 0).length).toBeGreaterThan(200);
    expect(w.policies).toEqual([
      { policy: "chain-union-2010", merged: 1 },
      { policy: "no-merge", merged: 0 },
    ]);
  });

  test("by program name, at the peak; an unknown process is a clear error", () => {
    const w = whyApart(replay, { process: "runuser", at: "peak" });
    expect(w).toMatchObject({ program: "runuser", at: "peak" });
    expect(() => whyApart(replay, { process: "nosuch" })).toThrow(/ESRCH: no process nosuch in the trace/);
  });

  test("vmalab explain --trace prints the rules by count, with examples and the policies", () => {
    const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
    const r = spawnSync(process.execPath, [cli, "explain", "--trace", `${CORPUS}postgres.trace.gz`], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toMatch(/^postgres \(process \d+\) at its exit: 247 VMAs, 237 pairs of adjacent VMAs apart$/);
    expect(lines[1]).toBe("      214  flags differ");
    expect(r.stdout).toMatch(/\n {2}chain-union-2010: would have merged 1 of these pairs by then\n/);
  });
});
