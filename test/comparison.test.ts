import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { compare, compareTrace, type PolicyRun } from "../src/compare.js";
import { htmlReport } from "../src/report/html.js";
import { loadReplay } from "../src/trace/read.js";
import { comparePolicies, headline } from "../src/comparison.js";
import { tempDir } from "./support/temp.js";

// The 2025 fix's case (879bca0a2c4f): an unfaulted VMA next to a faulted one made alike by
// mprotect. linux-pre-6.16 refuses the merge (list_is_singular() on the unfaulted target);
// linux-6.18 merges. Three of them, far apart: exactly 3 refusals, or 3 merges, by construction.
const SEED_000 = [100, 200, 300]
  .map((a) => `mmap ${a} 4 rw anon\nmmap ${a + 4} 4 rwx anon\ntouch ${a + 4} 1 w\nmprotect ${a + 4} 4 rw\n`)
  .join("");

describe("a policy against a baseline, on inputs whose answer is known", () => {
  test("three refusals of the 2025 fix's case: 3 under linux-pre-6.16, 0 under linux-6.18", async () => {
    const runs = await compare({ scenario: SEED_000, policies: ["linux-6.18", "linux-pre-6.16", "no-merge"], parallel: false });
    const [pre, none] = comparePolicies(runs, "linux-6.18");
    expect(pre).toMatchObject({
      policy: "linux-pre-6.16",
      baseline: "linux-6.18",
      anonRefusals: { baseline: 0, policy: 3, shareRemaining: null },
      merges: { gained: -3 },
      // The third pair is two VMAs until its mprotect merges them: 4 at the peak.
      vmas: { peak: { baseline: 4, policy: 6 }, atExit: { baseline: 3, policy: 6 } },
      changes: true,
    });
    // 9 memory syscalls (6 mmaps, 3 mprotects): 3 merges lost are 333.3 per 1,000.
    expect(pre.merges.gainedPer1000Syscalls).toBeCloseTo(-1000 / 3);
    expect(none.merges).toMatchObject({ baseline: 3, policy: 0 });
    // Against linux-pre-6.16, the fix lifts every refusal: 0 % remain.
    const [fixed] = comparePolicies(runs.filter((r) => r.policy !== "no-merge"), "linux-pre-6.16");
    expect(fixed.anonRefusals).toEqual({ baseline: 3, policy: 0, shareRemaining: 0 });
    expect(headline(fixed)).toBe(
      "linux-6.18 vs linux-pre-6.16: peak VMAs 6 → 4 (−33.3 %); anon_vma refusals 3 → 0 (0 % remain); merges +3 (+333.3 per 1,000 memory syscalls); cost none",
    );
  });

  test("a policy that changes nothing says so", async () => {
    const runs = await compare({ scenario: "mmap 100 4 rw anon\nmmap 104 4 rw anon\n", policies: ["linux-6.18", "matena-2022"], parallel: false });
    const [c] = comparePolicies(runs, "linux-6.18");
    expect(c.changes).toBe(false);
    expect(headline(c)).toBe("matena-2022 vs linux-6.18: no change on this input (0 anon_vma refusals under both, 1 merges)");
  });

  test("the VMA mean is over ops and the count at exit sums each process's VMAs when it exits", async () => {
    // Process 0 has 1 VMA after op 0, 2 after op 1; its child 1 exits with 2; process 0 ends with 2.
    const text = "mmap 100 1 rw anon\nmmap 300 1 rw anon\nfork 1\nproc 1\nexit\n";
    const [run] = await compare({ scenario: text, policies: ["linux-6.18"], parallel: false });
    expect(run.vmasAtExit).toBe(4);
    expect(run.meanOver).toBe("ops");
    expect(run.vmasMean).toBeCloseTo((1 + 2 + 4 + 4 + 2) / 5);
    expect(run.memorySyscalls).toBe(2);
  });

  test("per program: each op's merges and refusals go to the program of the process it ran in", async () => {
    // Process 0 ("server") maps and forks "worker" 1, which does the 2025 fix's case three times.
    const text = `mmap 1000 4 rw anon\nfork 1\nproc 1\n${SEED_000}exit\n`;
    const runs = await compare({ scenario: text, policies: ["linux-6.18", "linux-pre-6.16"], parallel: false, programs: { 0: "server", 1: "worker" } });
    const [c] = comparePolicies(runs, "linux-6.18");
    expect(c.programs).toEqual([
      { name: "server", processes: 1, anonRefusals: { baseline: 0, policy: 0 }, merges: { baseline: 0, policy: 0 }, peakVmas: { baseline: 1, policy: 1 }, vmasAtExit: { baseline: 1, policy: 1 } },
      { name: "worker", processes: 1, anonRefusals: { baseline: 0, policy: 3 }, merges: { baseline: 3, policy: 0 }, peakVmas: { baseline: 5, policy: 7 }, vmasAtExit: { baseline: 4, policy: 7 } },
    ]);
  });

  test("with times, the VMA mean weighs what each op leaves by how long it lasts", async () => {
    // 1 VMA for 1 ms, then 2 for 9 ms: 1.9 on average over the 10 ms.
    const [run] = await compare({ scenario: "mmap 100 1 rw anon\nmmap 300 1 rw anon\nmunmap 300 1\n", policies: ["linux-6.18"], parallel: false, times: [0, 1, 10] });
    expect(run.meanOver).toBe("time");
    expect(run.vmasMean).toBeCloseTo(1.9);
  });

  test("a baseline that was not run is a clear error", async () => {
    const runs = await compare({ scenario: SEED_000, policies: ["linux-6.18"], parallel: false });
    expect(() => comparePolicies(runs, "matena-2022")).toThrow(/baseline 'matena-2022' is not among/);
  });
});

