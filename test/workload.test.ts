import { spawn } from "node:child_process";
import { describe, expect, test } from "vitest";
import { parseScenario, runOps, runWorkload, System, workloadBatches, WORKLOADS } from "../src/index.js";
import { workloadFiles } from "../src/workload/generators.js";

const SMALL = { processes: 3, vmas: 300, ops: 3000, seed: 7 };

/** Each process's VMAs as dumps name them (file objects by name, not id). */
const layout = (sys: System) => sys.processes().map((p) => [p.id, p.vmas().map((v) => [v.start, v.end, v.perms, v.kind, v.anonPages, v.flags])]);

describe("workload generators", () => {
  for (const name of WORKLOADS) {
    test(`${name}: runs in batches, validator clean, the same as its scenario text, deterministic`, async () => {
      const run = await runWorkload(name, SMALL);
      expect(run.ops).toBeGreaterThan(3000);
      expect(run.outOfMemory).toBe(0);
      expect(run.metrics.vmas.peak).toBeGreaterThan(100);
      // The batch path and the scenario path agree op for op.
      const a = System.createSync({ maxMapCount: 1 << 30 });
      const lines: string[] = [];
      const names = workloadFiles(a);
      const current = { proc: 0 };
      for (const batch of workloadBatches(name, a, SMALL)) {
        lines.push(...batch.toScenario((f) => names.get(f)!, current));
        a.runStream(batch);
      }
      a.checkInvariants();
      const b = System.createSync({ maxMapCount: 1 << 30 });
      runOps(b, parseScenario(lines.join("\n")));
      expect(layout(b)).toEqual(layout(a));
      const again = await runWorkload(name, SMALL);
      expect(again.metrics).toEqual(run.metrics);
    });
  }

  test("a progress callback can stop a run (Ctrl-C in the CLI): the metrics so far", async () => {
    const run = await runWorkload("mixed", { ...SMALL, ops: 100_000, batch: 1000, progress: (done) => done > 5000 });
    expect(run.interrupted).toBe(true);
    expect(run.ops).toBeLessThan(10_000);
    expect(run.metrics.vmas.total).toBeGreaterThan(0);
  });

  test("a set-up that cannot fit is refused before anything is built; a run that outgrows memory fails its ops with ENOMEM", async () => {
    await expect(runWorkload("mixed", { vmas: 1e9, ops: 1000 })).rejects.toThrow(/ENOMEM: the run does not fit: its set-up alone needs about 100\.1 GiB/);
    await expect(runWorkload("mixed", { processes: 1e9, ops: 100 })).rejects.toThrow(/ENOMEM: the run does not fit/);
    // The set-up fits in 4 MiB; the children's copy-on-write faults do not.
    const run = await runWorkload("zygote", { processes: 20, vmas: 20_000, ops: 20_000, faults: 1, memoryLimit: 4 * 2 ** 20 });
    expect(run.outOfMemory).toBeGreaterThan(0);
    expect(run.failed.ENOMEM).toBeGreaterThan(0);
    expect(run.peakMemoryBytes).toBeLessThanOrEqual(4 * 2 ** 20);
  });

  test("vmalab workload stops at Ctrl-C (SIGINT) and prints the metrics so far", async () => {
    const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, "workload", "mixed", "--ops", "100000000", "--quiet"], { stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const code = await new Promise((r) => child.on("close", r));
    expect(code).toBe(130); // interrupted, as compare and playground say too
    expect(out).toMatch(/workload mixed \(policy linux-6\.18\): interrupted, the metrics so far/);
    expect(out).toMatch(/VMAs, final \/ peak/);
  });

  test("vmalab workload stops at Ctrl-C during a set-up of millions of VMAs, at once", async () => {
    const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, "workload", "arena", "--vmas", "3000000", "--processes", "1", "--quiet"], { stdio: "pipe" });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = performance.now();
    child.kill("SIGINT");
    const code = await new Promise((r) => child.on("close", r));
    expect(code).toBe(130);
    // A batch is 4,096 ops: the set-up stops within one, well under the many seconds the whole set-up takes.
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(out).toMatch(/interrupted, the metrics so far/);
    const ops = Number(/\bops\s+([\d,]+)/.exec(out)?.[1].replace(/,/g, ""));
    expect(ops).toBeGreaterThan(0);
    expect(ops).toBeLessThan(3_000_000);
  });

  test("unknown workloads are EINVAL", async () => {
    await expect(runWorkload("jvm")).rejects.toThrow(/EINVAL: unknown workload 'jvm'/);
  });
});
