// `vmalab scenario FILE... [--policy NAME] [--json]`.

import { buffered, streamLines } from "../files.js";
import { MAX_LINE, ScenarioReader } from "../scenario/parse.js";
import { type ScenarioRecord, ScenarioRun } from "../scenario/run.js";
import { System, type SystemOptions } from "../system.js";
import { VmalabError } from "../wasm.js";

/** Human form of one record (`line`: the line of the op that made it): dumps look like /proc/PID/maps in pages, with the VmFlags. */
export function formatRecord(r: ScenarioRecord, line: number): string {
  if ("errno" in r) return `proc ${r.proc}: op ${r.op} (line ${line}) failed: ${r.errno}`;
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

/**
 * Runs each scenario file as it is read (memory does not grow with its
 * length), printing each record as it comes; a bad line stops with its file
 * and line, after what came before it ran.
 */
export async function runScenarioFiles(files: string[], opts: SystemOptions, json: boolean): Promise<void> {
  const out = buffered((text) => process.stdout.write(text));
  for (const file of files) {
    const reader = new ScenarioReader(file);
    const run = new ScenarioRun(System.createSync(opts), { keep: false });
    out.write(json ? `${JSON.stringify({ scenario: file })}\n` : `== ${file}\n`);
    try {
      const { cut } = await streamLines(
        file,
        (text) => {
          const op = reader.line(text);
          if (!op) return;
          const r = run.step(op);
          if (!r) return;
          out.write(`${json ? JSON.stringify(r) : formatRecord(r, op.line)}\n`);
        },
        MAX_LINE,
      );
      if (cut) throw new VmalabError("EIO", `${file}: the file ends early (a gzip stream cut off)`);
    } finally {
      out.flush();
    }
  }
}
