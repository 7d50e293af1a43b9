// The wasm ABI. Pages cross the boundary as f64 (exact up to 2^53); inside
// they are u64. Handles are u32 offsets into linear memory. Errors are
// negated kernel errno values.

import {
  anonVmaFirst, anonVmaNext, anonVmas, avActive, avAvcCount, avChildren, avFolios, avId, avParent, avRefcount, avRoot,
  avcAnonVma, avcNextInVma, avcs, chainLength,
} from "./anon_vma";
import { procSet, runBatch } from "./batch";
import { checkDetail, checkSystem } from "./check";
import { folios } from "./folio";
import { exitMm, forkMm, setForkReuse } from "./fork";
import { EFAULT, ENOMEM } from "./errno";
import {
  endReservedOp, growPages, MAX_WASM_PAGES, growFailures, injectFailureRate, injectReserveFailure, injectedFailures, poolBytes, setPageLimit, strictReservations,
} from "./mem";
import * as mm from "./mm";
import { mergeLogBuffer, mergeLogClear, mergeLogCount, mergeLogDropped, mergeLogEnable } from "./mergelog";
import { mremap } from "./mremap";
import { setKernel } from "./kernel";
import { setPolicy, stat as policyStat } from "./policy";
import { isFolio, ptBytes, ptCount, pteWalk, pteWalkNext, walkPte } from "./pagetable";
import * as rmap from "./rmap";
import * as rm from "./rangemap";
import * as vma from "./vma";

const NONE: f64 = -1;

@inline function page(x: f64): u64 {
  return <u64>x;
}

export function rangemap_create(): u32 {
  return <u32>rm.mapCreate();
}
export function rangemap_free(m: u32): void {
  rm.mapFree(m);
}
export function rangemap_size(m: u32): u32 {
  return rm.mapSize(m);
}
export function rangemap_insert(m: u32, start: f64, end: f64, value: u32): i32 {
  return rm.insert(m, page(start), page(end), value);
}
export function rangemap_erase(m: u32, start: f64, end: f64): i32 {
  return rm.erase(m, page(start), page(end));
}
export function rangemap_update(m: u32, addr: f64, value: u32): i32 {
  return rm.update(m, page(addr), value);
}
export function rangemap_find(m: u32, addr: f64): i32 {
  return rm.peekFind(m, page(addr));
}
export function rangemap_find_next(m: u32, addr: f64): i32 {
  return rm.peekFindNext(m, page(addr));
}
export function rangemap_lookup(m: u32, addr: f64): i32 {
  return rm.lookup(m, page(addr));
}
export function rangemap_next(m: u32, addr: f64): i32 {
  return rm.next(m, page(addr));
}
export function rangemap_prev(m: u32, addr: f64): i32 {
  return rm.prev(m, page(addr));
}
/** Start of the range the last find_next/lookup/next/prev reported. */
export function rangemap_found_start(): f64 {
  return <f64>load<u64>(rm.FOUND);
}
export function rangemap_found_end(): f64 {
  return <f64>load<u64>(rm.FOUND, 8);
}
export function rangemap_collect(m: u32, lo: f64, hi: f64, out: u32, max: i32): i32 {
  return rm.collect(m, page(lo), page(hi), out, max);
}
export function rangemap_find_many(m: u32, addrs: u32, out: u32, n: i32): void {
  rm.findMany(m, addrs, out, n);
}
/** Start page of the lowest (or highest) fitting gap, or -1. */
export function rangemap_gap(m: u32, size: f64, lo: f64, hi: f64, align: f64, topdown: bool): f64 {
  let x = rm.gap(m, page(size), page(lo), page(hi), page(align), topdown);
  return x == rm.PAGE_END ? NONE : <f64>x;
}
export function rangemap_validate(m: u32): i32 {
  return rm.validate(m);
}

/** The buffer batch calls read and write: SCRATCH_PAGES of 64 KiB, taken once. */
const SCRATCH_PAGES: i32 = 4;
const scratch = growPages(SCRATCH_PAGES);
export function scratch_buffer(): u32 {
  return <u32>scratch;
}
export function scratch_bytes(): u32 {
  return <u32>SCRATCH_PAGES << 16;
}

