// `vmalab kernel-check`: the simulator against the host kernel, scenario by scenario.

import { parseScenario } from "../scenario/parse.js";
import { runOps, type ScenarioRecord } from "../scenario/run.js";
import { System } from "../system.js";
import { runOnKernel } from "./helper.js";

/** A record with its VmFlags as a sorted set: the kernel's order is not the point. */
function canonical(r: ScenarioRecord): string {
  if (!("vmas" in r)) return JSON.stringify(r);
  return JSON.stringify({ ...r, vmas: r.vmas.map((v) => [...v.slice(0, 5), v[5].split(" ").filter(Boolean).sort().join(" ")]) });
}

export interface CheckResult {
  pass: boolean;
  simulator: ScenarioRecord[];
  kernel: ScenarioRecord[];
  /** A readable account of the first difference ("" when they agree). */
  difference: string;
}

/** Runs a scenario on the simulator and on the host kernel and compares the records. */
export function kernelCheck(text: string, file = "<scenario>", policy = "linux-6.18"): CheckResult {
  const ops = parseScenario(text, file);
  const simulator = runOps(System.createSync({ policy }), ops);
  const kernel = runOnKernel(ops);
  const n = Math.max(simulator.length, kernel.length);
  for (let i = 0; i < n; i++) {
    const s = simulator[i];
    const k = kernel[i];
    if (s && k && canonical(s) === canonical(k)) continue;
    return { pass: false, simulator, kernel, difference: describe(i, s, k) };
  }
  return { pass: true, simulator, kernel, difference: "" };
}

function describe(i: number, s: ScenarioRecord | undefined, k: ScenarioRecord | undefined): string {
  const lines = [`record ${i}:`];
  if (s && k && "vmas" in s && "vmas" in k) {
    lines.push(`  dump ${s.dump} of process ${s.proc}`);
    const fmt = (v: (typeof s.vmas)[number]) => `[${v[0]}, ${v[1]}) ${v[2]} ${v[3]} anon=${v[4]} ${v[5]}`;
    const sv = s.vmas.map(fmt);
    const kv = k.vmas.map(fmt);
    for (const v of kv) if (!sv.includes(v)) lines.push(`  kernel only:    ${v}`);
    for (const v of sv) if (!kv.includes(v)) lines.push(`  simulator only: ${v}`);
    return lines.join("\n");
  }
  lines.push(`  kernel:    ${k ? JSON.stringify(k) : "(nothing)"}`);
  lines.push(`  simulator: ${s ? JSON.stringify(s) : "(nothing)"}`);
  return lines.join("\n");
}
