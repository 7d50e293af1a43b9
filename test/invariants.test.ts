import { describe, expect, test } from "vitest";
import { parseScenario, runOps, System, type SystemOptions } from "../src/index.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { caseNames, caseText } from "./support/cases.js";

/** Runs a scenario checking every invariant after every op, then exits everyone and checks for leaks; returns the ops run. */
function runChecked(text: string, name: string, opts: SystemOptions = {}): number {
  const sys = System.createSync(opts);
  const ops = parseScenario(text, name);
  runOps(sys, ops, (op) => {
    try {
      sys.checkInvariants();
    } catch (err) {
      throw new Error(`${name}: after op ${op.index} (line ${op.line}, ${op.op}): ${(err as Error).message}`);
    }
  });
  for (const p of sys.processes()) p.exit();
  expect(sys.liveObjects(), `${name}: records left after every process exited`).toEqual({
    anonVmas: 0,
    avcs: 0,
    vmas: 0,
    folios: 0,
  });
  return ops.length;
}

describe("invariants after every op, and no leaks after exit", () => {
  test("every real-kernel case", () => {
    for (const name of caseNames()) runChecked(caseText(name), name);
  });
  test("every real-kernel case without the zero page (read faults allocate folios)", () => {
    for (const name of caseNames()) runChecked(caseText(name), name, { zeroPage: false });
  });
  // 9 families x 60 seeds x 100 ops: over 50,000 ops validated in all.
  for (const family of FAMILIES) {
    test(`generated ${family} scenarios`, () => {
      let ops = 0;
      for (let seed = 1; seed <= 60; seed++) ops += runChecked(generateScenario(family, seed, 100), `${family}-${seed}`);
      expect(ops).toBeGreaterThanOrEqual(6000);
    });
  }
});
