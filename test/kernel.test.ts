import { describe, expect, test } from "vitest";
import { kernelCheck } from "../src/kernel/check.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";

// Generated scenarios, run on this machine's kernel and on the simulator:
// fixed seeds (the same every run, so a regression shows at once) and fresh
// ones (the seed changes every run; VMALAB_SEED replays one). A failure prints
// the scenario so it can be kept as a case.
const SEED = Number(process.env.VMALAB_SEED ?? Math.floor(Date.now() / 1000) % 1_000_000);
const PER_FAMILY = Number(process.env.VMALAB_KERNEL_CHECKS ?? 34);
/** Seeds of earlier sweeps, each run for 8 scenarios per family. */
const FIXED_SEEDS = [1, 720000, 777000];

function agree(family: (typeof FAMILIES)[number], seed: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const text = generateScenario(family, seed + i);
    const r = kernelCheck(text, `${family}-${seed + i}`);
    expect(r.pass, `${r.difference}\n--- scenario ---\n${text}`).toBe(true);
  }
}

describe(`kernel-check of generated scenarios (fixed seeds ${FIXED_SEEDS.join(", ")}; fresh VMALAB_SEED=${SEED})`, () => {
  for (const family of FAMILIES) {
    test(`${family}: ${FIXED_SEEDS.length} x 8 fixed and ${PER_FAMILY} fresh scenarios agree with the kernel`, () => {
      for (const seed of FIXED_SEEDS) agree(family, seed, 8);
      agree(family, SEED, PER_FAMILY);
    });
  }
});

test("MAP_STACK gives VM_NOHUGEPAGE: a stack does not merge with a plain neighbour (kernel-check)", () => {
  const text = "mmap 100 4 rw anon stack\nmmap 104 4 rw anon\ntouch 100 8 w\nmprotect 100 8 r\ndump\n";
  const r = kernelCheck(text, "map-stack");
  expect(r.pass, r.difference).toBe(true);
  const [dump] = r.kernel.filter((x) => "dump" in x);
  expect(dump && "vmas" in dump && dump.vmas.map((v) => [v[0], v[1], v[5]])).toEqual([
    [100, 104, "rd mr mw me ac nh"],
    [104, 108, "rd mr mw me ac"],
  ]);
});