export function mem_node_bytes(): f64 {
  return <f64>rm.nodeBytes();
}
export function mem_pool_bytes(): f64 {
  return <f64>poolBytes();
}
export function mem_inject_reserve_failure(n: i32): void {
  injectReserveFailure(n);
}
/** Reservations the injection has failed so far. */
export function mem_injected_failures(): u32 {
  return injectedFailures;
}
/** Times linear memory could not grow: a run that needed more than fits. */
export function mem_grow_failures(): u32 {
  return growFailures;
}
/** Strict reservation accounting on or off (tests); returns the overdraws counted so far. */
export function mem_strict_reservations(on: bool): u32 {
  return strictReservations(on);
}
export function mem_inject_failure_rate(rate: f64, seed: u32): void {
  injectFailureRate(rate, seed);
}
/** Caps linear memory at `pages` 64 KiB pages (what a smaller machine would allow). */
export function mem_set_page_limit(pages: i32): void {
  setPageLimit(pages);
}

// ---- address spaces ------------------------------------------------------------
// An mm handle identifies a process's address space. Ops return 0 or a
// negated errno; every op ends its reservation scope (see mem.ts).

// Every live mm is also in the process table that op batches address by id.
export function mm_create(id: u32, mmapBase: f64): u32 {
  let m = mm.mmCreate(id, page(mmapBase));
  endReservedOp();
  return registered(id, m);
}
export function mm_fork(parent: u32, childId: u32): u32 {
  let m = forkMm(parent, childId);
  endReservedOp();
  return registered(childId, m);
}
/** The new mm, entered in the process table; 0 (and no mm) when that fails. */
function registered(id: u32, m: usize): u32 {
  if (m != 0 && !procSet(id, m)) {
    exitMm(m);
    return 0;
  }
  return <u32>m;
}
export function mm_exit(m: u32): void {
  procSet(mm.mmId(m), 0);
  exitMm(m);
  endReservedOp();
}
/** Runs `n` op records (batch.ts) at `ops`, writing each one's result into it; returns how many failed, forked or exited. */
export function sys_run_batch(ops: u32, n: i32): i32 {
  return runBatch(ops, n);
}
export function mm_map_count(m: u32): u32 {
  return mm.mapCount(m);
}
/**
 * mmap: at `start` with MAP_FIXED in flags, else where get_unmapped_area()
 * finds room. Returns the start page, or a negated errno.
 */
