// `vmalab workload`: a generated workload at the size asked, with a progress
// bar on a terminal and Ctrl-C stopping it with the metrics so far.

import { createWriteStream } from "node:fs";
import { checkOutput, writeOutput } from "../files.js";
import cliProgress from "cli-progress";
import { formatTable } from "../report/table.js";
import type { KernelLine } from "../system.js";
import { runWorkload, type WorkloadRun } from "../workload/run.js";
import type { WorkloadOptions } from "../workload/generators.js";

export interface WorkloadCliOptions extends WorkloadOptions {
  name: string;
  policy: string;
  forkReuse: boolean;
  zeroPage: boolean;
  kernel?: KernelLine;
  quiet: boolean;
  json?: string;
  scenarioOut?: string;
}

/** Seconds as the progress bar's ETA: rounded first (to 5 s past a minute), then split, so never "2m60s". */
export function etaText(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = seconds > 60 ? 5 * Math.round(seconds / 5) : Math.round(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s >= 3600) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  return `${s}s`;
}

export async function runWorkloadCli(o: WorkloadCliOptions): Promise<WorkloadRun> {
  // Set-up ops (about one per VMA and process) plus the ops asked for.
  const total = (o.ops ?? 20_000) + (o.vmas ?? 4000) + (o.processes ?? 4);
  const bar = !o.quiet && process.stderr.isTTY
    ? new cliProgress.SingleBar(
        { format: "{bar} {percentage}% | {value}/{total} ops | {eta_formatted} left", stream: process.stderr, formatTime: (t: number) => etaText(t) },
        cliProgress.Presets.shades_classic,
      )
    : null;
  bar?.start(total, 0);
  let stop = false;
  const onInt = () => {
    stop = true;
  };
  process.once("SIGINT", onInt);
  // The outputs are checked before a long run, not found unwritable at its end.
  if (o.json) checkOutput(o.json);
  if (o.scenarioOut) checkOutput(o.scenarioOut);
  const out = o.scenarioOut ? createWriteStream(o.scenarioOut) : null;
  out?.write(`# vmalab workload ${o.name} seed ${o.seed ?? 1}\n`);
  let run: WorkloadRun;
  try {
    run = await runWorkload(o.name, {
      ...o,
      progress: (done) => {
        bar?.update(Math.min(done, total));
        return stop;
      },
      scenarioOut: out ? (lines) => out.write(`${lines.join("\n")}\n`) : undefined,
    });
  } finally {
    process.removeListener("SIGINT", onInt);
    bar?.stop();
    out?.end();
  }
  const m = run.metrics;
  const failed = Object.entries(run.failed).map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  console.log(`workload ${run.workload} (policy ${run.policy})${run.interrupted ? ": interrupted, the metrics so far" : ""}`);
  console.log(
    formatTable(
      ["", "value"],
      [
        ["ops", run.ops],
        ["wall time, s", run.seconds],
        ["ops/s", run.opsPerSecond],
        ["peak wasm memory, MiB", run.peakMemoryBytes / 2 ** 20],
        ["processes", m.processes],
        ["VMAs, final / peak", `${m.vmas.total.toLocaleString("en-US")} / ${m.vmas.peak.toLocaleString("en-US")}`],
        ["merges (new-range + existing-range + expand)", m.merges.newLeft + m.merges.newRight + m.merges.newBoth + m.merges.existingLeft + m.merges.existingRight + m.merges.existingBoth + m.merges.expand],
        ["refused merges", Object.values(m.refusals).reduce((a, b) => a + b, 0)],
        ["splits", m.splits],
        ["anon_vmas / AVCs", `${m.anonVmas.toLocaleString("en-US")} / ${m.avcs.toLocaleString("en-US")}`],
        ["chain length mean / p99 / max", `${m.chainLength.mean.toFixed(2)} / ${m.chainLength.p99} / ${m.chainLength.max}`],
        ["folios", m.folios],
        ["failed ops", failed],
      ],
    ),
  );
  if (run.outOfMemory) {
    console.log(
      `vmalab: the run did not fit: the simulator's memory (2 GiB of wasm linear memory) ran out ${run.outOfMemory} ` +
        "times and those ops failed with ENOMEM. Fewer VMAs, processes or faults fit (README: Workloads).",
    );
  }
  if (o.json) writeOutput(o.json, `${JSON.stringify(run, null, 2)}\n`);
  return run;
}
