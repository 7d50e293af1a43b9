import { describe, expect, test } from "vitest";
import { parseScenario, runOps, ScenarioRun, System } from "../src/index.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { caseNames, caseText } from "./support/cases.js";

/** Everything observable about a system: every process's VMAs and the live record counts. */
function snapshot(sys: System): unknown {
  return { procs: sys.processes().map((p) => [p.id, p.vmas()]), live: sys.liveObjects() };
}

const MUTATING = new Set(["mmap", "munmap", "mprotect", "madvise", "mremap", "touch", "fork"]);

/**
 * Runs a scenario with every mutating op first failed at each of its
 * allocation steps in turn (the 1st, the 2nd, ... until the op gets through
 * without reaching the injected one). Each failure must be ENOMEM and leave
 * the system exactly as it was; the records of the whole run must be those of
 * an undisturbed run. Returns how many failures were injected.
 */
function checkAtomic(text: string, name: string): number {
  let injected = 0;
  const ops = parseScenario(text, name);
  const want = runOps(System.createSync(), ops);
  const sys = System.createSync();
  const run = new ScenarioRun(sys);
  for (const op of ops) {
    if (!MUTATING.has(op.op)) {
      run.step(op);
      continue;
    }
    for (let site = 1; ; site++) {
      const before = snapshot(sys);
      const n = run.out.length;
      const failures = sys.injectedFailures;
      sys.failNthAllocation(site);
      run.step(op);
      sys.failNthAllocation(0);
      if (sys.injectedFailures === failures) break; // the op made fewer allocation steps: it ran for real
      injected++;
      const where = `${name}: op ${op.index} (${op.op}, line ${op.line}), allocation step ${site}`;
      expect(snapshot(sys), `${where} changed state although it failed`).toEqual(before);
      const failed = run.out.splice(n);
      expect(failed, `${where}`).toMatchObject([{ errno: "ENOMEM" }]);
    }
  }
  expect(run.out).toEqual(want);
  return injected;
}

/**
 * Runs a scenario with each allocation step failing with probability `rate`:
 * an op that met an injected failure must have changed nothing, and is then
 * run again without injection.
 */
function checkRandomFailures(text: string, name: string, rate: number, seed: number): number {
  let injected = 0;
  const ops = parseScenario(text, name);
  const want = runOps(System.createSync(), ops);
  const sys = System.createSync();
  const run = new ScenarioRun(sys);
  sys.failAllocations(rate, seed);
  for (const op of ops) {
    const before = snapshot(sys);
    const n = run.out.length;
    const failures = sys.injectedFailures;
    run.step(op);
    if (sys.injectedFailures === failures) continue;
    injected++;
    expect(snapshot(sys), `${name}: op ${op.index} changed state although it failed`).toEqual(before);
    expect(run.out.splice(n)).toMatchObject([{ errno: "ENOMEM" }]);
    sys.failAllocations(0);
    run.step(op);
    sys.failAllocations(rate, seed + op.index);
  }
  sys.failAllocations(0);
  sys.checkInvariants();
  expect(run.out).toEqual(want);
  return injected;
}

describe("every op reserves all it allocates", () => {
  /** Runs a scenario with strict reservation accounting; returns the overdraws. */
  const overdraws = (text: string, name: string): number => {
    const sys = System.createSync();
    sys.strictReservations(true);
    runOps(sys, parseScenario(text, name));
    return sys.strictReservations(false);
  };
  test("every real-kernel case", () => {
    for (const name of caseNames()) expect(overdraws(caseText(name), name), name).toBe(0);
  });
  test("generated scenarios of every family", () => {
    for (const family of FAMILIES) {
      for (let seed = 1; seed <= 20; seed++) expect(overdraws(generateScenario(family, seed), `${family}-${seed}`), `${family}-${seed}`).toBe(0);
    }
  });
  test("splits in a twelve-deep fork chain copy chains of thirteen links", () => {
    const lines = ["mmap 0 64 rw anon", "touch 0 64 w"];
    for (let child = 1; child <= 12; child++) lines.push(`fork ${child}`, `proc ${child}`, "touch 0 64 w");
    lines.push("mprotect 10 2 r", "mprotect 30 2 r", "munmap 41 2", "mremap 50 4 8 maymove", "dump");
    const text = lines.join("\n");
    expect(overdraws(text, "fork-chain")).toBe(0);
    // The chains really are that long: the last child's VMA links to an anon_vma per level.
    const sys = System.createSync();
    runOps(sys, parseScenario(text, "fork-chain"));
    expect(sys.process(12).vmas()[0].chainLength).toBe(13);
  });
});

describe("an allocation failure inside the simulator leaves no partial state", () => {
  test("every real-kernel case: every mutating op failed at each of its allocation steps", () => {
    let injected = 0;
    for (const name of caseNames()) injected += checkAtomic(caseText(name), name);
    // Most mutating ops reach their reservations (the rest fail validation first).
    expect(injected).toBeGreaterThan(3000);
  });
  test("generated scenarios of every family, every allocation step", () => {
    let injected = 0;
    for (const family of FAMILIES) {
      for (let seed = 1; seed <= 10; seed++) injected += checkAtomic(generateScenario(family, seed), `${family}-${seed}`);
    }
    expect(injected).toBeGreaterThan(3000);
  });
  test("generated scenarios with each allocation step failing at random (p = 0.05)", () => {
    let injected = 0;
    for (const family of FAMILIES) {
      for (let seed = 1; seed <= 10; seed++) {
        injected += checkRandomFailures(generateScenario(family, seed), `${family}-${seed}`, 0.05, seed);
      }
    }
    expect(injected).toBeGreaterThan(100);
  });
});
