// BENCHMARKS.md and its charts from one run's results (vega-lite, rendered
// to SVG here: no browser, no native canvas).

import { writeFileSync } from "node:fs";
import * as vega from "vega";
import { compile } from "vega-lite";

async function svg(spec) {
  return new vega.View(vega.parse(compile(spec).spec), { renderer: "none" }).toSVG();
}

/** The scaling chart: ops/s and bytes per VMA against VMAs, log scale. */
export async function scalingChart(rows, file) {
  const values = rows.flatMap((r) => [
    { vmas: r.vmas, measure: "mprotect split+merge, ops/s", value: r.opsPerSecond },
    { vmas: r.vmas, measure: "wasm memory per VMA, bytes", value: r.bytesPerVma },
  ]);
  const spec = {
    data: { values },
    facet: { column: { field: "measure", type: "nominal", title: null } },
    spec: {
      width: 300,
      height: 200,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "vmas", type: "quantitative", scale: { type: "log" }, title: "VMAs in the address space" },
        y: { field: "value", type: "quantitative", title: null },
      },
    },
    resolve: { scale: { y: "independent" } },
  };
  writeFileSync(file, await svg(spec));
}

const fmt = (x) => (x >= 100 ? Math.round(x).toLocaleString("en-US") : x.toFixed(2));
const table = (head, rows) => [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

/** Writes BENCHMARKS.md for the results of one `npm run bench`. */
export function writeBenchmarksMd(file, r) {
  const parts = [
    "# vmalab benchmarks",
    "",
    `The latest \`npm run bench\` (tinybench): ${r.date}, Node ${r.node}, ${r.machine.cpu} (${r.machine.cores} cores, ` +
      `${r.machine.memoryGiB} GiB, Linux ${r.machine.kernel})${r.quick ? ", --quick" : ""}. ` +
      "Medians; ratios are within this one run (the machine is shared and noisy: expect ±20% between runs). " +
      "All numbers are also in `bench/results/bench.json`. Reproduce with:",
    "",
    "```sh",
    "npm ci && npm run bench",
    "```",
  ];
  const section = (title, ...body) => parts.push("", `## ${title}`, "", ...body);
  if (r.targets?.length) {
    section(
      "Targets",
      "A target measured in rounds shows the median of the rounds' values (ratios taken within each round) and each round's.",
      "",
      table(["target", "measured", "met", "each round"], r.targets.map((t) => [t.target, t.measured, t.met ? "yes" : "no", t["each round"] ?? ""])),
    );
  }
  if (r.rangemap?.rows?.length) {
    section(
      "Range map (ns per operation)",
      "At the largest N every task runs in rounds (the peers, then the range map, each round); ns/op is the median over the rounds.",
      "",
      table(["N", "task", "ns/op", "each round"], r.rangemap.rows.map((x) => [x.n, x.task, fmt(x.nsPerOp), x.rounds.length > 1 ? x.rounds.map(fmt).join(", ") : ""])),
    );
  }
  if (r.addressSpace) {
    const a = r.addressSpace;
    section(
      `Address space against the kernel (${a.vmas} VMAs, ops/s by op kind)`,
      `Each kind is measured in ${a.byKind[0].rounds} rounds, the simulator then the kernel in each; figures are the medians over the rounds and the ratio is the median of the rounds' ratios.`,
      "",
      table(
        ["kind", "vmalab, a call per op", "vmalab, op batches", "Linux (bench/kernel-ops.c)", "batches / Linux", "each round"],
        a.byKind.map((k) => [
          k.kind, fmt(k.callsOpsPerSecond), fmt(k.batchOpsPerSecond), fmt(k.kernelOpsPerSecond), `${fmt(k.ratio)} x`,
          k.ratios.map((x) => fmt(x)).join(", "),
        ]),
      ),
    );
  }
  if (r.folios) {
    const f = r.folios;
    section(
      "Folios, rmap walks, lock chains",
      table(["measure", "value"], [
        [`bytes per folio (${f.memory.folios} folios)`, fmt(f.memory.bytesPerFolio)],
        ["bytes per mapped page", fmt(f.memory.bytesPerMappedPage)],
        ["write faults per second: vmalab / Linux", `${fmt(f.memory.faultsPerSecond)} / ${fmt(f.memory.kernelFaultsPerSecond)}`],
        ["COW write faults per second, child after fork: vmalab / Linux", `${fmt(f.memory.cowFaultsPerSecond)} / ${fmt(f.memory.kernelCowFaultsPerSecond)}`],
        ...f.rmap.rows.map((x) => [`rmap: ${x.name}, VMAs visited/s`, fmt(x.vmasPerSecond)]),
        ...f.chains.map((c) => [`lock chain, forkReuse ${c.forkReuse ? "on" : "off"}: length / ns per walk`, `${c.chainLength} / ${fmt(c.nsPerChainWalk)}`]),
      ]),
    );
  }
  if (r.workloads) {
    const w = r.workloads;
    section(
      "Whole workloads per policy (ops/s, set-up included)",
      table(["workload", "policy", "ops", "ops/s"], w.policies.map((x) => [x.workload, x.policy, x.ops, fmt(x.opsPerSecond)])),
      "",
      "## Scaling",
      "",
      "![ops/s and bytes per VMA against the number of VMAs](bench/scaling.svg)",
      "",
      table(["VMAs", "mprotect split+merge ops/s", "bytes/VMA"], w.scaling.map((x) => [x.vmas, fmt(x.opsPerSecond), fmt(x.bytesPerVma)])),
    );
  }
  if (r.traces) {
    const l = r.longTrace;
    section(
      "Trace ingestion (read, gunzip, parse, replay under linux-6.18)",
      "Each corpus recording in a fresh process (JIT warm-up included: most of a small recording's time), median of the runs; " +
        `then a ${fmt(l.mb)} MB trace made of the corpus recordings one after another (bench/traces.mjs).`,
      "",
      table(
        ["trace", "MB of text", "s", "MB/s", "peak RSS, MB"],
        [
          ...r.traces.map((t) => [t.trace, fmt(t.mb), t.seconds.toFixed(2), fmt(t.mbPerSecond), fmt(t.maxRssMb)]),
          [`long trace of the corpus`, fmt(l.mb), l.seconds.toFixed(2), fmt(l.mbPerSecond), fmt(l.maxRssMb)],
        ],
      ),
    );
  }
  if (r.readers) {
    const { scenario: s, strace: t } = r.readers;
    section(
      "Readers",
      "A fresh process each; memory does not grow with the input's length.",
      "",
      table(["input", "s", "rate", "peak RSS, MB"], [
        [`scenario, ${s.lines} lines, read`, s.readSeconds.toFixed(2), `${fmt(s.linesPerSecondRead / 1e6)} M lines/s`, ""],
        [`scenario, ${s.lines} lines, run and its records printed (vmalab scenario)`, s.runSeconds.toFixed(2), `${fmt(s.linesPerSecondRun / 1e6)} M lines/s`, fmt(s.maxRssMb)],
        [`strace, ${fmt(t.mb)} MB, replayed (vmalab trace)`, t.seconds.toFixed(2), `${fmt(t.mbPerSecond)} MB/s`, fmt(t.maxRssMb)],
      ]),
    );
  }
  if (r.fuzz) parts.push("", `Fuzz of the readers (test/fuzz.test.ts, ${r.fuzz.seconds} s): ${r.fuzz.passed ? "passed" : "failed"}; ${r.fuzz.summary}.`);
  writeFileSync(file, `${parts.join("\n")}\n`);
}
