// A worker thread of compare(): one policy run, its result posted back.

import { parentPort, workerData } from "node:worker_threads";
import { runPolicy } from "./compare.js";
import { VmalabError } from "./wasm.js";

try {
  parentPort!.postMessage({ run: runPolicy(workerData) });
} catch (err) {
  const e = err as Error;
  const code = err instanceof VmalabError ? err.code : undefined;
  // A VmalabError's message starts with its code, which the main thread's error adds again.
  parentPort!.postMessage({ error: { code, message: code ? e.message.slice(code.length + 2) : e.message } });
}
