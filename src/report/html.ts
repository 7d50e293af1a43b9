// The comparison report: one self-contained HTML file. Charts are drawn by
// vega-lite (declarative, well kept, and it renders to SVG in Node without a
// browser or a native canvas), so the file carries finished SVG and opens
// offline with no script at all. The anon_vma graph is laid out by dagre.
// Everything that came from a user or a trace is escaped as text.

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { type PolicyRun, runLabel } from "../compare.js";
import { anonRefusals, headline, mergeCount, type PolicyComparison } from "../comparison.js";
import { MERGE_KINDS, REFUSALS } from "../metrics.js";
import { escapeHtml, GRAPH_STYLE, graphSvg } from "./graph.js";

export { escapeHtml, graphSvg };


async function chart(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  return view.toSVG();
}


/** The strip map of one address space: each VMA a cell in address order, coloured by anon_vma. */
async function stripMap(run: PolicyRun, name: string): Promise<string> {
  const vmas = run.detail?.vmas ?? [];
  const values = vmas.map((v, i) => ({
    i,
    vma: `${v.start}-${v.end} ${v.perms} ${v.kind}`,
    anonVma: v.anonVma ? `anon_vma ${v.anonVma}` : "unfaulted",
  }));
  return chart({
    title: `${name}: process ${run.detail?.proc ?? "-"}'s ${vmas.length} VMAs in address order`,
    width: 900,
    height: 40,
    data: { values },
    mark: { type: "rect", stroke: "white", strokeWidth: 0.5 },
    encoding: {
      x: { field: "i", type: "ordinal", axis: null },
      color: { field: "anonVma", type: "nominal", legend: values.length > 60 ? null : { title: null } },
      tooltip: [{ field: "vma" }, { field: "anonVma" }],
    },
  });
}

/** For a trace: per program, the baseline's anon_vma refusals, merges and VMAs at exit, and each policy's. */
function programTable(comparisons: PolicyComparison[]): string {
  const first = comparisons.find((c) => c.programs);
  if (!first?.programs) return "";
  const withPrograms = comparisons.filter((c) => c.programs);
  const cells = (x: { anonRefusals: { baseline: number; policy: number }; merges: { baseline: number; policy: number }; vmasAtExit: { baseline: number; policy: number } }, side: "baseline" | "policy") =>
    [x.anonRefusals[side], x.merges[side], x.vmasAtExit[side]].map((v) => `<td>${v}</td>`).join("");
  const head = [first.baseline, ...withPrograms.map((c) => c.policy)].map((p) => `<th colspan="3">${escapeHtml(p)}</th>`).join("");
  const rows = first.programs.map((p, i) =>
    `<tr><td>${escapeHtml(p.name)}</td><td>${p.processes}</td>${cells(p, "baseline")}${withPrograms.map((c) => cells(c.programs![i], "policy")).join("")}</tr>`,
  );
  return `<h2>Per program (anon_vma refusals, merges, VMAs at exit)</h2>
<table><tr><th>program</th><th>processes</th>${head}</tr>
${rows.join("\n")}</table>`;
}