export function mm_mmap(m: u32, start: f64, len: f64, prot: u32, flags: u32, file: u32, pgoff: f64): f64 {
  let at = page(start);
  if ((flags & mm.MAP_FIXED) == 0) {
    at = mm.getUnmappedArea(m, page(len), file == 0 && (flags & mm.MAP_SHARED) == 0);
    if (at == rm.PAGE_END) return <f64>ENOMEM;
  }
  let r = mm.mmapFixed(m, at, page(len), prot, flags, file, page(pgoff));
  endReservedOp();
  return r < 0 ? <f64>r : <f64>at;
}
export function mm_munmap(m: u32, start: f64, len: f64): i32 {
  let r = mm.munmap(m, page(start), page(start) + page(len));
  endReservedOp();
  return r;
}
export function mm_mprotect(m: u32, start: f64, len: f64, prot: u32): i32 {
  let r = mm.mprotect(m, page(start), page(len), prot);
  endReservedOp();
  return r;
}
export function mm_madvise(m: u32, start: f64, len: f64, advice: i32): i32 {
  let r = mm.madvise(m, page(start), page(len), advice);
  endReservedOp();
  return r;
}
/** A VMA of a snapshot, with exact vm_flags and no merge (mm.restoreVma): 0 or a negated errno. */
export function mm_restore_vma(m: u32, start: f64, len: f64, vmFlags: f64, file: u32, pgoff: f64): i32 {
  let r = mm.restoreVma(m, page(start), page(start) + page(len), <u64>vmFlags, file, page(pgoff));
  endReservedOp();
  return r;
}
/** Present anonymous pages of a snapshot (mm.restoreAnon): 0 or a negated errno. */
export function mm_restore_anon(m: u32, start: f64, len: f64): i32 {
  let r = mm.restoreAnon(m, page(start), page(len));
  endReservedOp();
  return r;
}
/** The new address, or a negated errno. */
export function mm_mremap(m: u32, addr: f64, oldLen: f64, newLen: f64, flags: u32, newAddr: f64): f64 {
  let r = mremap(m, page(addr), page(oldLen), page(newLen), flags, page(newAddr));
  endReservedOp();
  return <f64>r;
}
export function mm_touch(m: u32, start: f64, n: f64, write: bool): i32 {
  let r = mm.touch(m, page(start), page(n), write);
  endReservedOp();
  return r;
}
/** The size in pages of backing object `id` (a file or shmem object). 0, or ENOMEM. */
export function sys_set_object_size(id: u32, pages: u32): i32 {
  let ok = mm.setObjectSize(id, pages);
  endReservedOp();
  return ok ? 0 : ENOMEM;
}
export function sys_set_max_map_count(n: u32): void {
  mm.setMaxMapCount(n);
}
export function sys_set_fork_reuse(on: bool): void {
  setForkReuse(on);
}
export function sys_set_zero_page(on: bool): void {
  mm.setZeroPage(on);
}
export function sys_set_overcommit_never(on: bool): void {
  mm.setOvercommitNever(on);
}
/** The kernel line modelled (kernel.ts KERNEL_*: 601, 612, 618). */
export function sys_set_kernel(v: i32): void {
  setKernel(v);
}
/** The merge policy (policy.ts POLICY_*) and, for a user policy, what its merges of different anon_vmas do (USER_*). */
export function sys_set_policy(p: i32, userAction: i32): void {
  setPolicy(p, userAction);
}
/** Merge counters: 0.. merges by kind, 100.. refusals by reason, 200 splits, 201 folios moved, 202 chain links added (policy.ts). */
export function sys_stat(which: i32): f64 {
  return policyStat(which);
}
/** Turns the merge log (mergelog.ts) on or off: 0, or ENOMEM when its buffer cannot be had. */
export function sys_merge_log(on: bool): i32 {
  return mergeLogEnable(on) ? 0 : ENOMEM;
}
export function merge_log_buffer(): u32 {
  return <u32>mergeLogBuffer();
}
export function merge_log_count(): i32 {
  return mergeLogCount();
}
export function merge_log_dropped(): u32 {
  return mergeLogDropped();
}
export function merge_log_clear(): void {
  mergeLogClear();
}

/** The most VMAs alive at once since the start. */
export function sys_peak_vmas(): u32 {
  return vma.vmas.peak;
}
/** VMAs alive now, over every process. */
export function sys_live_vmas(): u32 {
  return vma.vmas.live;
}
/** The most anon_vmas (0) or anon_vma_chain links (1) alive at once since the start. */
export function sys_peak_anon(which: i32): u32 {
  return which == 0 ? anonVmas.peak : avcs.peak;
}

/** Bytes per VMA written by mm_collect_vmas: start, end, pgoff, flags, file, anon pages, anon_vma id, chain length. */
export const VMA_RECORD_F64S: i32 = 8;

/** Writes up to `max` VMAs intersecting [lo, hi) as VMA_RECORD_F64S f64s each; returns the count. */
export function mm_collect_vmas(m: u32, lo: f64, hi: f64, out: u32, max: i32): i32 {
  let k = 0;
  let h = page(hi);
  for (let v = mm.findVma(m, page(lo)); v != 0 && vma.vmaStart(v) < h && k < max; v = mm.vmaNext(m, v)) {
    let p = <usize>out + <usize>k * 64;
    let av = vma.vmaAnonVma(v);
    store<f64>(p, <f64>vma.vmaStart(v));
    store<f64>(p, <f64>vma.vmaEnd(v), 8);
    store<f64>(p, <f64>vma.vmaPgoff(v), 16);
    store<f64>(p, <f64>vma.vmaFlags(v), 24);
    store<f64>(p, <f64>vma.vmaFile(v), 32);
    store<f64>(p, <f64>ptCount(mm.mmPt(m), vma.vmaStart(v), vma.vmaEnd(v), true), 40);
    store<f64>(p, av == 0 ? 0 : <f64>avId(av), 48);
    store<f64>(p, <f64>chainLength(v), 56);
    k++;
  }
  return k;
}

