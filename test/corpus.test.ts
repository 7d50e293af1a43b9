import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { corpusPrograms, missingCommands } from "../src/corpus/programs.js";
import { perfTraceWorks } from "../src/trace/record.js";
import { replayTraceFile } from "../src/trace/read.js";
import { tempDir } from "./support/temp.js";

const CORPUS = new URL("../corpus/", import.meta.url).pathname;
const SAMPLES = ["browser", "build", "node", "postgres", "python", "redis"];
const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;

/** The fidelity report of a recording, summed over its programs. */
async function fidelityOf(file: string) {
  const { stats, fidelity } = await replayTraceFile(file);
  if (!fidelity) throw new Error(`${file} has no snapshots`);
  const sum = fidelity.programs.reduce(
    (a, p) => ({ exits: a.exits + p.snapshots, vmas: a.vmas + p.vmas, boundaries: a.boundaries + p.boundariesExact, anon: a.anon + p.anonExact }),
    { exits: 0, vmas: 0, boundaries: 0, anon: 0 },
  );
  return { stats, fidelity, sum };
}

// The recordings shipped in corpus/ (made with `vmalab corpus record`): each replay against the
// kernel's own view at every process's exit.
describe("the shipped corpus replays as the kernel ran it", () => {
  for (const name of SAMPLES) {
    test(`${name}: VMA boundaries and perms exact at every exit, Anonymous >= 99 %, every difference explained`, async () => {
      const { stats, fidelity, sum } = await fidelityOf(join(CORPUS, `${name}.trace.gz`));
      expect(stats.badLines).toEqual([]);
      expect(stats.execsFromSnapshot).toBe(stats.execs);
      expect(stats.reconstructed).toBe(0);
      expect(fidelity.unmatched).toBe(0);
      expect(sum.exits).toBeGreaterThan(0);
      expect(sum.boundaries).toBe(sum.vmas);
      expect(sum.anon / sum.vmas).toBeGreaterThanOrEqual(0.99);
      for (const d of fidelity.differences) expect(d.cause, `${d.program} ${d.vma}`).not.toMatch(/^unexplained/);
    });
  }

  test("vmalab trace --check --json: one object with the programs and the differences", () => {
    const r = spawnSync(process.execPath, [cli, "trace", "--check", "--json", join(CORPUS, "node.trace.gz")], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.programs).toEqual([expect.objectContaining({ name: "node", snapshots: 1, vmas: expect.any(Number), boundariesExact: expect.any(Number) })]);
    for (const d of j.differences) expect(Object.keys(d).sort()).toEqual(["cause", "kernel", "pid", "program", "replay", "vma"]);
  });
});

// Recording the corpus needs perf and root and the programs: .ci/run installs them, fetches the
// SQLite amalgamation, and requires these to run.
const ready = perfTraceWorks() && corpusPrograms(["redis", "build"]).every((p) => missingCommands(p).length === 0) && process.env.VMALAB_SQLITE_DIR;
if (!ready && process.env.VMALAB_REQUIRE_CORPUS === "1") throw new Error("recording the corpus (perf, redis, gcc, VMALAB_SQLITE_DIR) is required here");

describe.runIf(ready)("vmalab corpus record: redis and a build, recorded here, checked against this kernel", () => {
  const dir = tempDir("vmalab-corpus-");
  for (const p of corpusPrograms(["redis", "build"])) {
    test(`${p.name}: boundaries >= 99 %, Anonymous >= 95 %, every difference explained`, { timeout: 300_000 }, async () => {
      const out = join(dir, `${p.name}.trace.gz`);
      await p.record(out);
      const { fidelity, sum } = await fidelityOf(out);
      console.log(`${p.name}: ${sum.exits} exits, ${sum.vmas} VMAs, boundaries exact ${sum.boundaries}, Anonymous exact ${sum.anon}`);
      expect(sum.exits).toBeGreaterThan(p.name === "build" ? 8 : 1);
      expect(sum.boundaries / sum.vmas).toBeGreaterThanOrEqual(0.99);
      expect(sum.anon / sum.vmas).toBeGreaterThanOrEqual(0.95);
      for (const d of fidelity.differences) expect(d.cause, `${d.program} ${d.vma}`).not.toMatch(/^unexplained/);
    });
  }
});
