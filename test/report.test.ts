import { describe, expect, test } from "vitest";
import { compare } from "../dist/compare.js";
import { comparePolicies, headline } from "../dist/comparison.js";
import { escapeHtml, graphSvg, htmlReport } from "../dist/report/html.js";
import { System } from "../src/index.js";

const SCENARIO = `mmap 100 8 rw anon
touch 100 4 w
fork 1
proc 1
touch 100 1 w
mprotect 102 2 r
mprotect 102 2 rw
`;

describe("the HTML comparison report", () => {
  test("one self-contained file: the headlines, the table, a chart per metric group, a strip map and a graph per run", async () => {
    const runs = await compare({ scenario: SCENARIO, policies: ["linux-6.18", "chain-union-2010", "no-merge"], parallel: false });
    const comparisons = comparePolicies(runs, "linux-6.18");
    const html = await htmlReport(runs, "report <test> & \"quotes\"", comparisons);
    expect(html).toContain(`<ul class="headlines">${comparisons.map((c) => `<li>${escapeHtml(headline(c))}</li>`).join("")}</ul>`);
    expect(html.startsWith("<!doctype html>")).toBe(true);
    // Nothing to fetch: no scripts, no links, no external images.
    expect(html).not.toMatch(/<script|<link|src="http|href="http/);
    expect(html).toContain("<title>report &#60;test&#62; &#38; &#34;quotes&#34;</title>");
    const headings = [
      "Change against linux-6.18, in %",
      "VMA count along the op stream",
      "Merges by kind",
      "Refused merges by reason",
      "anon_vma chain length",
      "Folios under one root anon_vma&#39;s lock, at the anon_vma peak",
      "VMAs under one root anon_vma&#39;s lock, at the anon_vma peak",
      "rmap walk cost at the anon_vma peak",
    ];
    for (const h of headings) expect(html).toContain(`<h2>${h}`);
    // One unit per chart: nothing mixes a throughput into a cost.
    expect(html).not.toMatch(/ops\/s/);
    // The charts + a strip map and a graph for each of the 3 runs.
    expect((html.match(/<svg/g) ?? []).length).toBe(headings.length + 3 + 3);
    // Not a trace: no per-program table.
    expect(html).not.toContain("Per program");
    expect((html.match(/<g class="node anon_vma">/g) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  test("the graph lays out every anon_vma and VMA and draws an edge per AVC and parent link", () => {
    const sys = System.createSync();
    sys.runScenario(SCENARIO);
    const g = sys.anonVmaGraph();
    const svg = graphSvg(g);
    expect((svg.match(/<g class="node anon_vma">/g) ?? []).length).toBe(g.anonVmas.length);
    expect((svg.match(/<g class="node vma">/g) ?? []).length).toBe(g.vmas.length);
    expect((svg.match(/class="edge avc"/g) ?? []).length).toBe(g.avcs.length);
    expect((svg.match(/class="edge parent"/g) ?? []).length).toBe(g.parents.length);
  });

  test("user text is escaped, never markup; the report shows the process asked for", async () => {
    expect(escapeHtml(`<img src=x onerror="alert(1)">`)).toBe("&#60;img src=x onerror=&#34;alert(1)&#34;&#62;");
    // A file name from a scenario (or trace) reaches the strip map's tooltips as text.
    const scenario = `${SCENARIO}mmap 200 4 r file:<script>alert(1)</script>@0\n`;
    const runs = await compare({ scenario, policies: ["linux-6.18"], parallel: false, process: 1 });
    expect(runs[0].detail?.proc).toBe(1);
    const html = await htmlReport(runs, "t");
    expect(html).not.toMatch(/<script/i);
    expect(html).toMatch(/&lt;script&gt;|&#60;script&#62;/);
  });
});