/** The [start, end) of each VMA in [lo, hi), as f64 pairs at `out` (at most `max`): a layout without the cost of counting pages. */
export function mm_collect_ranges(m: u32, lo: f64, hi: f64, out: u32, max: i32): i32 {
  let k = 0;
  let h = page(hi);
  for (let v = mm.findVma(m, page(lo)); v != 0 && vma.vmaStart(v) < h && k < max; v = mm.vmaNext(m, v)) {
    let p = <usize>out + <usize>k * 16;
    store<f64>(p, <f64>vma.vmaStart(v));
    store<f64>(p, <f64>vma.vmaEnd(v), 8);
    k++;
  }
  return k;
}

/**
 * rmap_walk_anon() for the anonymous page at `addr`: the (mm id, page) pairs
 * that map the same folio. Writes mappings [skip, skip + max) of the walk as
 * f64 pairs at `out` and returns how many there are in all, or -1 when no
 * anonymous page is mapped there. rmap_cost() tells what the walk cost.
 */
export function mm_rmap(m: u32, addr: f64, out: u32, max: i32, skip: i32): i32 {
  let f = mm.folioAt(m, page(addr));
  if (f == 0) return -1;
  let n = rmap.rmapWalk(f, out, <u32>(skip + max));
  walks++;
  walkAvcs += rmap.avcsVisited;
  walkVmas += rmap.vmasVisited;
  // The walk wrote u32 mm handles and u64 pages; keep the window, as f64s.
  let k = min(<i32>n, skip + max) - skip;
  for (let i = 0; i < k; i++) {
    let from = <usize>out + (<usize>(skip + i) << 4);
    let owner = <usize>load<u32>(from);
    let a = load<u64>(from, 8);
    let to = <usize>out + (<usize>i << 4);
    store<f64>(to, <f64>mm.mmId(owner));
    store<f64>(to, <f64>a, 8);
  }
  return <i32>n;
}

// What all rmap walks asked through mm_rmap cost (for metrics).
let walks: f64 = 0;
let walkAvcs: f64 = 0;
let walkVmas: f64 = 0;

/** 0: AVCs and 1: VMAs the last rmap walk visited; 2: walks, 3: AVCs, 4: VMAs over all walks. */
/**
 * What reclaim's rmap walks would cost in mm m now: rmap_walk_anon() of the
 * first anonymous folio of each of its faulted VMAs. Writes walks, AVCs
 * visited and VMAs visited (f64s) at `out`; the run's own walk counters
 * (rmap_cost) are left as they are.
 */
export function mm_rmap_survey(m: u32, out: u32): void {
  let walksMade: u32 = 0;
  let avcsSeen: u64 = 0;
  let vmasSeen: u64 = 0;
  let pt = mm.mmPt(m);
  for (let v = mm.findVma(m, 0); v != 0; v = mm.vmaNext(m, v)) {
    if (vma.vmaAnonVma(v) == 0) continue;
    let folio: usize = 0;
    pteWalk(pt, vma.vmaStart(v), vma.vmaEnd(v));
    while (folio == 0 && pteWalkNext()) if (isFolio(walkPte)) folio = <usize>walkPte;
    if (folio == 0) continue;
    rmap.rmapWalk(folio, 0, 0);
    walksMade++;
    avcsSeen += rmap.avcsVisited;
    vmasSeen += rmap.vmasVisited;
  }
  store<f64>(out, <f64>walksMade);
  store<f64>(out, <f64>avcsSeen, 8);
  store<f64>(out, <f64>vmasSeen, 16);
}

export function rmap_cost(kind: i32): f64 {
  switch (kind) {
    case 0: return <f64>rmap.avcsVisited;
    case 1: return <f64>rmap.vmasVisited;
    case 2: return walks;
    case 3: return walkAvcs;
  }
  return walkVmas;
}

/**
 * The anon_vma_chain walk of the VMA containing addr: returns its length
 * (EFAULT when no VMA is there); lock_chain_roots() and lock_chain_root()
 * tell the distinct roots met and the id of the root whose lock is taken.
 */
export function mm_lock_chain(m: u32, addr: f64): i32 {
  let v = mm.vmaLookup(m, page(addr));
  if (v == 0) return EFAULT;
  return <i32>rmap.lockChain(v);
}
export function lock_chain_roots(): u32 {
  return rmap.chainRoots;
}
export function lock_chain_root(): u32 {
  return rmap.chainLockedRoot == 0 ? 0 : avId(rmap.chainLockedRoot);
}

