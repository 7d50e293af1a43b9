import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parseScenario, runOps, System } from "../src/index.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { CASES_DIR, caseNames } from "./support/cases.js";

/** Runs a scenario checking every invariant after every op, then exits everyone and checks for leaks. */
function runChecked(text: string, name: string): void {
  const sys = System.createSync();
  runOps(sys, parseScenario(text, name), (op) => {
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
}

describe("invariants after every op, and no leaks after exit", () => {
  test("every real-kernel case", () => {
    for (const name of caseNames()) runChecked(readFileSync(join(CASES_DIR, `${name}.txt`), "utf8"), name);
  });
  for (const family of FAMILIES) {
    test(`generated ${family} scenarios`, () => {
      for (let seed = 1; seed <= 40; seed++) runChecked(generateScenario(family, seed, 60), `${family}-${seed}`);
    });
  }
});
