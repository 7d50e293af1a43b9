// The real-kernel cases in test/cases and how a run is compared with them.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runScenario, type ScenarioRecord, type SystemOptions } from "../../src/index.js";

export const CASES_DIR = new URL("../cases/", import.meta.url).pathname;

/** The kernels' outputs: a folder of test/cases and the System options that model that kernel on its host. */
export const KERNELS = {
  "6.18": {},
  "6.18-nozero": { zeroPage: false },
  "6.12": { kernel: "6.12" },
  "6.1": { kernel: "6.1" },
} satisfies Record<string, SystemOptions>;
export type KernelName = keyof typeof KERNELS;

/** The case names; a missing or empty folder is an error, never an empty list. */
export function caseNames(): string[] {
  const names = readdirSync(CASES_DIR)
    .filter((f) => f.endsWith(".txt"))
    .map((f) => f.slice(0, -4))
    .sort();
  if (names.length === 0) throw new Error(`no scenarios in ${CASES_DIR}`);
  return names;
}

export function caseText(name: string): string {
  return readFileSync(join(CASES_DIR, `${name}.txt`), "utf8");
}

/** What kernel `kernel` produced for case `name` (its folder must hold every case). */
export function kernelRecords(name: string, kernel: KernelName): ScenarioRecord[] {
  return readFileSync(join(CASES_DIR, kernel, `${name}.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ScenarioRecord);
}

/**
 * Records with vmflags as sorted sets, so that order inside the flag string
 * does not matter, and without `sd`: soft-dirty is a build option of the
 * kernel (Debian's 6.1 and 6.12 print it on every VMA), not a rule vmalab models.
 */
export function normalize(records: ScenarioRecord[]): unknown[] {
  const flags = (f: string) =>
    f
      .split(" ")
      .filter((x) => x && x !== "sd")
      .sort()
      .join(" ");
  return records.map((r) => ("vmas" in r ? { ...r, vmas: r.vmas.map((v) => [...v.slice(0, 5), flags(v[5])]) } : r));
}

/** The simulator's records for a case under the options of `kernel`'s host, and the kernel's. */
export function runCase(name: string, kernel: KernelName = "6.18"): { got: unknown[]; want: unknown[] } {
  const got = runScenario(caseText(name), KERNELS[kernel], `${name}.txt`);
  return { got: normalize(got), want: normalize(kernelRecords(name, kernel)) };
}