/** Writes the ids of the anon_vmas the chain of the VMA containing addr links to, newest first; its length, or EFAULT. */
export function mm_vma_chain(m: u32, addr: f64, out: u32, max: i32): i32 {
  let v = mm.vmaLookup(m, page(addr));
  if (v == 0) return EFAULT;
  let k = 0;
  for (let c = vma.vmaChain(v); c != 0; c = avcNextInVma(c)) {
    if (k < max) store<f64>(<usize>out + (<usize>k << 3), <f64>avId(avcAnonVma(c)));
    k++;
  }
  return k;
}

/** f64s per anon_vma written by sys_anon_vmas: id, parent, root, children, active VMAs, refcount, folios, AVCs, depth. */
export const ANON_VMA_RECORD_F64S: i32 = 9;
let anonVmaCursor: usize = 0;

/**
 * Writes up to `max` live anon_vmas, starting at the first (restart) or where
 * the last call stopped; returns how many it wrote.
 */
export function sys_anon_vmas(restart: bool, out: u32, max: i32): i32 {
  if (restart) anonVmaCursor = anonVmaFirst();
  let k = 0;
  for (; anonVmaCursor != 0 && k < max; anonVmaCursor = anonVmaNext(anonVmaCursor)) {
    let a = anonVmaCursor;
    let depth = 0;
    for (let p = a; avParent(p) != p; p = avParent(p)) depth++;
    let p = <usize>out + <usize>(k * ANON_VMA_RECORD_F64S) * 8;
    store<f64>(p, <f64>avId(a));
    store<f64>(p, <f64>avId(avParent(a)), 8);
    store<f64>(p, <f64>avId(avRoot(a)), 16);
    // The root's link to itself is not a child.
    store<f64>(p, <f64>(avChildren(a) - (avParent(a) == a ? 1 : 0)), 24);
    store<f64>(p, <f64>avActive(a), 32);
    store<f64>(p, <f64>avRefcount(a), 40);
    store<f64>(p, <f64>avFolios(a), 48);
    store<f64>(p, <f64>avAvcCount(a), 56);
    store<f64>(p, <f64>depth, 64);
    k++;
  }
  return k;
}

/** Marks the VMA containing addr as having a vm_ops->close hook. 0, or EFAULT when none. */
export function mm_set_close_hook(m: u32, addr: f64, on: bool): i32 {
  let v = mm.vmaLookup(m, page(addr));
  if (v == 0) return EFAULT;
  vma.setVmaAttrs(v, on ? vma.vmaAttrs(v) | vma.ATTR_CLOSE_HOOK : vma.vmaAttrs(v) & ~vma.ATTR_CLOSE_HOOK);
  return 0;
}

/** ORs `set` into and clears `clear` from the vm_flags of the VMA containing addr (VM_SPECIAL bits etc.). */
export function mm_set_vma_flags(m: u32, addr: f64, set: f64, clear: f64): i32 {
  let v = mm.vmaLookup(m, page(addr));
  if (v == 0) return EFAULT;
  vma.setVmaFlags(v, (vma.vmaFlags(v) & ~<u64>clear) | <u64>set);
  return 0;
}

/** Live records per pool: anon_vmas, AVCs, VMAs, folios (for leak checks and metrics). */
export function stat_live(kind: i32): u32 {
  if (kind == 0) return anonVmas.live;
  if (kind == 1) return avcs.live;
  if (kind == 2) return vma.vmas.live;
  return folios.live;
}
export function mem_page_table_bytes(): f64 {
  return <f64>ptBytes();
}


/** Checks the invariants over the `n` mm handles (u32) at `mms`: 0 or a CHECK_ code (see check.ts). */
export function sys_check(mms: u32, n: i32): i32 {
  // The check's own counter tables are not the simulated system's: no cap for them.
  let limit = setPageLimit(MAX_WASM_PAGES);
  let r = checkSystem(mms, n);
  setPageLimit(limit);
  return r;
}
export function sys_check_detail(): f64 {
  return <f64>checkDetail;
}
