// The real-kernel cases in ../shared/cases and how a run is compared with them.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runScenario, type ScenarioRecord } from "../../src/index.js";

export const CASES_DIR = new URL("../../../shared/cases/", import.meta.url).pathname;

export function caseNames(): string[] {
  if (!existsSync(CASES_DIR)) return [];
  return readdirSync(CASES_DIR)
    .filter((f) => f.endsWith(".txt") && f !== "README.txt")
    .map((f) => f.slice(0, -4))
    .sort();
}

/** Records with vmflags as sorted sets, so that order inside the flag string does not matter. */
export function normalize(records: ScenarioRecord[]): unknown[] {
  return records.map((r) =>
    "vmas" in r ? { ...r, vmas: r.vmas.map((v) => [...v.slice(0, 5), v[5].split(" ").filter(Boolean).sort().join(" ")]) } : r,
  );
}

export function runCase(name: string): { got: unknown[]; want: unknown[] } {
  const text = readFileSync(join(CASES_DIR, `${name}.txt`), "utf8");
  const want = readFileSync(join(CASES_DIR, `${name}.kernel.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ScenarioRecord);
  return { got: normalize(runScenario(text, {}, `${name}.txt`)), want: normalize(want) };
}
