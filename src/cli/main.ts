#!/usr/bin/env node
// The vmalab command line.

import { parseArgs } from "node:util";
import { VERSION } from "../version.js";
import { runDemo } from "./demo.js";
import { runScenarioFiles } from "./scenario.js";
import { ScenarioSyntaxError } from "../scenario/parse.js";
import { readInput } from "../files.js";
import { type CheckResult, hostProfile, kernelCheck, kernelCheckImage } from "../kernel/check.js";
import { kernelLineOfImage } from "../kernel/vm.js";
import { formatHost, probeHost } from "../kernel/host.js";
import { FAMILIES, generateScenario, type Family } from "../scenario/generate.js";
import { NativeHelperError } from "../native.js";
import { KERNEL_LINES, type KernelLine, POLICIES } from "../system.js";
import { VmalabError } from "../wasm.js";
import { runCompare } from "./compare.js";
import { runWorkloadCli } from "./workload.js";
import { servePlayground } from "./playground.js";
import { WORKLOADS } from "../workload/generators.js";
import { checkWorkloadName } from "../workload/run.js";
import { explainScenario } from "../explain.js";
import { defaultTracer, recordTrace, type Tracer } from "../trace/record.js";
import { listCorpus, recordCorpus } from "./corpus.js";
import { formatFidelity } from "../trace/check.js";
import { formatWhyApart, whyApart } from "../why-apart.js";
import { loadReplay, replayTraceFile, traceToScenarioFile } from "../trace/read.js";
import { formatReplayStats } from "../trace/replay.js";
import { TraceSyntaxError } from "../trace/events.js";

