// `vmalab corpus`: recording the corpus of real programs, each checked
// against the kernel's own view as soon as it is recorded.

import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { CORPUS, corpusPrograms, missingCommands } from "../corpus/programs.js";
import { formatFidelity } from "../trace/check.js";
import { replayTraceFile } from "../trace/read.js";
import { VmalabError } from "../wasm.js";

export function listCorpus(): void {
  for (const p of CORPUS) {
    const missing = missingCommands(p);
    console.log(`${p.name.padEnd(9)} ${p.summary}`);
    console.log(`${"".padEnd(9)} Debian: ${p.packages.join(" ")}${missing.length ? `; missing here: ${missing.join(" ")}` : ""}`);
  }
}

/** Records each program into DIR/NAME.trace.gz and prints how its replay agrees with the kernel. */
export async function recordCorpus(names: string[], dir: string): Promise<void> {
  const programs = corpusPrograms(names);
  for (const p of programs) {
    const missing = missingCommands(p);
    if (missing.length) throw new VmalabError("ENOENT", `corpus ${p.name} needs ${missing.join(", ")} (Debian: apt-get install ${p.packages.join(" ")})`);
  }
  mkdirSync(dir, { recursive: true });
  for (const p of programs) {
    const out = join(dir, `${p.name}.trace.gz`);
    const t0 = performance.now();
    const version = await p.record(out);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`${p.name}: ${version}, recorded in ${seconds.toFixed(1)} s to ${out} (${(statSync(out).size / 2 ** 20).toFixed(1)} MiB)`);
    const { fidelity } = await replayTraceFile(out);
    if (fidelity) console.log(formatFidelity({ ...fidelity, differences: fidelity.differences.slice(0, 10) }));
  }
}
