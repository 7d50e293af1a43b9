// Seeded workload generators: op streams sized by processes,
// live VMAs, ops and fault density, emitted in batches of typed records.
//
// Every process's memory is a row of slots of SLOT pages from BASE; the
// generator knows what each slot holds, so it can address ops without
// asking the simulator. What differs between families is the initial layout,
// the fork structure and the mix of ops:
//
// - arena: glibc-style heaps: runs of slots reserved PROT_NONE (noreserve),
//   grown by mprotect to rw, written, trimmed back with mprotect + DONTNEED.
// - jit: W^X code caches: rw slots written, flipped to rx, flipped back.
// - zygote: a warm parent forks the children up front; children write
//   (COW) and change protections; some exit and are forked again.
// - forkchain: every process forks the next and exits (7a3ef208e662's case).
// - vector: mremap-grown vectors: slots shrink and grow back in place, and
//   move to other slots (mremap FIXED).
// - filedb: file windows: contiguous and broken pgoffs, remapped.
// - mixed (the default): all of the above ops, and forks, and the patterns
//   the merge policies disagree on, each about 0.5 % of the ops (the corpus's
//   programs refuse a merge for an anon_vma reason in 0.5 to 3 % of their
//   memory syscalls):
//   - fixcase: a faulted piece made like its unfaulted neighbour (879bca0a2c4f:
//     linux-pre-6.16 refuses, linux-6.18 merges; the kernel's own selftests);
//   - faultapart: two pieces of one mapping faulted apart, then made alike
//     (different anon_vmas: refused; matena-2022 and chain-union-2010 merge);
//   - movefaulted: faulted memory moved by mremap next to other faulted memory
//     (Matěna's case: a vector grown by moving, as jemalloc and glibc do);
//   - forkneighbour: a fork child maps next to memory it shares with its
//     parent (a forked target: refused; chain-union-2010 merges), as a
//     prefork server's workers do.

import { Random } from "../random.js";
import type { System } from "../system.js";
import type { Prot } from "../vmflags.js";
import { MAP, OpStream } from "./stream.js";

export const WORKLOADS = ["mixed", "arena", "jit", "zygote", "forkchain", "vector", "filedb"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];

export interface WorkloadOptions {
  /** Processes (default 4). */
  processes?: number;
  /** Live VMAs to build across the processes (default 4,000). */
  vmas?: number;
  /** Ops after the set-up (default 20,000). */
  ops?: number;
  /** Fraction of a touched slot's pages that are faulted (default 0.25). */
  faults?: number;
  seed?: number;
  /** Ops per batch (default 4,096). */
  batch?: number;
}

const SLOT = 8;
const BASE = 0x100000;
/** The file objects filedb and mixed map. */
const WORKLOAD_FILES = 16;
const workloadFile = (k: number) => `db-${k}`;

/** The system's ids of the workload files (made on first use), and their names. */
export function workloadFiles(sys: System): Map<number, string> {
  const names = new Map<number, string>();
  for (let k = 0; k < WORKLOAD_FILES; k++) names.set(sys.fileId(workloadFile(k)), workloadFile(k));
  return names;
}

interface Proc {
  id: number;
  slots: number;
}

