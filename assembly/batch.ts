// Op batches: a workload's ops as fixed records in linear memory, run one
// after another without crossing into JavaScript per op.
//
// Record (OP_BYTES): u32 op, u32 process id, u32 arg (prot, advice, access,
// mremap flags), u32 mmap flags, f64 start page, f64 pages, f64 file object
// (mmap) or new pages (mremap) or child id (fork), f64 pgoff (mmap) or new
// start (mremap fixed). Each record's arg is overwritten with its result: 0
// or a negated errno, or for fork the child's mm handle.

import { EEXIST, ENOMEM, ESRCH } from "./errno";
import { exitMm, forkMm } from "./fork";
import { endReservedOp } from "./mem";
import * as mm from "./mm";
import { mremap } from "./mremap";
import * as rm from "./rangemap";

export const OP_BYTES: usize = 48;
export const OP_MMAP: u32 = 1;
export const OP_MUNMAP: u32 = 2;
export const OP_MPROTECT: u32 = 3;
export const OP_MADVISE: u32 = 4;
export const OP_MREMAP: u32 = 5;
export const OP_TOUCH: u32 = 6;
export const OP_FORK: u32 = 7;
export const OP_EXIT: u32 = 8;

// Process id -> mm handle, for every live process (kept by the API too),
// and the last one looked up: batches run long stretches of one process's ops.
let procs: usize = 0;
let lastId: u32 = 0;
let lastMm: usize = 0;

/** Records (or with mm 0 forgets) which mm process `id` has. False when memory is exhausted. */
export function procSet(id: u32, m: usize): bool {
  if (procs == 0) procs = rm.mapCreate();
  if (procs == 0) return false;
  lastMm = 0;
  // Erasing one whole entry never needs memory; only the insert may fail.
  rm.erase(procs, id, <u64>id + 1);
  return m == 0 || (rm.reserveNodes(procs, 1) && rm.insert(procs, id, <u64>id + 1, <u32>m) == 0);
}

@inline function procMm(id: u32): usize {
  if (lastMm != 0 && id == lastId) return lastMm;
  let v = procs == 0 ? -1 : rm.find(procs, id);
  if (v < 0) return 0;
  lastId = id;
  lastMm = <usize>v;
  return lastMm;
}

/**
 * Runs `n` records at `ops`. Returns how many the caller must look at: those
 * that failed, forked or exited (none: it can skip reading the results).
 */
export function runBatch(ops: usize, n: i32): i32 {
  let notable = 0;
  for (let i = 0; i < n; i++) {
    let r = ops + <usize>i * OP_BYTES;
    let result = runOne(r);
    store<i32>(r, result, 8);
    endReservedOp();
    let op = load<u32>(r);
    if (result != 0 || op == OP_FORK || op == OP_EXIT) notable++;
  }
  return notable;
}

function runOne(r: usize): i32 {
  let op = load<u32>(r);
  let m = procMm(load<u32>(r, 4));
  if (m == 0) return ESRCH;
  let arg = load<u32>(r, 8);
  let start = <u64>load<f64>(r, 16);
  let pages = <u64>load<f64>(r, 24);
  let x = load<f64>(r, 32);
  let y = load<f64>(r, 40);
  switch (op) {
    case OP_MMAP: {
      let v = mm.mmapFixed(m, start, pages, arg, load<u32>(r, 12) | mm.MAP_FIXED, <u32>x, <u64>y);
      return v < 0 ? <i32>v : 0;
    }
    case OP_MUNMAP: return mm.munmap(m, start, start + pages);
    case OP_MPROTECT: return mm.mprotect(m, start, pages, arg);
    case OP_MADVISE: return mm.madvise(m, start, pages, <i32>arg);
    case OP_MREMAP: {
      let v = mremap(m, start, pages, <u64>x, arg, <u64>y);
      return v < 0 ? <i32>v : 0;
    }
    case OP_TOUCH: return mm.touch(m, start, pages, arg != 0);
    case OP_FORK: {
      let child = <u32>x;
      if (procMm(child) != 0) return EEXIST;
      let c = forkMm(m, child);
      if (c == 0) return ENOMEM;
      if (!procSet(child, c)) {
        exitMm(c);
        return ENOMEM;
      }
      return <i32>c;
    }
    case OP_EXIT: {
      exitMm(m);
      procSet(load<u32>(r, 4), 0);
      return 0;
    }
  }
  return -1;
}