const USAGE = `vmalab ${VERSION} — a laboratory for Linux VMA management

Usage:
  vmalab scenario FILE... [--policy NAME] [--kernel 6.1|6.12|6.18] [--json] [--no-zero-page]
      Run scenarios (README: Scenarios) and print each dump like /proc/PID/maps
      (pages, perms, kind, anonymous pages, VmFlags), rmap answers and failed
      ops; --json prints the JSON lines instead. --kernel: the kernel line
      whose rules apply (default 6.18).
  vmalab kernel-check FILE... [--policy NAME] [--kernel-image VMLINUZ [--kernel 6.1|6.12|6.18]]
      Probe this machine's kernel (vmalab host), then run each scenario on it
      (through a small C helper compiled on first use) and on the simulator
      set up as that kernel behaves; print PASS or FAIL and the first
      difference (THP where only VMAs that may hold a huge page differ).
      With --kernel-image: boot that kernel under qemu-system-x86_64 (TCG)
      with an initramfs of busybox-static and a static build of the helper,
      run every scenario in one boot, and compare with the simulator as that
      kernel line (--kernel; else read from the image's name).
      Exit status 1 when any fails.
  vmalab host [--json]
      Print what this machine's kernel does that changes results: the shared
      zero page, THP mode, vm.max_map_count, vm.mmap_min_addr, overcommit,
      the soft-dirty flag.
  vmalab compare [--scenario FILE | --workload NAME [--seed S] [--ops N] | --trace FILE]
                 [--policy all|NAME,NAME...] [--baseline NAME] [--fork-reuse on|off|both]
                 [--json FILE] [--html FILE] [--process N] [--kernel 6.1|6.12|6.18] [--no-zero-page]
      Run the input (a scenario, a generated workload, a recorded trace;
      none: the corpus's postgres recording) once per merge policy and say
      first, per policy against the baseline (default linux-6.18): peak VMAs,
      anon_vma refusals and the share that remains, merges gained per 1,000
      memory syscalls, and the cost. Then the baseline's figures and each
      policy's change; rows no policy changes fold into one line. --json
      writes all; --html writes a self-contained report with charts, a strip
      map and the anon_vma graph of a process (--process N; else the lowest
      id alive at the end). Policies: ${POLICIES.join(", ")}, and
      linux-6.1, linux-6.12 (the kernel's rules on those lines: compare
      --policy linux-6.1,linux-6.12,linux-6.18 for an upgrade); --kernel
      runs the other policies on that line.
  vmalab explain FILE [--policy NAME] [--op N] [--kernel 6.1|6.12|6.18] [--no-zero-page]
      Run the scenario and show every merge it tried (or those of op N):
      prev | range | next as mm/vma.c's comments draw them, the rule that
      decided each side, and what merged.
  vmalab explain --trace FILE [--process PID|NAME] [--at exit|peak] [--policy NAME,...] [--kernel 6.1|6.12|6.18] [--json]
      Why a traced program has so many VMAs: at the process's exit (or its
      peak; default: the process with the most VMAs), every pair of adjacent
      VMAs that stayed apart, grouped by the rule that keeps them apart, with
      the trace lines of the syscalls that made each boundary; and how many
      of those pairs each policy (default: all but linux-6.18) would have merged.
  vmalab record [--out FILE] [--tracer perf|strace] [--check] -- CMD ARGS...
      Run a program under perf trace (syscalls and page faults; where it
      works) or strace -f (syscalls only) and write its trace (default
      vmalab.trace; gzip-compressed when FILE ends in .gz): the memory,
      process and open/close syscalls, after a header naming the program and
      the host. --check (perf) also saves the kernel's view of each process
      (smaps) right after each execve and when it exits.
  vmalab corpus list | record [NAME...] [--out DIR]
      The corpus of real programs (redis, build, python, node, postgres):
      list says what each records and which Debian packages it needs;
      record runs each under its load with record --check into
      DIR/NAME.trace.gz (default DIR: corpus) and prints how its replay
      agrees with the kernel.
  vmalab trace FILE [--strict] [--out SCENARIO] [--check] [--json] [--kernel 6.1|6.12|6.18] [--no-zero-page]
      Read a trace (plain or .gz), turn it into a scenario at the traced
      addresses and print what it held and what had to be rebuilt (README:
      Traces); --out writes the scenario. --strict stops at the first
      unreadable line. --check compares the replay with the kernel's view at
      each process's exit (a recording made with record --check): agreement
      per program and every difference with its cause; --json prints it all
      as one object.
  vmalab workload NAME [--processes N] [--vmas N] [--ops N] [--faults F] [--seed S]
                  [--policy NAME] [--fork-reuse on|off] [--quiet] [--json FILE] [--scenario-out FILE]
                  [--kernel 6.1|6.12|6.18] [--no-zero-page]
      Generate a workload (${WORKLOADS.join(", ")}) at that size and run it in
      op batches: wall time, ops/s, peak memory and metrics. A progress bar
      shows on a terminal; Ctrl-C stops it with the metrics so far.
  vmalab playground [--port N] [--no-zero-page]
      Serve the browser playground on localhost: type or pick a scenario,
      step it op by op under every policy side by side.
  vmalab generate FAMILY SEED [--ops N]
      Print a seeded scenario of a family that stresses merging
      (${FAMILIES.join(", ")}).
  vmalab demo [--ranges N] [--queries N] [--seed S] [--json]
      Build an address space of N ranges in the wasm range map and time
      find_vma, vma_lookup, gap search and churn on it (default N = 100000).
  vmalab --version
  vmalab --help

--no-zero-page runs the simulator as a kernel without the shared zero page
(s390 guests, kernels booted without it): a read fault of private anonymous
memory allocates a page and prepares an anon_vma. \`vmalab host\` tells which
kind this machine is.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-v") {
    console.log(VERSION);
    return 0;
  }
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  current = command;
  // Every subcommand answers --help and -h with its own usage.
  if (rest.includes("--help") || rest.includes("-h")) {
    const usage = commandUsage(command);
    if (!usage) throw new UsageError(`unknown command '${command}'`);
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (command === "scenario") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        policy: { type: "string", default: "linux-6.18" },
        kernel: { type: "string" },
        json: { type: "boolean", default: false },
        "no-zero-page": { type: "boolean", default: false },
      },
    });
    if (positionals.length === 0) throw new UsageError("scenario needs at least one FILE");
    await runScenarioFiles(positionals, { policy: values.policy, kernel: kernelLine(values.kernel), zeroPage: !values["no-zero-page"] }, values.json);
    return 0;
  }
  if (command === "kernel-check") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { policy: { type: "string", default: "linux-6.18" }, "kernel-image": { type: "string" }, kernel: { type: "string" } },
    });
    if (positionals.length === 0) throw new UsageError("kernel-check needs at least one FILE");
    const image = values["kernel-image"];
    if (values.kernel !== undefined && image === undefined) throw new UsageError("--kernel goes with --kernel-image (the host kernel is what it is)");
    let results: CheckResult[];
    let thpMode: string;
    if (image !== undefined) {
      const line = kernelLine(values.kernel) ?? kernelLineOfImage(image);
      console.log(`kernel image ${image} (Linux ${line}) under QEMU: the shared zero page, THP madvise`);
      results = kernelCheckImage(image, line, positionals.map((file) => ({ text: readInput(file), file })), values.policy);
      thpMode = "madvise";
    } else {
      const host = hostProfile();
      console.log(formatHost(host));
      results = positionals.map((file) => kernelCheck(readInput(file), file, values.policy));
      thpMode = host.thp;
    }
    let failed = 0;
    let thp = 0;
    for (const [i, file] of positionals.entries()) {
      const r = results[i];
      if (r.pass) {
        console.log(`PASS ${file}`);
      } else if (r.thp.length) {
        thp++;
        console.log(`THP  ${file}: differs only in VMAs that THP (${thpMode}) may back with huge pages: ${r.thp.join(", ")}`);
        console.log(r.difference);
      } else {
        failed++;
        console.log(`FAIL ${file}`);
        console.log(r.difference);
      }
    }
    const passed = positionals.length - failed - thp;
    console.log(`${passed} passed, ${failed} failed${thp ? `, ${thp} differ by THP (not modelled)` : ""}`);
    return failed ? 1 : 0;
  }
  if (command === "host") {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: "boolean", default: false } } });
    if (positionals.length) throw new UsageError("host takes no FILE");
    const host = probeHost();
    console.log(values.json ? JSON.stringify(host, null, 2) : formatHost(host));
    return 0;
  }
  if (command === "compare") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        scenario: { type: "string" },
        workload: { type: "string" },
        trace: { type: "string" },
        html: { type: "string" },
        process: { type: "string" },
        seed: { type: "string", default: "1" },
        ops: { type: "string", default: "1000" },
        policy: { type: "string", default: "all" },
        "fork-reuse": { type: "string", default: "on" },
        json: { type: "string" },
        baseline: { type: "string", default: "linux-6.18" },
        kernel: { type: "string" },
        "no-zero-page": { type: "boolean", default: false },
      },
    });
    const inputs = [values.scenario, values.workload, values.trace].filter((x) => x !== undefined).length;
    if (inputs > 1 || positionals.length > 0) throw new UsageError("compare takes one of --scenario FILE, --workload NAME, --trace FILE (none: the corpus's postgres recording)");
    const reuse = { on: true, off: false, both: "both" as const }[values["fork-reuse"]];
    if (reuse === undefined) throw new UsageError(`--fork-reuse takes on, off or both, got '${values["fork-reuse"]}'`);
    const policies = values.policy === "all" ? "all" : values.policy.split(",").map((p) => p.trim());
    const workload = values.workload === undefined ? undefined
      : { name: values.workload, seed: positiveInt(values.seed, "--seed"), ops: positiveInt(values.ops, "--ops") };
    await runCompare({
      scenario: values.scenario,
      workload,
      trace: values.trace,
      policies,
      forkReuse: reuse,
      baseline: values.baseline,
      zeroPage: values["no-zero-page"] ? false : undefined,
      kernel: kernelLine(values.kernel),
      json: values.json,
      html: values.html,
      process: values.process === undefined ? undefined : positiveInt(values.process, "--process", 0),
    });
    return 0;
  }
  if (command === "explain") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        policy: { type: "string" },
        op: { type: "string" },
        trace: { type: "string" },
        process: { type: "string" },
        at: { type: "string", default: "exit" },
        json: { type: "boolean", default: false },
        kernel: { type: "string" },
        "no-zero-page": { type: "boolean", default: false },
      },
    });
    if (values.trace !== undefined) {
      if (positionals.length) throw new UsageError("explain takes a scenario FILE or --trace FILE, not both");
      if (values.at !== "exit" && values.at !== "peak") throw new UsageError(`--at takes exit or peak, got '${values.at}'`);
      const replay = await loadReplay(values.trace, { zeroPage: values["no-zero-page"] ? false : undefined, kernel: kernelLine(values.kernel) });
      const proc = values.process === undefined ? undefined : /^\d+$/.test(values.process) ? Number(values.process) : values.process;
      const policies = values.policy === undefined ? POLICIES.filter((p) => p !== "linux-6.18") : values.policy.split(",").map((p) => p.trim());
      const w = whyApart(replay, { process: proc, at: values.at, policies, zeroPage: replay.zeroPage, kernel: replay.kernel });
      console.log(values.json ? JSON.stringify(w, null, 2) : formatWhyApart(w));
      return 0;
    }
    if (positionals.length !== 1) throw new UsageError("explain needs one FILE (or --trace FILE)");
    const op = values.op === undefined ? undefined : Number(values.op);
    if (op !== undefined && !(Number.isSafeInteger(op) && op >= 0)) throw new UsageError(`--op takes an op number, got '${values.op}'`);
    const [file] = positionals;
    console.log(explainScenario(readInput(file), { policy: values.policy ?? "linux-6.18", kernel: kernelLine(values.kernel), op, file, zeroPage: !values["no-zero-page"] }));
    return 0;
  }
  if (command === "record") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        out: { type: "string", default: "vmalab.trace" },
        tracer: { type: "string" },
        check: { type: "boolean", default: false },
      },
    });
    if (positionals.length === 0) throw new UsageError("record needs a command: vmalab record [--out FILE] -- CMD ARGS...");
    if (values.tracer !== undefined && values.tracer !== "perf" && values.tracer !== "strace") {
      throw new UsageError(`--tracer takes perf or strace, got '${values.tracer}'`);
    }
    const tracer = (values.tracer as Tracer | undefined) ?? defaultTracer();
    const status = recordTrace(positionals[0], positionals.slice(1), values.out, { tracer, check: values.check });
    console.error(`vmalab: ${tracer} trace${values.check ? " with snapshots" : ""} written to ${values.out} (the program exited with ${status})`);
    return status === 0 ? 0 : 1;
  }
  if (command === "corpus") {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { out: { type: "string", default: "corpus" } } });
    const [verb, ...names] = positionals;
    if (verb === "list" && names.length === 0) {
      listCorpus();
      return 0;
    }
    if (verb !== "record") throw new UsageError("corpus takes: list | record [NAME...] [--out DIR]");
    await recordCorpus(names, values.out);
    return 0;
  }
  if (command === "trace") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        strict: { type: "boolean", default: false },
        out: { type: "string" },
        check: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        kernel: { type: "string" },
        "no-zero-page": { type: "boolean", default: false },
      },
    });
    if (positionals.length !== 1) throw new UsageError("trace needs one FILE");
    const [file] = positionals;
    const opts = { strict: values.strict, zeroPage: values["no-zero-page"] ? false : undefined, kernel: kernelLine(values.kernel) };
    const { stats, fidelity } = values.out ? await traceToScenarioFile(file, values.out, opts) : await replayTraceFile(file, opts);
    if (values.check && !fidelity) throw new UsageError(`${file} has no snapshots to check against: record it with vmalab record --check`);
    if (values.json) {
      console.log(JSON.stringify({ file, stats, ...(values.check ? fidelity : {}) }, null, 2));
      return 0;
    }
    console.log(formatReplayStats(file, stats));
    if (values.check) console.log(formatFidelity(fidelity!));
    return 0;
  }
  if (command === "workload") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        processes: { type: "string", default: "4" },
        vmas: { type: "string", default: "4000" },
        ops: { type: "string", default: "20000" },
        faults: { type: "string", default: "0.25" },
        seed: { type: "string", default: "1" },
        policy: { type: "string", default: "linux-6.18" },
        "fork-reuse": { type: "string", default: "on" },
        quiet: { type: "boolean", default: false },
        json: { type: "string" },
        "scenario-out": { type: "string" },
        kernel: { type: "string" },
        "no-zero-page": { type: "boolean", default: false },
      },
    });
    if (positionals.length !== 1) throw new UsageError(`workload needs a NAME (${WORKLOADS.join(", ")})`);
    const faults = Number(values.faults);
    if (!(faults >= 0 && faults <= 1)) throw new UsageError(`--faults takes a fraction in [0, 1], got '${values.faults}'`);
    const reuse = values["fork-reuse"];
    if (reuse !== "on" && reuse !== "off") throw new UsageError(`--fork-reuse takes on or off, got '${reuse}'`);
    const run = await runWorkloadCli({
      name: checkWorkloadName(positionals[0]),
      processes: positiveInt(values.processes, "--processes"),
      vmas: positiveInt(values.vmas, "--vmas"),
      ops: positiveInt(values.ops, "--ops"),
      faults,
      seed: positiveInt(values.seed, "--seed"),
      policy: values.policy,
      forkReuse: reuse === "on",
      zeroPage: !values["no-zero-page"],
      kernel: kernelLine(values.kernel),
      quiet: values.quiet,
      json: values.json,
      scenarioOut: values["scenario-out"],
    });
    // Stopped by Ctrl-C: the metrics so far were printed, and the exit says it was interrupted.
    return run.interrupted ? 130 : 0;
  }
  if (command === "playground") {
    const { values } = parseArgs({
      args: rest,
      options: { port: { type: "string", default: "8080" }, "no-zero-page": { type: "boolean", default: false } },
    });
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port takes a port number, got '${values.port}'`);
    const { url } = await servePlayground(port);
    // The page reads its settings from the URL's fragment.
    console.log(`vmalab playground at ${url}${values["no-zero-page"] ? "#z=0" : ""} (Ctrl-C stops it)`);
    await new Promise(() => {});
  }
  if (command === "generate") {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { ops: { type: "string", default: "40" } },
    });
    const [family, seed, ...extra] = positionals;
    if (extra.length) throw new UsageError(`generate takes FAMILY SEED, and not '${extra.join(" ")}'`);
    if (!(FAMILIES as readonly string[]).includes(family)) throw new UsageError(`FAMILY must be one of ${FAMILIES.join(", ")}`);
    process.stdout.write(generateScenario(family as Family, positiveInt(seed ?? "", "SEED"), positiveInt(values.ops, "--ops")));
    return 0;
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
      ranges: positiveInt(values.ranges, "--ranges", 1, 10_000_000),
      queries: positiveInt(values.queries, "--queries"),
      seed: positiveInt(values.seed, "--seed"),
      json: values.json,
    });
    return 0;
  }
  throw new UsageError(`unknown command '${command}'`);
}

