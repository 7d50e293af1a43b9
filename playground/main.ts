// The playground page: a scenario stepped op by op under every policy side by
// side, each process's VMAs coloured by anon_vma, the anon_vma graph, and the
// explanation of the merges the last op tried. The state (scenario and step)
// lives in the URL, so a view can be shared. User text is only ever set as
// text, never as markup.

import wasmUrl from "../build/vmalab.wasm?url";
import { explainEvent, setMergeLog, takeMergeLog } from "../src/explain.js";
import { GRAPH_STYLE, graphSvg } from "../src/report/graph.js";
import { parseScenario, type ScenarioOp } from "../src/scenario/parse.js";
import { ScenarioRun } from "../src/scenario/run.js";
import { POLICIES, System } from "../src/system.js";
import { useCoreModule } from "../src/wasm.js";

const EXAMPLES: Record<string, string> = {
  "879bca0a2c4f (6.16): unfaulted prev, faulted vma": "mmap 100 4 rw anon\nmmap 104 4 rwx anon\ntouch 104 1 w\nmprotect 104 4 rw\n",
  "pieces faulted apart, made alike": "mmap 100 8 rw anon\nmadvise 104 4 dontdump\ntouch 100 2 w\ntouch 104 2 w\nmadvise 104 4 dodump\n",
  "forked neighbours": "mmap 100 8 rw anon\nmadvise 104 4 dontdump\ntouch 100 2 w\ntouch 104 2 w\nfork 1\nproc 1\nmadvise 104 4 dodump\n",
  "fork server": "mmap 100 16 rw anon\ntouch 100 16 w\nfork 1\nfork 2\nproc 1\ntouch 100 4 w\nmprotect 104 4 r\nproc 2\ntouch 108 4 w\nrmap 100\n",
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const textarea = $<HTMLTextAreaElement>("scenario");
const status = $<HTMLDivElement>("status");
const panels = $<HTMLDivElement>("policies");
const noZero = $<HTMLInputElement>("nozero");
let step = 0;

function el(tag: string, text?: string, cls?: string): HTMLElement {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

/** A stable colour per anon_vma id (grey when unfaulted). */
const colour = (id: number) => (id === 0 ? "#f0f0f0" : `hsl(${(id * 137.5) % 360} 60% 85%)`);

function readHash(): void {
  const params = new URLSearchParams(location.hash.slice(1));
  const s = params.get("s");
  textarea.value = s ?? Object.values(EXAMPLES)[0];
  step = Math.max(0, Number(params.get("k") ?? 0) || 0);
  noZero.checked = params.get("z") === "0";
}

function writeHash(): void {
  const params = new URLSearchParams({ k: String(step), s: textarea.value });
  if (noZero.checked) params.set("z", "0");
  history.replaceState(null, "", `#${params}`);
}

/** Runs the first `step` ops under a policy; returns the system and what the last op did. */
function runTo(policy: string, ops: ScenarioOp[]) {
  const sys = System.createSync({ policy, zeroPage: !noZero.checked });
  setMergeLog(sys, true);
  const run = new ScenarioRun(sys);
  let events = takeMergeLog(sys).events;
  for (let i = 0; i < step; i++) {
    const before = run.out.length;
    run.step(ops[i]);
    events = takeMergeLog(sys).events;
    if (i === step - 1) return { sys, events, records: run.out.slice(before) };
  }
  return { sys, events, records: [] as typeof run.out };
}

function render(): void {
  panels.replaceChildren();
  let ops: ScenarioOp[];
  try {
    ops = parseScenario(textarea.value, "scenario");
  } catch (err) {
    status.textContent = (err as Error).message;
    return;
  }
  step = Math.min(step, ops.length);
  const op = step > 0 ? ops[step - 1] : null;
  const line = op ? textarea.value.split("\n")[op.line - 1].trim() : "";
  status.textContent = `op ${step} of ${ops.length}${op ? `: ${line}` : ""}`;
  // Each policy's state after the step, against the baseline's (the first policy, linux-6.18).
  const states = POLICIES.map((policy) => ({ policy, ...runTo(policy, ops) }));
  const rowsOf = (sys: System) => new Map(sys.processes().map((p) => [p.id, new Set(p.vmas().map((v) => `${v.start}-${v.end} ${v.perms} ${v.anonPages}`))]));
  const baseline = rowsOf(states[0].sys);
  for (const { policy, sys, events, records } of states) {
    const panel = el("section", undefined, "policy");
    panel.dataset.policy = policy;
    const mine = rowsOf(sys);
    const same = (a?: Set<string>, b?: Set<string>) => !!a && !!b && a.size === b.size && [...a].every((x) => b.has(x));
    const differs = policy !== states[0].policy && ([...mine].some(([id, rows]) => !same(rows, baseline.get(id))) || mine.size !== baseline.size);
    const title = el("h2", policy);
    if (differs) {
      panel.classList.add("differs");
      title.append(el("span", `differs from ${states[0].policy}`, "badge"));
    }
    panel.append(title);
    for (const r of records) {
      if ("errno" in r) panel.append(el("div", `op failed: ${r.errno}`, "failed"));
      if ("mapped" in r) panel.append(el("div", `rmap ${r.page}: ${r.mapped.map(([p, pg]) => `${p}:${pg}`).join(" ") || "none"}`, "rmap"));
    }
    for (const p of sys.processes()) {
      panel.append(el("h3", `process ${p.id}`));
      const table = el("table", undefined, "vmas");
      table.dataset.proc = String(p.id);
      for (const v of p.vmas()) {
        const row = el("tr", undefined, "vma");
        if (differs && !baseline.get(p.id)?.has(`${v.start}-${v.end} ${v.perms} ${v.anonPages}`)) row.classList.add("differs");
        row.style.background = colour(v.anonVma);
        for (const cell of [`${v.start}-${v.end}`, v.perms, v.kind, `${v.anonPages} anon`, v.anonVma ? `anon_vma ${v.anonVma}` : "unfaulted"]) {
          row.append(el("td", cell));
        }
        table.append(row);
      }
      panel.append(table);
    }
    const graph = el("div", undefined, "graph-box");
    // graphSvg escapes every label it draws. Scaled to its panel; a click shows it full size.
    graph.innerHTML = graphSvg(sys.anonVmaGraph());
    graph.onclick = () => graph.classList.toggle("zoomed");
    panel.append(el("h3", "anon_vma graph"), graph);
    panel.append(el("h3", "merges the last op tried"));
    panel.append(el("pre", events.length ? events.map((e) => explainEvent(e, sys.policy)).join("\n\n") : "none", "explain"));
    panels.append(panel);
  }
  writeHash();
}

async function main(): Promise<void> {
  document.head.append(el("style", GRAPH_STYLE));
  useCoreModule(await WebAssembly.compileStreaming(fetch(wasmUrl)));
  const select = $<HTMLSelectElement>("example");
  select.append(el("option", "examples…"));
  for (const name of Object.keys(EXAMPLES)) select.append(el("option", name));
  select.onchange = () => {
    if (EXAMPLES[select.value]) {
      textarea.value = EXAMPLES[select.value];
      step = 0;
      render();
    }
  };
  $("reset").onclick = () => {
    step = 0;
    render();
  };
  $("back").onclick = () => {
    step = Math.max(0, step - 1);
    render();
  };
  $("step").onclick = () => {
    step++;
    render();
  };
  $("all").onclick = () => {
    step = Number.MAX_SAFE_INTEGER;
    render();
  };
  textarea.oninput = () => render();
  noZero.onchange = () => render();
  readHash();
  render();
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  status.textContent = `failed to start: ${(err as Error).message}`;
});
