// The scenario format (described in the README): one op per line, '#' starts a comment,
// pages relative to an arena, ops apply to the current process.

import type { Backing, MmapOptions, MremapOptions } from "../system.js";
import { quoted } from "../quote.js";
import { MAX_PAGE, MAX_PROCESS_ID } from "../wasm.js";
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

/** The longest line a scenario may have: far longer than any op (a longer one is not a scenario, as /dev/zero is not). */
export const MAX_LINE = 4096;

/**
 * A scenario read a line at a time (lines numbered from 1): each line gives
 * its op, or null for a blank or comment line; a bad line throws
 * ScenarioSyntaxError naming the file and line.
 */
export class ScenarioReader {
  private lineNo = 0;
  private index = 0;
  /** The usage of the op being read, for its errors. */
  private usage = "";

  constructor(private readonly file = "<scenario>") {}

  private fail(msg: string): never {
    throw new ScenarioSyntaxError(this.file, this.lineNo, msg);
  }

  private int(s: string, what: string): number {
    // Past 2^53 Number() rounds (2^53 + 1 reads as 2^53): those compare exactly.
    if (!isDigits(s) || (Number(s) >= MAX_PAGE && BigInt(s) > BigInt(MAX_PAGE))) this.fail(`${what} must be a whole number from 0 to 2^53, got ${quoted(s)} (${this.usage})`);
    return Number(s);
  }

  private id(s: string, what: string): number {
    if (!isDigits(s) || Number(s) > MAX_PROCESS_ID) this.fail(`${what} must be a process id from 0 to ${MAX_PROCESS_ID}, got ${quoted(s)} (${this.usage})`);
    return Number(s);
  }

  private prot(s: string): Prot {
    if (!PROTS.has(s)) this.fail(`PROT must be none, r, rw, rx or rwx, got ${quoted(s)}`);
    return s as Prot;
  }

  line(text: string): ScenarioOp | null {
    const line = ++this.lineNo;
    const fail = (msg: string): never => this.fail(msg);
    if (text.length > MAX_LINE) fail(`a line of over ${MAX_LINE} characters: not a scenario`);
    const hash = text.indexOf("#");
    const words = (hash < 0 ? text : text.slice(0, hash)).split(WORD_SEPARATOR);
    if (words[0] === "") words.shift();
    if (words.length && words[words.length - 1] === "") words.pop();
    if (words.length === 0) return null;
    const [name, ...args] = words;
    const arity = Object.hasOwn(ARITY, name) ? ARITY[name] : undefined;
    if (!arity) return fail(`unknown op ${quoted(name)} (expected one of ${Object.keys(ARITY).join(", ")})`);
    const [min, max, usage] = arity;
    this.usage = usage;
    if (args.length < min || args.length > max) fail(`${quoted(name)} takes: ${usage}`);
    let op: Op;
    switch (name) {
      case "mmap": {
        const opts: MmapOptions = {};
        for (const w of args.slice(4)) {
          if (w === "noreserve" || w === "populate" || w === "growsdown" || w === "stack") opts[w] = true;
          else fail(`unknown mmap flag ${quoted(w)} (${usage})`);
        }
        op = { op: "mmap", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N"), prot: this.prot(args[2]), backing: backing(args[3], fail), opts };
        break;
      }
      case "munmap":
        op = { op: "munmap", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N") };
        break;
      case "mprotect":
        op = { op: "mprotect", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N"), prot: this.prot(args[2]) };
        break;
      case "madvise":
        if (!ADVICES.has(args[2])) fail(`unknown advice ${quoted(args[2])} (expected ${[...ADVICES].join(" ")})`);
        op = { op: "madvise", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N"), advice: args[2] as Advice };
        break;
      case "mremap": {
        const opts: MremapOptions = {};
        for (const w of args.slice(3)) {
          if (w === "maymove") opts.maymove = true;
          else if (w === "dontunmap") opts.dontunmap = true;
          else if (w.startsWith("fixed=")) opts.fixed = this.int(w.slice(6), "fixed=PAGE");
          else fail(`unknown mremap flag ${quoted(w)} (${usage})`);
        }
        op = { op: "mremap", start: this.int(args[0], "PAGE"), oldPages: this.int(args[1], "OLDN"), newPages: this.int(args[2], "NEWN"), opts };
        break;
      }
      case "touch": {
        // A missing access reads, as the reference kernel harness does.
        const access = args[2] ?? "r";
        if (access !== "r" && access !== "w") fail(`touch access must be r or w, got ${quoted(access)}`);
        op = { op: "touch", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N"), access: access as "r" | "w" };
        break;
      }
      case "restore": {
        const anon: [number, number][] = [];
        if (args[4] !== undefined) {
          if (!args[4].startsWith("anon=")) fail(`unknown restore word ${quoted(args[4])} (${usage})`);
          for (const run of args[4].slice(5).split(",")) {
            const [at, n] = run.split("+");
            anon.push([this.int(at, "anon PAGE"), this.int(n ?? "", "anon N")]);
          }
        }
        if (!/^(-|[a-z]{2}(,[a-z]{2})*)$/.test(args[2])) fail(`VMFLAGS must be smaps mnemonics joined by commas, or -, got ${quoted(args[2])}`);
        const vmFlags = args[2] === "-" ? "" : args[2].replace(/,/g, " ");
        op = { op: "restore", start: this.int(args[0], "PAGE"), pages: this.int(args[1], "N"), vmFlags, backing: backing(args[3], fail), anon };
        break;
      }
      case "rmap":
        op = { op: "rmap", page: this.int(args[0], "PAGE") };
        break;
      case "fork":
      case "spawn":
        op = { op: name, child: this.id(args[0], "CHILD") };
        break;
      case "proc":
        op = { op: "proc", id: this.id(args[0], "ID") };
        break;
      default:
        op = { op: name as "exit" | "exec" | "dump" };
    }
    const sop = op as ScenarioOp;
    sop.index = this.index++;
    sop.line = line;
    return sop;
  }
}

const WORD_SEPARATOR = /[ \t\r\f\v]+/;

/** Whether s is one or more decimal digits. */
function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

export function parseScenario(text: string, file = "<scenario>"): ScenarioOp[] {
  if (typeof text !== "string") throw new ScenarioSyntaxError(file, 0, `a scenario is text, got ${typeof text}`);
  const reader = new ScenarioReader(file);
  const ops: ScenarioOp[] = [];
  for (let pos = 0; pos <= text.length; ) {
    let end = text.indexOf("\n", pos);
    if (end < 0) end = text.length;
    const op = reader.line(text.slice(pos, end));
    if (op) ops.push(op);
    pos = end + 1;
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