/** The workload as batches of ops; the first batches set it up. `sys` gives file objects. */
export function* workloadBatches(name: WorkloadName, sys: System, opts: WorkloadOptions = {}): Generator<OpStream> {
  const processes = Math.max(1, opts.processes ?? 4);
  const vmas = Math.max(processes, opts.vmas ?? 4000);
  const total = opts.ops ?? 20_000;
  const faults = opts.faults ?? 0.25;
  const batch = opts.batch ?? 4096;
  const rnd = new Random(opts.seed ?? 1);
  const files = [...workloadFiles(sys).keys()];
  const s = new OpStream();
  const slotsPer = Math.max(2, Math.ceil(vmas / processes));
  const at = (slot: number) => BASE + slot * SLOT;
  const faultPages = () => Math.max(1, Math.round(SLOT * faults));
  let nextId = processes;
  const live: Proc[] = [];

  // Set-up: process 0's layout, then the others as fork children (zygote-like) or built alike,
  // in batches like the rest (a run of millions of VMAs is interruptible while it is built).
  const layout = function* (p: number, slots: number): Generator<OpStream> {
    for (let i = 0; i < slots; i++) {
      if (s.length >= batch) {
        yield s;
        s.clear();
      }
      const start = at(i);
      switch (name) {
        case "arena":
          s.mmapAnon(p, start, SLOT, i % 4 === 3 ? "rw" : "none", MAP.NORESERVE);
          break;
        case "filedb":
          // Runs of four windows of one file: contiguous pgoffs merge, a broken one (every third) does not.
          s.mmapFile(p, start, SLOT, "rw", files[(i >> 2) % WORKLOAD_FILES], i % 3 === 0 ? 4096 + i * SLOT : i * SLOT);
          break;
        default:
          s.mmapAnon(p, start, SLOT, i % 2 ? "r" : "rw");
      }
      if (i % 2 === 0 && name !== "arena" && rnd.chance(faults)) {
        s.touch(p, start, faultPages(), "w");
        if (p === 0) faultedAtSetup.add(i);
      }
    }
  };
  // Process 0's slots faulted at set-up: a fork child shares their anon_vmas.
  const faultedAtSetup = new Set<number>();
  yield* layout(0, slotsPer);
  live.push({ id: 0, slots: slotsPer });
  for (let p = 1; p < processes; p++) {
    if (s.length >= batch) {
      yield s;
      s.clear();
    }
    s.fork(0, p);
    live.push({ id: p, slots: slotsPer });
  }
  yield s;
  s.clear();

  const op = (proc: Proc) => {
    let i = rnd.int(proc.slots);
    const kind = pick(name, rnd);
    // An arena's writes go to its grown part (the last slot of each four stays rw).
    if (name === "arena" && kind === "touch" && (i | 3) < proc.slots) i |= 3;
    const start = at(i);
    const p = proc.id;
    const even = i % 2 === 0;
    const prot: Prot = even ? "rw" : "r";
    switch (kind) {
      case "touch":
        s.touch(p, start + rnd.int(SLOT - faultPages() + 1), faultPages(), even ? "w" : "r");
        break;
      case "flip":
        // W^X: the middle of a slot changes protection and comes back (split, then merge).
        s.mprotect(p, start + 2, SLOT - 4, even ? "rx" : "rw");
        s.touch(p, start + 2, 1, even ? "r" : "w");
        s.mprotect(p, start + 2, SLOT - 4, prot);
        break;
      case "grow":
        s.mprotect(p, start, SLOT, "rw");
        s.touch(p, start, faultPages(), "w");
        break;
      case "trim":
        s.madvise(p, start, SLOT, "dontneed");
        s.mprotect(p, start, SLOT, i % 4 === 3 ? "rw" : "none");
        break;
      case "replace":
        s.mmapAnon(p, start, SLOT, prot);
        break;
      case "advise":
        s.madvise(p, start, SLOT, rnd.chance(0.5) ? "hugepage" : "normal");
        s.madvise(p, start, SLOT, "normal");
        break;
      case "vector":
        // Shrink, grow back in place (an expand), or move to another slot of the same kind and back.
        if (rnd.chance(0.5)) {
          s.mremap(p, start, SLOT, SLOT / 2);
          s.mremap(p, start, SLOT / 2, SLOT);
        } else {
          const j = (i + 2 * (1 + rnd.int(3))) % proc.slots;
          if (j % 2 !== i % 2 || j === i) break;
          s.mremap(p, start, SLOT, SLOT, at(j));
          s.mmapAnon(p, start, SLOT, prot);
        }
        break;
      case "window": {
        const f = files[rnd.int(WORKLOAD_FILES)];
        s.mmapFile(p, start, SLOT, prot, f, rnd.chance(0.5) ? i * SLOT : 4096 + rnd.int(1024) * SLOT);
        break;
      }
      case "fixcase":
        // A fresh mapping whose upper half is faulted under other flags, then made alike again.
        if (!even) break;
        s.mmapAnon(p, start, SLOT, "rw");
        s.mprotect(p, start + SLOT / 2, SLOT / 2, "rwx");
        s.touch(p, start + SLOT / 2, 1, "w");
        s.mprotect(p, start + SLOT / 2, SLOT / 2, "rw");
        break;
      case "faultapart":
        if (!even) break;
        s.mmapAnon(p, start, SLOT, "rw");
        s.madvise(p, start + SLOT / 2, SLOT / 2, "dontdump");
        s.touch(p, start, 1, "w");
        s.touch(p, start + SLOT / 2, 1, "w");
        s.madvise(p, start + SLOT / 2, SLOT / 2, "dodump");
        break;
      case "movefaulted": {
        // Slot j keeps its faulted lower half; slot i's faulted upper half moves in above it, and i is refilled.
        const j = (i + 2) % proc.slots;
        if (!even || j % 2 || j === i) break;
        s.mmapAnon(p, at(j), SLOT, "rw");
        s.touch(p, at(j), 1, "w");
        s.munmap(p, at(j) + SLOT / 2, SLOT / 2);
        s.mmapAnon(p, start, SLOT, "rw");
        s.touch(p, start + SLOT / 2, 1, "w");
        s.mremap(p, start + SLOT / 2, SLOT / 2, SLOT / 2, at(j) + SLOT / 2);
        s.mmapAnon(p, start + SLOT / 2, SLOT / 2, "rw");
        break;
      }
      case "forkneighbour":
        // In a fork child, a slot faulted before the fork gets a new upper half next to the shared lower one.
        if (p === 0 || !faultedAtSetup.has(i)) break;
        s.munmap(p, start + SLOT / 2, SLOT / 2);
        s.mmapAnon(p, start + SLOT / 2, SLOT / 2, "rw");
        break;
      case "fork": {
        // Recycle a child: it exits and the process forks a fresh one in its place.
        const victim = live.findIndex((q) => q.id !== 0 && q.id !== p);
        if (victim < 0) break;
        s.exit(live[victim].id);
        const id = nextId++;
        s.fork(0, id);
        live[victim] = { id, slots: proc.slots };
        break;
      }
      case "chain": {
        // The 7a3ef208e662 case: the newest process forks, the older exits, the child faults.
        const last = live[live.length - 1];
        const id = nextId++;
        s.fork(last.id, id);
        if (live.length > 1) {
          s.exit(live[0].id);
          live.shift();
        }
        live.push({ id, slots: last.slots });
        s.touch(id, at(0), 1, "w");
        break;
      }
    }
  };
  for (let n = 0; n < total; ) {
    const before = s.length;
    op(live[rnd.int(live.length)]);
    n += Math.max(1, s.length - before);
    if (s.length >= batch) {
      yield s;
      s.clear();
    }
  }
  if (s.length) yield s;
}