/** The whole report for the runs of one comparison, led by each policy's comparison with the baseline. */
export async function htmlReport(runs: PolicyRun[], title: string, comparisons: PolicyComparison[] = []): Promise<string> {
  const both = new Set(runs.map((r) => r.forkReuse)).size > 1;
  const name = (r: PolicyRun) => runLabel(r, both);
  const charts: [string, string][] = [];
  const change = (from: number, to: number) => (from === 0 ? 0 : (100 * (to - from)) / from);
  // no-merge, the lower bound, would set the scale (merges −100 %): it stays in the table.
  const charted = comparisons.filter((c) => c.policy !== "no-merge");
  if (charted.length) {
    charts.push([
      `Change against ${charted[0].baseline}, in %`,
      await chart({
        width: 800,
        height: 220,
        data: {
          values: charted.flatMap((c) => [
            { policy: c.policy, what: "peak VMAs", change: change(c.vmas.peak.baseline, c.vmas.peak.policy) },
            { policy: c.policy, what: "mean VMAs", change: change(c.vmas.mean.baseline, c.vmas.mean.policy) },
            { policy: c.policy, what: "VMAs at exit", change: change(c.vmas.atExit.baseline, c.vmas.atExit.policy) },
            { policy: c.policy, what: "merges", change: change(c.merges.baseline, c.merges.policy) },
            { policy: c.policy, what: "anon_vmas", change: change(c.cost.anonVmas.baseline, c.cost.anonVmas.policy) },
            { policy: c.policy, what: "AVCs", change: change(c.cost.avcs.baseline, c.cost.avcs.policy) },
          ]),
        },
        mark: "bar",
        encoding: {
          x: { field: "what", type: "nominal", title: null, sort: null },
          xOffset: { field: "policy" },
          y: { field: "change", type: "quantitative", title: "% change" },
          color: { field: "policy", type: "nominal", title: null },
        },
      }),
    ]);
  }
  charts.push([
    "VMA count along the op stream",
    await chart({
      width: 800,
      height: 260,
      data: { values: runs.flatMap((r) => r.series.op.map((op, i) => ({ run: name(r), op, vmas: r.series.vmas[i] }))) },
      mark: "line",
      encoding: {
        x: { field: "op", type: "quantitative", title: "op" },
        y: { field: "vmas", type: "quantitative", title: "live VMAs" },
        color: { field: "run", type: "nominal", title: null },
      },
    }),
  ]);
  const bars = async (what: string, values: { run: string; kind: string; count: number }[]) =>
    chart({
      width: 800,
      height: 220,
      data: { values },
      mark: "bar",
      encoding: {
        x: { field: "kind", type: "nominal", title: null, axis: { labelAngle: -30 } },
        xOffset: { field: "run" },
        y: { field: "count", type: "quantitative", title: what },
        color: { field: "run", type: "nominal", title: null },
      },
    });
  charts.push(["Merges by kind", await bars("merges", runs.flatMap((r) => MERGE_KINDS.map((k) => ({ run: name(r), kind: k, count: r.metrics.merges[k] }))))]);
  charts.push(["Refused merges by reason", await bars("refusals", runs.flatMap((r) => REFUSALS.map((k) => ({ run: name(r), kind: k, count: r.metrics.refusals[k] }))))]);
  charts.push([
    "anon_vma chain length (faulted VMAs at the end)",
    await bars("VMAs", runs.flatMap((r) => Object.entries(r.chainHistogram).map(([len, n]) => ({ run: name(r), kind: `chain ${len}`, count: n })))),
  ]);
  // At the anon_vma peak (PolicyRun.atAnonPeak); one unit per chart.
  const atPeak: [string, string, (r: PolicyRun) => { mean: number; max: number }][] = [
    ["Folios under one root anon_vma's lock, at the anon_vma peak", "folios per root", (r) => r.atAnonPeak.perRoot.folios],
    ["VMAs under one root anon_vma's lock, at the anon_vma peak", "VMAs per root", (r) => r.atAnonPeak.perRoot.vmas],
  ];
  for (const [h, unit, get] of atPeak) {
    charts.push([h, await bars(unit, runs.flatMap((r) => [{ run: name(r), kind: "mean", count: get(r).mean }, { run: name(r), kind: "max", count: get(r).max }]))]);
  }
  charts.push([
    "rmap walk cost at the anon_vma peak (each faulted VMA's first anonymous folio)",
    await bars("visited per walk", runs.flatMap((r) => [
      { run: name(r), kind: "AVCs", count: r.atAnonPeak.rmap.avcsPerWalk },
      { run: name(r), kind: "VMAs", count: r.atAnonPeak.rmap.vmasPerWalk },
    ])),
  ]);
  for (const r of runs) charts.push([`Address space of process ${r.detail?.proc ?? "-"} (${name(r)})`, await stripMap(r, name(r))]);
  const graphs = runs.map((r) => `<h2>anon_vma graph of process ${r.detail?.proc ?? "-"} (${escapeHtml(name(r))})</h2>${r.detail ? graphSvg(r.detail.graph) : "<p>no process left</p>"}`);
  const rows = runs.map(
    (r) =>
      `<tr><td>${escapeHtml(name(r))}</td><td>${r.metrics.vmas.peak}</td><td>${Math.round(r.vmasMean)}</td><td>${r.vmasAtExit}</td>` +
      `<td>${anonRefusals(r.metrics)}</td><td>${mergeCount(r.metrics)}</td><td>${r.metrics.peak.anonVmas}</td><td>${r.metrics.peak.avcs}</td><td>${r.failedOps}</td></tr>`,
  );
  const programs = programTable(comparisons);
  const lead = comparisons.length ? `<ul class="headlines">${comparisons.map((c) => `<li>${escapeHtml(headline(c))}</li>`).join("")}</ul>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; }
section.chart { margin: 1.5em 0; }
${GRAPH_STYLE}
</style></head><body>
<h1>${escapeHtml(title)}</h1>
${lead}
<table><tr><th>policy</th><th>VMAs peak</th><th>VMAs mean</th><th>VMAs at exit</th><th>anon_vma refusals</th><th>merges</th><th>anon_vmas, peak</th><th>AVCs, peak</th><th>failed ops</th></tr>
${rows.join("\n")}</table>
${programs}
${charts.map(([h, svg]) => `<section class="chart"><h2>${escapeHtml(h)}</h2>${svg}</section>`).join("\n")}
${graphs.join("\n")}
</body></html>
`;
}
