// `vmalab scenario FILE... [--policy NAME] [--json]`.

import { readInput } from "../files.js";
import { parseScenario } from "../scenario/parse.js";
import { runOps, type ScenarioRecord } from "../scenario/run.js";
import { System, type SystemOptions } from "../system.js";

/** Human form of one record: dumps look like /proc/PID/maps in pages, with the VmFlags. */
export function formatRecord(r: ScenarioRecord, ops: { line: number }[]): string {
  if ("errno" in r) return `proc ${r.proc}: op ${r.op} (line ${ops[r.op].line}) failed: ${r.errno}`;
  if ("mapped" in r) {
    const who = r.mapped.length ? r.mapped.map(([p, pg]) => `${p}:${pg}`).join(" ") : "no anonymous page";
    return `proc ${r.proc}: rmap ${r.page} -> ${who}`;
  }
  const width = Math.max(4, ...r.vmas.map((v) => String(v[1]).length));
  const lines = r.vmas.map(
    ([start, end, perms, kind, anon, flags]) =>
      `  ${String(start).padStart(width)}-${String(end).padEnd(width)} ${perms} ${kind.padEnd(16)} ${String(anon).padStart(6)} anon  ${flags}`,
  );
  return [`proc ${r.proc}: dump ${r.dump} (${r.vmas.length} VMAs)`, ...lines].join("\n");
}

export function runScenarioFiles(files: string[], opts: SystemOptions, json: boolean): void {
  for (const file of files) {
    const ops = parseScenario(readInput(file), file);
    const records = runOps(System.createSync(opts), ops);
    if (json) {
      console.log(JSON.stringify({ scenario: file }));
      for (const r of records) console.log(JSON.stringify(r));
    } else {
      console.log(`== ${file}`);
      for (const r of records) console.log(formatRecord(r, ops));
    }
  }
}