class UsageError extends Error {}

/** The command being run, whose usage an error shows. */
let current: string | undefined;

/** A command's part of the usage: from its first line to the next command's. */
function commandUsage(command: string): string | undefined {
  const lines = USAGE.split("\n");
  const ours = (l: string) => l.startsWith(`  vmalab ${command} `) || l === `  vmalab ${command}`;
  const start = lines.findIndex(ours);
  if (start < 0) return undefined;
  const end = lines.findIndex((l, i) => i > start && /^ {2}vmalab /.test(l) && !ours(l));
  return lines.slice(start, end < 0 ? undefined : end).join("\n").trimEnd();
}

/** A whole number in [min, max] (min 1 unless told) from a flag's text. */
/** --kernel's value: a kernel line vmalab models, or undefined when not given. */
function kernelLine(text: string | undefined): KernelLine | undefined {
  if (text === undefined) return undefined;
  if (!(KERNEL_LINES as readonly string[]).includes(text)) throw new UsageError(`--kernel takes ${KERNEL_LINES.join(", ")}, got '${text}'`);
  return text as KernelLine;
}

function positiveInt(text: string, flag: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} takes a whole number ${max < Number.MAX_SAFE_INTEGER ? `from ${min} to ${max}` : `>= ${min}`}, got '${text}'`);
  }
  return n;
}

// A reader that stops early (`| head`) ends the output, not with a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code !== "EPIPE") throw err;
  process.exit(0);
});

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError || (err instanceof Error && err.name === "TypeError" && "code" in err)) {
    console.error(`vmalab: ${err.message}\n\n${(current && commandUsage(current)) ?? USAGE}`);
    process.exitCode = 2;
  } else if (
    err instanceof ScenarioSyntaxError ||
    err instanceof NativeHelperError ||
    err instanceof VmalabError ||
    err instanceof TraceSyntaxError
  ) {
    console.error(`vmalab: ${err.message}`);
    process.exitCode = 2;
  } else {
    console.error(`vmalab: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
