import { describe, expect, test } from "vitest";
import { kernelCheck } from "../src/kernel/check.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";

// Fresh generated scenarios, run on this machine's kernel and on the simulator.
// The seed changes every run (set VMALAB_SEED to replay one); a failure prints
// the scenario so it can be kept as a case.
const SEED = Number(process.env.VMALAB_SEED ?? Math.floor(Date.now() / 1000) % 1_000_000);
const PER_FAMILY = Number(process.env.VMALAB_KERNEL_CHECKS ?? 34);

describe(`kernel-check of generated scenarios (VMALAB_SEED=${SEED})`, () => {
  for (const family of FAMILIES) {
    test(`${family}: ${PER_FAMILY} scenarios agree with the kernel`, () => {
      for (let i = 0; i < PER_FAMILY; i++) {
        const text = generateScenario(family, SEED + i);
        const r = kernelCheck(text, `${family}-${SEED + i}`);
        expect(r.pass, `${r.difference}\n--- scenario ---\n${text}`).toBe(true);
      }
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