type Kind =
  | "touch" | "flip" | "grow" | "trim" | "replace" | "advise" | "vector" | "window" | "fork" | "chain"
  | "fixcase" | "faultapart" | "movefaulted" | "forkneighbour";
const MIX: Record<WorkloadName, [Kind, number][]> = {
  mixed: [
    ["touch", 4], ["flip", 3], ["replace", 1], ["advise", 1], ["vector", 1], ["window", 1], ["fork", 0.05],
    ["fixcase", 0.04], ["faultapart", 0.04], ["movefaulted", 0.02], ["forkneighbour", 0.1],
  ],
  arena: [["grow", 3], ["touch", 4], ["trim", 2]],
  jit: [["flip", 6], ["touch", 3], ["replace", 1]],
  zygote: [["touch", 6], ["flip", 2], ["fork", 0.2]],
  forkchain: [["chain", 1], ["touch", 2]],
  vector: [["vector", 4], ["touch", 3]],
  filedb: [["window", 4], ["touch", 3], ["advise", 1]],
};

function pick(name: WorkloadName, rnd: Random): Kind {
  const mix = MIX[name];
  let x = rnd.float() * mix.reduce((t, [, w]) => t + w, 0);
  for (const [k, w] of mix) {
    if ((x -= w) < 0) return k;
  }
  return mix[0][0];
}
