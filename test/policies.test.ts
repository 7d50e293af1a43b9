import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { type MergeFacts, type MergePolicy, parseScenario, POLICIES, runOps, System, VM } from "../src/index.js";
// compare() runs workers from the built package (dist/compare-worker.js): test that build.
import { compare } from "../dist/compare.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { CASES_DIR, caseNames, caseText } from "./support/cases.js";

/** Runs scenario text under a policy; returns the system. */
function run(policy: string, text: string, forkReuse = true): System {
  const sys = System.createSync({ policy, forkReuse });
  runOps(sys, parseScenario(text));
  return sys;
}

const vmaCount = (sys: System) => sys.processes().reduce((n, p) => n + p.mapCount, 0);

// Seed 000's first diagram: an unfaulted prev and a faulted vma made alike.
//   unfaulted faulted
//  |-----------|-----------|
//  |   prev    |    vma    |
//  |-----------|-----------|
const SEED_000 = `mmap 100 4 rw anon
mmap 104 4 rwx anon
touch 104 1 w
mprotect 104 4 rw
`;

// Two pieces of one mapping faulted while their flags differed: each got its own anon_vma.
const FAULTED_APART = `mmap 100 8 rw anon
madvise 104 4 dontdump
touch 100 2 w
touch 104 2 w
madvise 104 4 dodump
`;

// The same, then forked: the child's pieces are fork children with different anon_vmas.
const FORKED_NEIGHBOURS = `mmap 100 8 rw anon
madvise 104 4 dontdump
touch 100 2 w
touch 104 2 w
fork 1
proc 1
madvise 104 4 dodump
`;

describe("each policy's distinguishing behaviour", () => {
  test("879bca0a2c4f's case: linux-pre-6.16 keeps an unfaulted prev and a faulted vma apart, linux-6.18 merges them", () => {
    const pre = run("linux-pre-6.16", SEED_000);
    expect(pre.process(0).mapCount).toBe(2);
    expect(pre.metrics().refusals.anonForkedTarget).toBe(1);
    const now = run("linux-6.18", SEED_000);
    expect(now.process(0).mapCount).toBe(1);
    expect(now.metrics().merges).toMatchObject({ existingLeft: 1, full: 1 });
    expect(now.process(0).vmas()[0].anonPages).toBe(1);
  });

  test("pieces faulted apart, made alike: 6.18 refuses, matena merges and moves the folios, chain-union links", () => {
    for (const policy of ["linux-6.18", "linux-pre-6.16"]) {
      const sys = run(policy, FAULTED_APART);
      expect(sys.process(0).mapCount, policy).toBe(2);
      expect(sys.metrics().refusals.anonDifferent, policy).toBe(1);
    }
    const matena = run("matena-2022", FAULTED_APART);
    const [merged] = matena.process(0).vmas();
    expect(matena.process(0).mapCount).toBe(1);
    expect(merged).toMatchObject({ start: 100, end: 108, anonPages: 4, chainLength: 1 });
    expect(matena.metrics().policyCost.foliosMoved).toBe(2);
    // The absorbed anon_vma is gone; rmap finds the moved folios through the survivor's.
    expect(matena.metrics().anonVmas).toBe(1);
    expect(matena.rmap(0, 105).mappings).toEqual([[0, 105]]);
    matena.checkInvariants();

    const union = run("chain-union-2010", FAULTED_APART);
    expect(union.process(0).mapCount).toBe(1);
    expect(union.process(0).vmas()[0].chainLength).toBe(2);
    expect(union.metrics().policyCost.chainLinksAdded).toBe(1);
    expect(union.metrics().anonVmas).toBe(2);
    expect(union.rmap(0, 105).mappings).toEqual([[0, 105]]);
    union.checkInvariants();
  });

  test("forked neighbours: chain-union merges and the chain grows, matena and 6.18 refuse", () => {
    for (const policy of ["linux-6.18", "matena-2022"]) {
      const sys = run(policy, FORKED_NEIGHBOURS);
      expect(sys.process(1).mapCount, policy).toBe(2);
      expect(sys.metrics().refusals.anonDifferent, policy).toBe(1);
    }
    const union = run("chain-union-2010", FORKED_NEIGHBOURS);
    const [merged] = union.process(1).vmas();
    expect(union.process(1).mapCount).toBe(1);
    // Its own anon_vma and its parent's, plus the absorbed piece's two.
    expect(merged.chainLength).toBe(4);
    expect(union.metrics().policyCost.chainLinksAdded).toBe(2);
    expect(union.lockChain(1, 100).chainLength).toBe(4);
    // The parent's folios are still found in both processes.
    expect(union.rmap(1, 105).mappings).toEqual([
      [0, 105],
      [1, 105],
    ]);
    union.checkInvariants();
  });

  test("matena-2022: a faulted VMA moved by mremap takes the pgoff of where it lands and merges there", () => {
    const text = caseText("merge-selftest-mremap_unfaulted_between_faulted");
    const counts = Object.fromEntries(POLICIES.map((p) => [p, vmaCount(run(p, text))]));
    expect(counts["matena-2022"]).toBeLessThan(counts["linux-6.18"]);
    const sys = run("matena-2022", text);
    expect(sys.metrics().policyCost.foliosMoved).toBeGreaterThan(0);
    sys.checkInvariants();
  });

  test("no-merge never merges two VMAs, but mremap still grows one in place", () => {
    const sys = run("no-merge", "mmap 100 4 rw anon\nmmap 104 4 rw anon\nmremap 104 4 8\n");
    expect(sys.process(0).vmas().map((v) => [v.start, v.end])).toEqual([
      [100, 104],
      [104, 112],
    ]);
    const m = sys.metrics();
    expect(m.merges).toMatchObject({ newLeft: 0, newRight: 0, newBoth: 0, expand: 1 });
    expect(m.refusals.policy).toBe(1);
  });
});

