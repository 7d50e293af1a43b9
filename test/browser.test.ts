import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { chromium, type Page } from "playwright-core";
import { compare } from "../dist/compare.js";
import { htmlReport } from "../dist/report/html.js";
import { servePlayground } from "../dist/cli/playground.js";
import { parseScenario, POLICIES, ScenarioRun, System } from "../src/index.js";
import { caseText } from "./support/cases.js";

// Debian's chromium (no browser download); .ci/run installs it and requires these tests to run.
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.VMALAB_REQUIRE_BROWSER === "1") throw new Error(`no browser at ${CHROMIUM} (apt-get install chromium)`);
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url).pathname;

const SCENARIO = `mmap 100 16 rw anon
touch 100 8 w
fork 1
proc 1
touch 100 2 w
mprotect 104 4 r
mprotect 104 4 rw
madvise 108 4 dontfork
proc 0
mmap 116 4 rw anon
mprotect 100 2 r
`;

/** Runs `use` on a page of a fresh playground server in chromium; closes both after, whatever happens. */
async function withPlayground(viewport: { width: number; height: number }, use: (page: Page, url: string) => Promise<void>): Promise<void> {
  const { url, server } = await servePlayground(0);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    await use(await browser.newPage({ viewport }), url);
  } finally {
    await browser.close();
    server.close();
  }
}

