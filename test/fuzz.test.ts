// The readers against random mutations of real inputs: the real-kernel cases
// and recorded traces, cut short, with bytes flipped, lines spliced and
// numbers made huge. Every input must give a clean run or a clean error (one
// naming the file and line, or the errno): never a TypeError, a RangeError or
// a wasm trap, and the simulator's invariants must hold after each run.
// VMALAB_FUZZ_SECONDS sets how long (`npm run bench` runs it longer).

import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { expect, test } from "vitest";
import { Random } from "../src/random.js";
import { ScenarioSyntaxError } from "../src/scenario/parse.js";
import { runOps } from "../src/scenario/run.js";
import { parseScenario } from "../src/scenario/parse.js";
import { System } from "../src/system.js";
import { TraceSyntaxError } from "../src/trace/events.js";
import { traceToScenario } from "../src/trace/read.js";
import { VmalabError } from "../src/wasm.js";
import { caseNames, caseText } from "./support/cases.js";

const SECONDS = Number(process.env.VMALAB_FUZZ_SECONDS ?? 8);
const SEED = Number(process.env.VMALAB_FUZZ_SEED ?? Date.now() % 1_000_000);

const HUGE = ["18446744073709551615", "9007199254740993", "9007199254740992", "4294967296", "1e300", "-1", "0x", "NaN", "00000000000000000000001"];
const BYTES = ["\0", "\x1b[31m", "(", ")", "=", "|", ",", " ", "\t", "\r", "#", "...", "é", "\uFFFD", "0x7f", "-"];

/** One random mutation of `text`. */
function mutate(text: string, rnd: Random): string {
  const lines = text.split("\n");
  switch (rnd.int(5)) {
    case 0: // cut short, maybe mid-line
      return text.slice(0, rnd.int(text.length + 1));
    case 1: {
      // bytes flipped
      const chars = [...text];
      for (let n = 1 + rnd.int(8); n > 0 && chars.length; n--) chars[rnd.int(chars.length)] = BYTES[rnd.int(BYTES.length)];
      return chars.join("");
    }
    case 2: {
      // lines spliced: one moved, one duplicated, one line's halves joined to another's
      const a = rnd.int(lines.length);
      const b = rnd.int(lines.length);
      lines.splice(b, 0, lines[a]);
      const c = rnd.int(lines.length);
      const d = rnd.int(lines.length);
      lines[c] = lines[c].slice(0, rnd.int(lines[c].length + 1)) + lines[d].slice(rnd.int(lines[d].length + 1));
      return lines.join("\n");
    }
    case 3: {
      // a number made huge or not a number
      const i = rnd.int(lines.length);
      const nums = [...lines[i].matchAll(/\d+/g)];
      if (nums.length) {
        const m = nums[rnd.int(nums.length)];
        lines[i] = lines[i].slice(0, m.index) + HUGE[rnd.int(HUGE.length)] + lines[i].slice(m.index! + m[0].length);
      }
      return lines.join("\n");
    }
    default: {
      // a line of garbage
      const junk = Array.from({ length: rnd.int(200) }, () => String.fromCharCode(rnd.int(128))).join("");
      lines.splice(rnd.int(lines.length + 1), 0, junk);
      return lines.join("\n");
    }
  }
}

const cleanError = (err: unknown) => err instanceof ScenarioSyntaxError || err instanceof VmalabError || err instanceof TraceSyntaxError;

const corpusTrace = (name: string, lines: number) => {
  const text = gunzipSync(readFileSync(new URL(`../corpus/${name}.trace.gz`, import.meta.url))).toString("utf8");
  // The header and snapshots, then the first lines of the trace: a recording that reads fast.
  const at = text.indexOf("\n# trace\n") + 9;
  return text.slice(0, at) + text.slice(at).split("\n").slice(0, lines).join("\n");
};

test(`the scenario and trace readers under random mutations: a clean run or a clean error, ${SECONDS} s (seed ${SEED})`, { timeout: (SECONDS + 60) * 1000 }, () => {
  const rnd = new Random(SEED);
  const scenarios = caseNames().map(caseText);
  const traces = [corpusTrace("python", 3000), corpusTrace("postgres", 3000), corpusTrace("redis", 2000)];
  const end = performance.now() + SECONDS * 1000;
  const seen = { runs: 0, errors: 0, traces: 0, traceErrors: 0 };
  while (performance.now() < end) {
    const scenario = mutate(scenarios[rnd.int(scenarios.length)], rnd);
    try {
      const sys = System.createSync({ maxMapCount: 1000 });
      runOps(sys, parseScenario(scenario, "fuzz.txt"));
      sys.checkInvariants();
      seen.runs++;
    } catch (err) {
      if (!cleanError(err)) throw new Error(`seed ${SEED}: scenario input gave ${String(err)}\n--- input:\n${scenario.slice(0, 2000)}`);
      seen.errors++;
    }
    const trace = mutate(traces[rnd.int(traces.length)], rnd);
    const strict = rnd.int(4) === 0;
    try {
      const { ops } = traceToScenario(trace, { strict });
      // What the replay made runs cleanly on its own too.
      const sys = System.createSync({ maxMapCount: 1 << 30 });
      runOps(sys, ops);
      sys.checkInvariants();
      seen.traces++;
    } catch (err) {
      if (!cleanError(err)) throw new Error(`seed ${SEED}: trace input (strict ${strict}) gave ${String(err)}\n--- input head:\n${trace.slice(0, 2000)}`);
      seen.traceErrors++;
    }
  }
  console.log(`fuzz seed ${SEED}: scenarios ${seen.runs} ran, ${seen.errors} clean errors; traces ${seen.traces} replayed, ${seen.traceErrors} clean errors`);
  expect(seen.runs + seen.errors).toBeGreaterThan(20);
  expect(seen.traces).toBeGreaterThan(5);
});
