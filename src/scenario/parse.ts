// The scenario format (described in the README): one op per line, '#' starts a comment,
// pages relative to an arena, ops apply to the current process.

import type { Backing, MmapOptions, MremapOptions } from "../system.js";
import { quoted } from "../quote.js";
import { ADVICE, type Advice, PROT, type Prot } from "../vmflags.js";

export type Op =
  | { op: "mmap"; start: number; pages: number; prot: Prot; backing: Backing; opts: MmapOptions }
  | { op: "munmap"; start: number; pages: number }
  | { op: "mprotect"; start: number; pages: number; prot: Prot }
  | { op: "madvise"; start: number; pages: number; advice: Advice }
  | { op: "mremap"; start: number; oldPages: number; newPages: number; opts: MremapOptions }
  | { op: "touch"; start: number; pages: number; access: "r" | "w" }
  /** A VMA with exact VmFlags, not merged, and its present anonymous pages: a trace replay's snapshot of what execve built. */
  | { op: "restore"; start: number; pages: number; vmFlags: string; backing: Backing; anon: [number, number][] }
  | { op: "rmap"; page: number }
  | { op: "fork"; child: number }
  | { op: "spawn"; child: number }
  | { op: "proc"; id: number }
  | { op: "exit" }
  | { op: "exec" }
  | { op: "dump" };

/** An op with where it came from: `index` counts ops (non-comment lines) from 0. */
export type ScenarioOp = Op & { index: number; line: number };

export class ScenarioSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}:${line}: ${message}`);
    this.name = "ScenarioSyntaxError";
  }
}

const PROTS = new Set(Object.keys(PROT));
const ADVICES = new Set(Object.keys(ADVICE));
const ARITY: Record<string, [number, number, string]> = {
  mmap: [4, 8, "mmap PAGE N PROT KIND [noreserve] [populate] [growsdown] [stack]"],
  munmap: [2, 2, "munmap PAGE N"],
  mprotect: [3, 3, "mprotect PAGE N PROT"],
  madvise: [3, 3, "madvise PAGE N ADVICE"],
  mremap: [3, 6, "mremap PAGE OLDN NEWN [maymove] [fixed=PAGE] [dontunmap]"],
  touch: [2, 3, "touch PAGE N r|w"],
  restore: [4, 5, "restore PAGE N VMFLAGS KIND [anon=PAGE+N,...]"],
  rmap: [1, 1, "rmap PAGE"],
  fork: [1, 1, "fork CHILD"],
  spawn: [1, 1, "spawn CHILD"],
  proc: [1, 1, "proc ID"],
  exit: [0, 0, "exit"],
  exec: [0, 0, "exec"],
  dump: [0, 0, "dump"],
};

export function parseScenario(text: string, file = "<scenario>"): ScenarioOp[] {
  const ops: ScenarioOp[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const words = lines[i].replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const line = i + 1;
    const fail = (msg: string): never => {
      throw new ScenarioSyntaxError(file, line, msg);
    };
    const [name, ...args] = words;
    const arity = ARITY[name];
    if (!arity) fail(`unknown op ${quoted(name)} (expected one of ${Object.keys(ARITY).join(", ")})`);
    const [min, max, usage] = arity;
    if (args.length < min || args.length > max) fail(`${quoted(name)} takes: ${usage}`);
    const int = (s: string, what: string): number => {
      if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) fail(`${what} must be a whole number, got ${quoted(s)} (${usage})`);
      return Number(s);
    };
    const prot = (s: string): Prot => {
      if (!PROTS.has(s)) fail(`PROT must be none, r, rw, rx or rwx, got ${quoted(s)}`);
      return s as Prot;
    };
    const index = ops.length;
    let op: Op;
    switch (name) {
      case "mmap": {
        const opts: MmapOptions = {};
        for (const w of args.slice(4)) {
          if (w === "noreserve" || w === "populate" || w === "growsdown" || w === "stack") opts[w] = true;
          else fail(`unknown mmap flag ${quoted(w)} (${usage})`);
        }
        op = { op: "mmap", start: int(args[0], "PAGE"), pages: int(args[1], "N"), prot: prot(args[2]), backing: backing(args[3], fail), opts };
        break;
      }
      case "munmap":
        op = { op: "munmap", start: int(args[0], "PAGE"), pages: int(args[1], "N") };
        break;
      case "mprotect":
        op = { op: "mprotect", start: int(args[0], "PAGE"), pages: int(args[1], "N"), prot: prot(args[2]) };
        break;
      case "madvise":
        if (!ADVICES.has(args[2])) fail(`unknown advice ${quoted(args[2])} (expected ${[...ADVICES].join(" ")})`);
        op = { op: "madvise", start: int(args[0], "PAGE"), pages: int(args[1], "N"), advice: args[2] as Advice };
        break;
      case "mremap": {
        const opts: MremapOptions = {};
        for (const w of args.slice(3)) {
          if (w === "maymove") opts.maymove = true;
          else if (w === "dontunmap") opts.dontunmap = true;
          else if (w.startsWith("fixed=")) opts.fixed = int(w.slice(6), "fixed=PAGE");
          else fail(`unknown mremap flag ${quoted(w)} (${usage})`);
        }
        op = { op: "mremap", start: int(args[0], "PAGE"), oldPages: int(args[1], "OLDN"), newPages: int(args[2], "NEWN"), opts };
        break;
      }
      case "touch": {
        // A missing access reads, as the reference kernel harness does.
        const access = args[2] ?? "r";
        if (access !== "r" && access !== "w") fail(`touch access must be r or w, got ${quoted(access)}`);
        op = { op: "touch", start: int(args[0], "PAGE"), pages: int(args[1], "N"), access: access as "r" | "w" };
        break;
      }
      case "restore": {
        const anon: [number, number][] = [];
        if (args[4] !== undefined) {
          if (!args[4].startsWith("anon=")) fail(`unknown restore word ${quoted(args[4])} (${usage})`);
          for (const run of args[4].slice(5).split(",")) {
            const [at, n] = run.split("+");
            anon.push([int(at, "anon PAGE"), int(n ?? "", "anon N")]);
          }
        }
        if (!/^(-|[a-z]{2}(,[a-z]{2})*)$/.test(args[2])) fail(`VMFLAGS must be smaps mnemonics joined by commas, or -, got ${quoted(args[2])}`);
        const vmFlags = args[2] === "-" ? "" : args[2].replace(/,/g, " ");
        op = { op: "restore", start: int(args[0], "PAGE"), pages: int(args[1], "N"), vmFlags, backing: backing(args[3], fail), anon };
        break;
      }
      case "rmap":
        op = { op: "rmap", page: int(args[0], "PAGE") };
        break;
      case "fork":
      case "spawn":
        op = { op: name, child: int(args[0], "CHILD") };
        break;
      case "proc":
        op = { op: "proc", id: int(args[0], "ID") };
        break;
      default:
        op = { op: name as "exit" | "exec" | "dump" };
    }
    ops.push({ ...op, index, line });
  }
  return ops;
}

function backing(word: string, fail: (msg: string) => never): Backing {
  if (word === "anon") return { kind: "anon" };
  if (word === "shared-anon") return { kind: "shared-anon" };
  const m = /^(shared-)?file:([^@\s]+)@(\d+)$/.exec(word);
  if (!m) return fail(`KIND must be anon, shared-anon, file:NAME@PGOFF or shared-file:NAME@PGOFF, got ${quoted(word)}`);
  return { kind: "file", name: m[2], pgoff: Number(m[3]), shared: m[1] !== undefined };
}