describe.runIf(hasChromium)("the HTML report in a real browser", () => {
  test("every chart renders with marks, the strip maps and graphs too; a screenshot is kept", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const runs = await compare({ scenario: SCENARIO, policies: ["linux-6.18", "chain-union-2010", "no-merge"], parallel: false });
    const file = `${ARTIFACTS}report.html`;
    writeFileSync(file, await htmlReport(runs, "browser test <report>"));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${file}`);
      expect(await page.title()).toBe("browser test <report>");
      const charts = await page.$$eval("section.chart", (sections) =>
        sections.map((s) => {
          const svg = s.querySelector("svg");
          const box = svg?.getBoundingClientRect();
          return {
            title: s.querySelector("h2")?.textContent ?? "",
            width: box?.width ?? 0,
            height: box?.height ?? 0,
            marks: svg?.querySelectorAll("path, rect, line").length ?? 0,
          };
        }),
      );
      // Seven metric charts (lock sharing in two, one unit each) and one strip map per run, each drawn with a size and marks.
      expect(charts).toHaveLength(7 + runs.length);
      for (const c of charts) {
        expect(c.width, c.title).toBeGreaterThan(200);
        expect(c.height, c.title).toBeGreaterThan(40);
        expect(c.marks, c.title).toBeGreaterThan(3);
      }
      // A graph per run, with its anon_vma and VMA nodes laid out inside the picture.
      const graphs = await page.$$eval("svg.graph", (svgs) =>
        svgs.map((g) => ({ nodes: g.querySelectorAll("g.node").length, width: g.getBoundingClientRect().width })),
      );
      expect(graphs).toHaveLength(runs.length);
      for (const [i, g] of graphs.entries()) {
        const d = runs[i].detail!;
        expect(g.nodes).toBe(d.graph.anonVmas.length + d.graph.vmas.length);
        expect(g.width).toBeGreaterThan(100);
      }
      expect(errors).toEqual([]);
      await page.screenshot({ path: `${ARTIFACTS}report.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });

  test("the playground steps a real-kernel case under every policy: VMA rows, graph nodes, the last merge explained", async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    const text = caseText("merge-selftest-mprotect_unfaulted_left_faulted_right");
    const ops = parseScenario(text);
    await withPlayground({ width: 1600, height: 1000 }, async (page, url) => {
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      // Shared state in the URL: the scenario and the step.
      await page.goto(`${url}#${new URLSearchParams({ k: "2", s: text })}`);
      await page.waitForSelector("body[data-ready='1']");
      // Step to the last mprotect: the merges it tried are explained.
      const last = ops.findLastIndex((o) => o.op === "mprotect") + 1;
      for (let k = 2; k < last; k++) await page.click("#step");
      expect(await page.locator('section.policy[data-policy="linux-6.18"] pre.explain').textContent()).toMatch(/left {2}\(prev\)/);
      for (let k = last; k < ops.length; k++) await page.click("#step");
      expect(await page.textContent("#status")).toContain(`op ${ops.length} of ${ops.length}`);
      expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("k")).toBe(String(ops.length));
      for (const policy of POLICIES) {
        // The same ops in this process give the rows and nodes the page must show.
        const sys = System.createSync({ policy });
        const run = new ScenarioRun(sys);
        for (const op of ops) run.step(op);
        const panel = page.locator(`section.policy[data-policy="${policy}"]`);
        const want = sys.processes().map((p) => p.vmas().map((v) => `${v.start}-${v.end}`));
        const got = await panel.locator("table.vmas").evaluateAll((tables) =>
          tables.map((t) => [...t.querySelectorAll("tr.vma")].map((r) => r.firstElementChild?.textContent ?? "")),
        );
        expect(got, policy).toEqual(want);
        const g = sys.anonVmaGraph();
        expect(await panel.locator("svg.graph g.node").count(), policy).toBe(g.anonVmas.length + g.vmas.length);
      }
      expect(errors).toEqual([]);
      await page.screenshot({ path: `${ARTIFACTS}playground.png`, fullPage: true });
    });
  });

  test("the playground fits every policy in a 1,600-px window and marks the policies that differ from linux-6.18", async () => {
    // A fork case whose graphs once spilled across the columns, and the 2025 fix's case, where policies differ.
    const seed000 = "mmap 100 4 rw anon\nmmap 104 4 rwx anon\ntouch 104 1 w\nmprotect 104 4 rw\n";
    await withPlayground({ width: 1600, height: 1000 }, async (page, url) => {
      for (const [text, k] of [[caseText("forkmerge-3"), 12], [caseText("forkmerge-3"), 22], [seed000, 4]] as const) {
        const ops = parseScenario(text);
        await page.goto("about:blank"); // a new hash alone would not load the page again
        await page.goto(`${url}#${new URLSearchParams({ k: String(k), s: text })}`);
        await page.waitForSelector("body[data-ready='1']");
        // Every panel inside the window, every graph inside its panel.
        const boxes = await page.$$eval("section.policy", (panels) =>
          panels.map((p) => {
            const r = p.getBoundingClientRect();
            const g = p.querySelector("svg.graph")?.getBoundingClientRect();
            return { left: r.left, right: r.right, graphLeft: g?.left ?? r.left, graphRight: g?.right ?? r.right };
          }),
        );
        expect(boxes).toHaveLength(POLICIES.length);
        for (const b of boxes) {
          expect(b.right).toBeLessThanOrEqual(1600);
          expect(b.graphLeft).toBeGreaterThanOrEqual(b.left);
          expect(b.graphRight).toBeLessThanOrEqual(b.right + 0.5);
        }
        // The marks agree with the simulator: a policy differs when its VMAs after step k differ from linux-6.18's.
        const rows = (policy: string) => {
          const sys = System.createSync({ policy });
          const run = new ScenarioRun(sys);
          for (const op of ops.slice(0, k)) run.step(op);
          return JSON.stringify(sys.processes().map((p) => p.vmas().map((v) => [v.start, v.end, v.perms, v.anonPages])));
        };
        const want = POLICIES.filter((p) => rows(p) !== rows("linux-6.18"));
        if (text === seed000) expect(want).toEqual(["linux-pre-6.16", "no-merge"]);
        const marked = await page.$$eval("section.policy.differs", (ps) => ps.map((p) => (p as HTMLElement).dataset.policy));
        expect(marked, `step ${k}`).toEqual(want);
        for (const policy of want) expect(await page.locator(`section.policy[data-policy="${policy}"] tr.vma.differs`).count()).toBeGreaterThan(0);
      }
      await page.screenshot({ path: `${ARTIFACTS}playground-differs.png`, fullPage: true });
    });
  });

  test("the playground's no-zero-page switch: a read fault then gives an anonymous page, and the URL keeps it", async () => {
    await withPlayground({ width: 1280, height: 720 }, async (page, url) => {
      await page.goto(`${url}#${new URLSearchParams({ k: "2", s: "mmap 100 4 r anon\ntouch 100 2 r\n" })}`);
      await page.waitForSelector("body[data-ready='1']");
      const row = page.locator('section.policy[data-policy="linux-6.18"] tr.vma').first();
      expect(await row.textContent()).toContain("0 anon");
      await page.check("#nozero");
      expect(await row.textContent()).toContain("2 anon");
      expect(new URLSearchParams(new URL(page.url()).hash.slice(1)).get("z")).toBe("0");
      await page.reload();
      await page.waitForSelector("body[data-ready='1']");
      expect(await page.isChecked("#nozero")).toBe(true);
    });
  });

  test("the playground shows what the user typed as text, never as markup", async () => {
    await withPlayground({ width: 1280, height: 720 }, async (page, url) => {
      // Markup a browser would run if it were inserted as HTML (no spaces: a scenario word).
      const text = "mmap 100 4 r file:<img/src=x/onerror=window.hacked=1>@0\nmmap 104 4 r file:<b>bold</b>@4\n";
      await page.goto(`${url}#${new URLSearchParams({ k: "2", s: text })}`);
      await page.waitForSelector("body[data-ready='1']");
      expect(await page.evaluate(() => (window as unknown as { hacked?: number }).hacked)).toBeUndefined();
      expect(await page.locator("img, b").count()).toBe(0);
      expect(await page.locator("section.policy tr.vma").first().textContent()).toContain("file:<img");
    });
  });
});