describe("vmalab compare says the headlines first", () => {
  const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
  test("with no input: the corpus's postgres recording, on which matena-2022 and chain-union-2010 differ from linux-6.18", () => {
    const json = join(tempDir("vmalab-cmp-"), "c.json");
    const r = spawnSync(process.execPath, [cli, "compare", "--json", json], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("linux-pre-6.16 vs linux-6.18: no change on this input (17 anon_vma refusals under both, 141 merges)");
    expect(lines[1]).toMatch(/^matena-2022 vs linux-6.18: peak VMAs 2,593 \(unchanged\); anon_vma refusals 17 → 13 \(76 % remain\); merges \+10 .*; cost 1,493 folios moved/);
    // A trace's merges gained are also per second of the program's own run (perf's timestamps).
    expect(lines[1]).toMatch(/merges \+10 \(\+17\.2 per 1,000 memory syscalls, \+\d+\.\d per second of the program's run\)/);
    expect(lines[2]).toMatch(/^chain-union-2010 vs linux-6.18: peak VMAs 2,593 → 2,587 \(−0\.2 %\); anon_vma refusals 17 → 0 \(0 % remain\)/);
    // The table after: the baseline's figures and each policy's change; rows no policy changes folded.
    expect(r.stdout).toMatch(/\nrefused: anon_vma, forked target +13 += += +−13 +−13\n/);
    expect(r.stdout).toMatch(/\nthe same under every policy: .*refused: close hook 0/);
    expect(r.stdout).not.toMatch(/ops\/s/);
    // Per program: postgres's 15 processes hold all 17 refusals.
    expect(r.stdout).toMatch(/\npostgres +15 +17 +\d+ +3,685 +=  +−4 \/ \+10 \/ = +−17 \/ \+13 \/ −12 /);
    const out = JSON.parse(readFileSync(json, "utf8"));
    expect(out.baseline).toBe("linux-6.18");
    // A trace's VMA mean is over the program's own time (perf's timestamps), not over its ops.
    expect(out.runs[0].meanOver).toBe("time");
    expect(out.runs[0].vmasMean).toBeGreaterThan(0);
    expect(out.runs[0].vmasMean).toBeLessThanOrEqual(out.runs[0].metrics.vmas.peak);
    expect(out.comparisons.map((c: { policy: string }) => c.policy)).toEqual(["linux-pre-6.16", "matena-2022", "chain-union-2010", "no-merge"]);
  });

  test("--baseline: the others against it, run even when not asked for", () => {
    const file = join(tempDir("vmalab-cmp-"), "seed-000.txt");
    writeFileSync(file, SEED_000);
    const r = spawnSync(process.execPath, [cli, "compare", "--scenario", file, "--policy", "linux-6.18", "--baseline", "linux-pre-6.16"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^linux-6\.18 vs linux-pre-6\.16: peak VMAs 6 → 4/);
  });
});

describe("a recording compared as it streams", () => {
  const postgres = new URL("../corpus/postgres.trace.gz", import.meta.url).pathname;

  test("every policy fed in lockstep gets what each gets from the replay's ops held whole", async () => {
    const policies = ["linux-6.18", "chain-union-2010"];
    const { runs } = await compareTrace(postgres, { policies });
    const held = await loadReplay(postgres);
    const whole = await compare({ ops: held.ops, programs: held.programs, times: held.traceTimes, zeroPage: held.zeroPage, policies, parallel: false });
    const figures = (r: PolicyRun) => ({ metrics: r.metrics, vmasMean: r.vmasMean, vmasAtExit: r.vmasAtExit, perProgram: r.perProgram, atAnonPeak: r.atAnonPeak, failedOps: r.failedOps });
    expect(runs.map(figures)).toEqual(whole.map(figures));
  });

  test("lock sharing and rmap cost are taken at the anon_vma peak, not at the end when every process is gone", async () => {
    const { runs } = await compareTrace(postgres, { policies: ["linux-6.18", "chain-union-2010"] });
    const [base, union] = runs;
    expect(base.metrics.anonVmas).toBe(0);
    expect(base.atAnonPeak.anonVmas).toBeGreaterThanOrEqual(0.98 * base.metrics.peak.anonVmas);
    expect(base.atAnonPeak.anonVmas).toBeLessThanOrEqual(base.metrics.peak.anonVmas);
    expect(base.atAnonPeak.rmap.walks).toBeGreaterThan(100);
    expect(base.atAnonPeak.rmap.vmasPerWalk).toBeGreaterThanOrEqual(1);
    // chain-union-2010 joins forked hierarchies: one root's lock covers more folios.
    const [c] = comparePolicies(runs, "linux-6.18");
    expect(c.cost.foliosPerRootMax.policy).toBeGreaterThan(c.cost.foliosPerRootMax.baseline);
    expect(headline(c)).toMatch(/folios under one root anon_vma's lock at the anon_vma peak, at most [\d,]+ → [\d,]+/);
    expect(union.atAnonPeak.perRoot.folios.max).toBe(c.cost.foliosPerRootMax.policy);
    // The HTML report has the per-program table: postgres's 15 processes hold the 17 refusals.
    const html = await htmlReport(runs, "postgres", [c]);
    expect(html).toContain("<h2>Per program (anon_vma refusals, merges, VMAs at exit)</h2>");
    expect(html).toMatch(/<tr><td>postgres<\/td><td>15<\/td><td>17<\/td><td>121<\/td><td>3685<\/td><td>0<\/td>/);
  });
});

test("the kernel lines as policies: linux-6.12 against linux-6.18 on the 2025 fix's case, and --kernel for the others", async () => {
  const runs = await compare({ scenario: SEED_000, policies: ["linux-6.18", "linux-6.12", "linux-6.1"], parallel: false });
  const [v612, v61] = comparePolicies(runs, "linux-6.18");
  expect(v612.anonRefusals).toMatchObject({ baseline: 0, policy: 3 });
  expect(v61.anonRefusals).toMatchObject({ baseline: 0, policy: 3 });
  // linux-pre-6.16 on 6.18 is 6.12's rule: the same refusals.
  const onOld = await compare({ scenario: SEED_000, policies: ["linux-6.18"], kernel: "6.12", parallel: false });
  expect(onOld[0].metrics.refusals.anonForkedTarget).toBe(3);
  await expect(compare({ scenario: SEED_000, policies: ["linux-5.10"], parallel: false })).rejects.toThrow(/unknown policy 'linux-5\.10'/);
});

describe("the mixed workload reaches the rules the policies disagree on", () => {
  test("each rule counted under linux-6.18, and lifted by the policies that lift it", async () => {
    const runs = await compare({ workload: { name: "mixed", seed: 1, ops: 20000 }, policies: ["linux-6.18", "linux-pre-6.16", "matena-2022", "chain-union-2010"], parallel: false });
    const by = Object.fromEntries(runs.map((r) => [r.policy, r.metrics]));
    const base = by["linux-6.18"];
    // 879bca0a2c4f's case (fixcase): refused before 6.16 only.
    expect(by["linux-pre-6.16"].refusals.anonForkedTarget).toBeGreaterThan(base.refusals.anonForkedTarget);
    // Pieces faulted apart (faultapart) and faulted memory moved next to faulted memory (movefaulted): different anon_vmas.
    expect(base.refusals.anonDifferent).toBeGreaterThan(10);
    expect(by["matena-2022"].refusals.anonDifferent).toBeLessThan(base.refusals.anonDifferent);
    expect(by["matena-2022"].policyCost.foliosMoved).toBeGreaterThan(0);
    expect(by["chain-union-2010"].refusals.anonDifferent).toBe(0);
    // A fork child mapping next to memory it shares with its parent (forkneighbour): a forked target.
    expect(base.refusals.anonForkedTarget).toBeGreaterThan(0);
    expect(by["chain-union-2010"].refusals.anonForkedTarget).toBe(0);
    for (const c of comparePolicies(runs, "linux-6.18")) expect(c.changes, c.policy).toBe(true);
  });
});