describe("policies over the real-kernel cases and random workloads", () => {
  test("final VMA counts per family order as chain-union <= matena <= 6.18 <= pre-6.16 <= no-merge", () => {
    const totals = new Map<string, number[]>();
    const exceptions: string[] = [];
    for (const name of caseNames()) {
      const text = caseText(name);
      const [l618, pre, matena, union, none] = POLICIES.map((p) => vmaCount(run(p, text)));
      const family = name.startsWith("merge-selftest") ? "merge-selftest" : name.replace(/-\d+$/, "");
      const t = totals.get(family) ?? [0, 0, 0, 0, 0];
      totals.set(family, [t[0] + union, t[1] + matena, t[2] + l618, t[3] + pre, t[4] + none]);
      if (!(union <= matena && matena <= l618 && l618 <= pre && pre <= none)) exceptions.push(name);
    }
    for (const [family, t] of totals) {
      for (let i = 1; i < t.length; i++) expect(t[i - 1], `${family}: ${t.join(" <= ")}`).toBeLessThanOrEqual(t[i]);
    }
    // The one scenario that breaks it (README, "Merge policies"): matena-2022 rebases a moved
    // faulted VMA's pgoff, so it merges where chain-union-2010, which keeps pgoffs, cannot.
    expect(exceptions).toEqual(["merge-selftest-mremap_unfaulted_between_faulted"]);
  });

  test("the validator holds after every op under every policy, fork reuse on and off", () => {
    let ops = 0;
    for (const policy of POLICIES) {
      for (const forkReuse of [true, false]) {
        for (const family of FAMILIES) {
          for (let seed = 1; seed <= 6; seed++) {
            const sys = System.createSync({ policy, forkReuse });
            const scenario = parseScenario(generateScenario(family, seed, 80));
            runOps(sys, scenario, (op) => {
              try {
                sys.checkInvariants();
              } catch (err) {
                throw new Error(`${policy} reuse=${forkReuse} ${family}-${seed} op ${op.index}: ${(err as Error).message}`);
              }
            });
            for (const p of sys.processes()) p.exit();
            expect(sys.liveObjects()).toEqual({ anonVmas: 0, avcs: 0, vmas: 0, folios: 0 });
            ops += scenario.length;
          }
        }
      }
    }
    expect(ops).toBeGreaterThan(40_000);
  });

  test("compare(): one run per policy and fork-reuse setting, the same on worker threads as in sequence", async () => {
    const text = generateScenario("forkmerge", 3, 120);
    const parallel = await compare({ scenario: text, forkReuse: "both" });
    const sequential = await compare({ scenario: text, forkReuse: "both", parallel: false });
    expect(parallel.map((r) => [r.policy, r.forkReuse])).toEqual(
      POLICIES.flatMap((p) => [
        [p, true],
        [p, false],
      ]),
    );
    expect(parallel.map((r) => r.metrics)).toEqual(sequential.map((r) => r.metrics));
    await expect(compare({ scenario: text, policies: ["linux-7"] })).rejects.toThrow(/EINVAL/);
    // A generated workload is the same op stream as its scenario text.
    const byName = await compare({ workload: { name: "forkmerge", seed: 3, ops: 120 }, policies: ["matena-2022"] });
    expect(byName[0].metrics).toEqual(parallel.find((r) => r.policy === "matena-2022" && r.forkReuse)!.metrics);
    await expect(compare({ workload: { name: "jvm" } })).rejects.toThrow(/EINVAL: unknown workload/);
    await expect(compare({ scenario: text, workload: { name: "jit" } })).rejects.toThrow(/exactly one/);
  });

  test("vmalab compare prints the table and writes the JSON", () => {
    const json = join(mkdtempSync(join(tmpdir(), "vmalab-")), "compare.json");
    const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
    const args = [cli, "compare", "--scenario", join(CASES_DIR, "splitfault-3.txt"), "--policy", "linux-6.18,no-merge"];
    const r = spawnSync(process.execPath, [...args, "--json", json], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toMatch(/^no-merge vs linux-6\.18: peak VMAs \d+ → \d+/);
    expect(r.stdout).toMatch(/\nVMAs at exit, summed\s+1\s+\+4\n/);
    const out = JSON.parse(readFileSync(json, "utf8"));
    expect(out.runs.map((x: { policy: string }) => x.policy)).toEqual(["linux-6.18", "no-merge"]);
    const bad = spawnSync(process.execPath, [...args.slice(0, 4), "--policy", "linux-7"], { encoding: "utf8" });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/EINVAL: unknown policy 'linux-7'/);
  });
});

