import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseScenario, runOps, ScenarioRun, System } from "../src/index.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { CASES_DIR, caseNames } from "./support/cases.js";

/** Everything observable about a system: every process's VMAs and the live record counts. */
function snapshot(sys: System): unknown {
  return { procs: sys.processes().map((p) => [p.id, p.vmas()]), live: sys.liveObjects() };
}

const MUTATING = new Set(["mmap", "munmap", "mprotect", "madvise", "mremap", "touch", "fork"]);

/**
 * Runs a scenario twice over: every mutating op is first tried with the
 * simulator's first allocation failing, which must leave the system exactly as
 * it was (ENOMEM or the op's own earlier error), then run for real. The
 * records must be those of an undisturbed run.
 */
function checkAtomic(text: string, name: string): number {
  let injected = 0;
  const ops = parseScenario(text, name);
  const want = runOps(System.createSync(), ops);
  const sys = System.createSync();
  const run = new ScenarioRun(sys);
  for (const op of ops) {
    if (MUTATING.has(op.op)) {
      const before = snapshot(sys);
      const n = run.out.length;
      sys.core.ex.mem_inject_reserve_failure(1);
      run.step(op);
      sys.core.ex.mem_inject_reserve_failure(0);
      expect(snapshot(sys), `${name}: op ${op.index} (${op.op}, line ${op.line}) changed state although it failed`).toEqual(before);
      const failed = run.out.splice(n);
      expect(failed.length, `${name}: op ${op.index} did not fail under injection`).toBe(1);
      if ("errno" in failed[0] && failed[0].errno === "ENOMEM") injected++;
    }
    run.step(op);
  }
  expect(run.out).toEqual(want);
  return injected;
}

describe("an allocation failure inside the simulator leaves no partial state", () => {
  test("every real-kernel case, op by op", () => {
    let injected = 0;
    for (const name of caseNames()) injected += checkAtomic(readFileSync(join(CASES_DIR, `${name}.txt`), "utf8"), name);
    // Most mutating ops reach their reservation (the rest fail validation first).
    expect(injected).toBeGreaterThan(1000);
  });
  test("generated scenarios of every family", () => {
    let injected = 0;
    for (const family of FAMILIES) {
      for (let seed = 1; seed <= 10; seed++) injected += checkAtomic(generateScenario(family, seed), `${family}-${seed}`);
    }
    expect(injected).toBeGreaterThan(1000);
  });
});
