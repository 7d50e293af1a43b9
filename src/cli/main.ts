#!/usr/bin/env node
// The vmalab command line.

import { parseArgs } from "node:util";
import { VERSION } from "../version.js";
import { runDemo } from "./demo.js";

const USAGE = `vmalab ${VERSION} — a laboratory for Linux VMA management

Usage:
  vmalab demo [--ranges N] [--queries N] [--seed S] [--json]
      Build an address space of N ranges in the wasm range map and time
      find_vma, vma_lookup, gap search and churn on it (default N = 100000).
  vmalab --version
  vmalab --help
`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-v") {
    console.log(VERSION);
    return 0;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === "demo") {
    const { values } = parseArgs({
      args: rest,
      options: {
        ranges: { type: "string", default: "100000" },
        queries: { type: "string", default: "1000000" },
        seed: { type: "string", default: "1" },
        json: { type: "boolean", default: false },
      },
    });
    runDemo({
      ranges: positiveInt(values.ranges, "--ranges"),
      queries: positiveInt(values.queries, "--queries"),
      seed: positiveInt(values.seed, "--seed"),
      json: values.json,
    });
    return 0;
  }
  throw new UsageError(`unknown command '${command}'`);
}

class UsageError extends Error {}

function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} takes a positive integer, got '${text}'`);
  return n;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError || (err instanceof Error && err.name === "TypeError" && "code" in err)) {
    console.error(`vmalab: ${err.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else {
    console.error(`vmalab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