describe("merge policies written in TypeScript", () => {
  // linux-6.18's anon_vma rule, restated as a user policy.
  const ts618: MergePolicy = {
    name: "ts-linux-6.18",
    differentAnonVmas: "union-chains",
    mergeable({ side, target, source }) {
      if (side === "prev-next") {
        return !target.anonVma || !source.anonVma || target.anonVma === source.anonVma ? true : "anonPrevNext";
      }
      if (!target.anonVma && source.anonVma) return source.forkChild ? "anonForkedSource" : true;
      if (target.anonVma && !source.anonVma) return target.forkChild ? "anonForkedTarget" : true;
      return target.anonVma === source.anonVma ? true : "anonDifferent";
    },
  };

  test("the kernel's rule written in TypeScript reproduces linux-6.18 on every case", () => {
    for (const name of caseNames()) {
      const ops = parseScenario(caseText(name));
      const builtIn = System.createSync();
      const user = System.createSync({ policy: ts618 });
      expect(runOps(user, ops), name).toEqual(runOps(builtIn, ops));
      const { policy: _a, ...m1 } = user.metrics();
      const { policy: _b, ...m2 } = builtIn.metrics();
      expect(m1, name).toEqual(m2);
    }
  });

  test("a policy that merges everything by moving folios keeps rmap whole: shared folios are refused for it", () => {
    const greedy: MergePolicy = { name: "greedy", differentAnonVmas: "move-folios", mergeable: () => true };
    const sys = System.createSync({ policy: greedy });
    runOps(sys, parseScenario(FORKED_NEIGHBOURS), () => sys.checkInvariants());
    // The child's pieces have anon_vmas shared with the parent through fork: moving their folios would lose them.
    expect(sys.process(1).mapCount).toBe(2);
    expect(sys.metrics().refusals.anonDifferent).toBe(1);
    const apart = System.createSync({ policy: greedy });
    runOps(apart, parseScenario(FAULTED_APART), () => apart.checkInvariants());
    expect(apart.process(0).mapCount).toBe(1);
    expect(apart.metrics().policyCost.foliosMoved).toBe(2);
    for (const family of FAMILIES) {
      for (const differentAnonVmas of ["move-folios", "union-chains"] as const) {
        const s = System.createSync({ policy: { ...greedy, differentAnonVmas } });
        runOps(s, parseScenario(generateScenario(family, 5, 80)), () => s.checkInvariants());
      }
    }
  });

  test("a user policy sees the range, the target and the backing of each proposed merge", () => {
    const seen: MergeFacts[] = [];
    const spy: MergePolicy = { name: "spy", differentAnonVmas: "union-chains", mergeable: (f) => (seen.push(f), true) };
    const sys = System.createSync({ policy: spy });
    sys.runScenario("mmap 100 4 rw anon\nmmap 104 4 rw file:data@9\nmmap 200 4 r anon\nmmap 204 4 r anon\n");
    // The file mapping's neighbour differs in file: refused before the policy is asked.
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({
      kind: "new range",
      side: "left",
      range: { start: 204, end: 208, pgoff: 204, backing: "anon" },
      target: { start: 200, end: 204, anonVma: 0, chainLength: 0, forkChild: false },
      source: { start: 204, end: 208, anonVma: 0 },
    });
    expect(seen[0].range.vmFlags & VM.READ).toBe(VM.READ);
    // A policy may refuse for its own reasons: counted under policy.
    const small: MergePolicy = { ...spy, name: "small-vmas", mergeable: (f) => (f.range.end - f.target.start > 6 ? "policy" : true) };
    const s2 = System.createSync({ policy: small });
    s2.runScenario("mmap 100 4 r anon\nmmap 104 4 r anon\n");
    expect(s2.process(0).mapCount).toBe(2);
    expect(s2.metrics().refusals.policy).toBe(1);
  });

  test("a malformed policy object is EINVAL; compare runs user policies beside the built-in ones", async () => {
    expect(() => System.createSync({ policy: { name: "x" } as unknown as MergePolicy })).toThrow(/EINVAL/);
    expect(() =>
      System.createSync({ policy: { ...ts618, differentAnonVmas: "merge" } as unknown as MergePolicy }),
    ).toThrow(/EINVAL/);
    const text = generateScenario("forkmerge", 4, 80);
    const runs = await compare({ scenario: text, policies: ["linux-6.18", ts618] });
    expect(runs.map((r) => r.policy)).toEqual(["linux-6.18", "ts-linux-6.18"]);
    expect(runs[1].metrics.vmas).toEqual(runs[0].metrics.vmas);
  });
});
