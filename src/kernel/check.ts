// `vmalab kernel-check`: the simulator against the host kernel, scenario by
// scenario, with the simulator set up as the host's kernel behaves (host.ts).

import { parseScenario } from "../scenario/parse.js";
import { type DumpVma, runOps, type ScenarioRecord } from "../scenario/run.js";
import { System } from "../system.js";
import { runOnKernel } from "./helper.js";
import { type HostProfile, hostOptions, probeHost, thpCapable, type ThpMode } from "./host.js";
import { runOnImage } from "./vm.js";
import type { KernelLine } from "../system.js";

/** VmFlags as a sorted set (the kernel's order is not the point), without the soft-dirty flag (a build option). */
const canonicalFlags = (f: string) => f.split(" ").filter((x) => x && x !== "sd").sort().join(" ");

/** A record with its VmFlags canonical. */
function canonical(r: ScenarioRecord): string {
  if (!("vmas" in r)) return JSON.stringify(r);
  return JSON.stringify({ ...r, vmas: r.vmas.map((v) => [...v.slice(0, 5), canonicalFlags(v[5])]) });
}

export interface CheckResult {
  pass: boolean;
  simulator: ScenarioRecord[];
  kernel: ScenarioRecord[];
  /** A readable account of the first difference ("" when they agree). */
  difference: string;
  /**
   * Where they differ only in VMAs that the host's THP mode may back with a
   * huge page (vmalab models 4 KiB folios): those VMAs, as "[start, end)".
   * Empty for a pass or for a difference THP does not explain.
   */
  thp: string[];
}

let host: HostProfile | undefined;
/** The profile of the host, probed once per process. */
export function hostProfile(): HostProfile {
  host ??= probeHost();
  return host;
}

/** Runs a scenario on the simulator (as the host's kernel) and on the host kernel and compares the records. */
export function kernelCheck(text: string, file = "<scenario>", policy = "linux-6.18"): CheckResult {
  const h = hostProfile();
  const ops = parseScenario(text, file);
  return compareRecords(runOps(System.createSync({ ...hostOptions(h), policy }), ops), runOnKernel(ops), h.thp);
}

/**
 * Runs scenarios on a kernel image booted under QEMU (vm.ts) and on the
 * simulator as that kernel line on that guest (the shared zero page, THP
 * madvise), and compares each.
 */
export function kernelCheckImage(image: string, line: KernelLine, scenarios: { text: string; file: string }[], policy = "linux-6.18"): CheckResult[] {
  const parsed = scenarios.map((s) => parseScenario(s.text, s.file));
  const kernel = runOnImage(image, parsed);
  return parsed.map((ops, i) => compareRecords(runOps(System.createSync({ kernel: line, policy }), ops), kernel[i], "madvise"));
}

/** The simulator's records against the kernel's: the first difference, and whether THP (in `thp` mode) explains it. */
function compareRecords(simulator: ScenarioRecord[], kernel: ScenarioRecord[], thp: ThpMode): CheckResult {
  const n = Math.max(simulator.length, kernel.length);
  for (let i = 0; i < n; i++) {
    const s = simulator[i];
    const k = kernel[i];
    if (s && k && canonical(s) === canonical(k)) continue;
    return { pass: false, simulator, kernel, difference: describe(i, s, k), thp: thpExplains(s, k, thp) };
  }
  return { pass: true, simulator, kernel, difference: "", thp: [] };
}

const fmt = (v: DumpVma) => `[${v[0]}, ${v[1]}) ${v[2]} ${v[3]} anon=${v[4]} ${canonicalFlags(v[5])}`;

/** The VMAs THP may have made differ, when every difference lies in one (same bounds, more anonymous pages in the kernel). */
function thpExplains(s: ScenarioRecord | undefined, k: ScenarioRecord | undefined, thp: ThpMode): string[] {
  if (!s || !k || !("vmas" in s) || !("vmas" in k) || s.vmas.length !== k.vmas.length) return [];
  const capable = new Set(thpCapable(k.vmas, thp));
  const named: string[] = [];
  for (let i = 0; i < k.vmas.length; i++) {
    const [kv, sv] = [k.vmas[i], s.vmas[i]];
    if (canonical({ ...k, vmas: [kv] }) === canonical({ ...s, vmas: [sv] })) continue;
    const sameBounds = kv[0] === sv[0] && kv[1] === sv[1];
    if (!sameBounds || !capable.has(kv) || kv[4] <= sv[4]) return [];
    named.push(`[${kv[0]}, ${kv[1]})`);
  }
  return named;
}

function describe(i: number, s: ScenarioRecord | undefined, k: ScenarioRecord | undefined): string {
  const lines = [`record ${i}:`];
  if (s && k && "vmas" in s && "vmas" in k) {
    lines.push(`  dump ${s.dump} of process ${s.proc}`);
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
