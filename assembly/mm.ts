// Address spaces (struct mm_struct) and the syscalls that change them: mmap,
// munmap, mprotect, madvise and page faults (mm/mmap.c, mm/vma.c,
// mm/mprotect.c, mm/madvise.c, mm/memory.c of Linux 6.18). mremap lives in
// mremap.ts, fork and exit in fork.ts.
//
// Ops return 0 or a negated errno. Each op first reserves every record it may
// allocate, so a failure of the simulator itself (ENOMEM from the pools)
// happens before any change; the kernel's own partial effects (mprotect over
// a hole) are reproduced as the kernel does them.

import {
  anonVmaPrepare, chainBound, reserveAnon, unlinkAnonVmas, anonVmaClone, vmaAdjust,
} from "./anon_vma";
import { folioMapcount, folioMapping, folioNew, folios, setFolioMapping } from "./folio";
import {
  PTE_PAGECACHE, PTE_ZERO, isFolio, ptCreate, ptFree, ptReserve, ptZap, pteGet, pteSet, tablesFor,
} from "./pagetable";
import { KERNEL_6_7, since } from "./kernel";
import { Pool, beginReservedOp, setTearingDown } from "./mem";
import { vmaMergeExistingRange, vmaMergeNewRange, vmg, vmgFromVma, vmgNew } from "./merge";
import { POLICY_USER, REFUSE_MAX_MAP_COUNT, countRefusal, countSplit, policy } from "./policy";
import * as rm from "./rangemap";
import {
  VM_ACCOUNT, VM_DONTCOPY, VM_DONTDUMP, VM_EXEC, VM_GROWSDOWN, VM_HUGEPAGE, VM_HUGETLB, VM_IO, VM_LOCKED,
  VM_MAYEXEC, VM_MAYREAD, VM_MAYSHARE, VM_MAYWRITE, VM_MERGEABLE, VM_MIXEDMAP, VM_NOHUGEPAGE, VM_NORESERVE,
  VM_PFNMAP, VM_RAND_READ, VM_READ, VM_SEQ_READ, VM_SHARED, VM_SPECIAL, VM_WIPEONFORK, VM_WRITE,
  VM_DONTEXPAND, linearPageIndex, vmaAnonVma, vmaChain, vmaDup, vmaEnd, vmaFile, vmaFlags, vmaIsAnonymous,
  vmaPgoff, vmaStart, vmas, setVmaAnonVma, setVmaEnd, setVmaFile, setVmaFlags, setVmaMm, setVmaPgoff, setVmaStart,
} from "./vma";

import { EACCES, EEXIST, EFAULT, EINVAL, ENOMEM } from "./errno";

// mm record.
const MM_MAP: usize = 0;
const MM_PT: usize = 4;
const MM_ID: usize = 8;
const MM_BASE: usize = 16;
const MM_SIZE: usize = 24;

export const mms = new Pool(MM_SIZE);

// Sizes in pages of the backing objects (files and shmem objects), by id.
let objectSizes: usize = 0;

/** Records that backing object `id` holds `pages` pages: faults past them get SIGBUS. */
export function setObjectSize(id: u32, pages: u32): bool {
  if (objectSizes == 0) objectSizes = rm.mapCreate();
  if (objectSizes == 0 || !rm.reserveNodes(objectSizes, 1)) return false;
  beginReservedOp();
  rm.erase(objectSizes, id, <u64>id + 1);
  return rm.insert(objectSizes, id, <u64>id + 1, pages) == 0;
}

/** Whether page addr of a file-backed VMA lies within its object (else the access is SIGBUS). */
function withinObject(vma: usize, addr: u64): bool {
  let file = vmaFile(vma);
  if (file == 0) return true;
  let size = objectSizes == 0 ? -1 : rm.find(objectSizes, file);
  return size < 0 || linearPageIndex(vma, addr) < <u64>size;
}

/** vm.max_map_count. */
export let maxMapCount: u32 = 65530;
export function setMaxMapCount(n: u32): void {
  maxMapCount = n;
}

/**
 * Whether a read fault of private anonymous memory maps the shared zero page.
 * Without it (mm_forbids_zeropage(), or a kernel booted without one)
 * do_anonymous_page() prepares an anon_vma and allocates a folio, as a write does.
 */
let zeroPage = true;
export function setZeroPage(on: bool): void {
  zeroPage = on;
}

/** vm.overcommit_memory == OVERCOMMIT_NEVER: MAP_NORESERVE is not honoured. */
let overcommitNever = false;
export function setOvercommitNever(on: bool): void {
  overcommitNever = on;
}

@inline export function mmMap(mm: usize): usize { return <usize>load<u32>(mm + MM_MAP); }
@inline export function mmPt(mm: usize): usize { return <usize>load<u32>(mm + MM_PT); }
@inline export function mmId(mm: usize): u32 { return load<u32>(mm + MM_ID); }
/** mm->mmap_base: where top-down placement starts. */
@inline export function mmBase(mm: usize): u64 { return load<u64>(mm + MM_BASE); }
/** mm->map_count. */
@inline export function mapCount(mm: usize): u32 { return rm.mapSize(mmMap(mm)); }

/** A new empty address space, or 0 when memory is exhausted. */
export function mmCreate(id: u32, mmapBase: u64): usize {
  if (!mms.reserve(1)) return 0;
  let map = rm.mapCreate();
  if (map == 0) return 0;
  let pt = ptCreate();
  if (pt == 0) {
    rm.mapFree(map);
    return 0;
  }
  let mm = mms.alloc();
  store<u32>(mm + MM_MAP, <u32>map);
  store<u32>(mm + MM_PT, <u32>pt);
  store<u32>(mm + MM_ID, id);
  store<u64>(mm + MM_BASE, mmapBase);
  return mm;
}

/** Frees an address space that has no VMAs left. */
export function mmFree(mm: usize): void {
  rm.mapFree(mmMap(mm));
  ptFree(mmPt(mm));
  mms.free(mm);
}

// ---- the VMA tree ----------------------------------------------------------

/** vma_iter_store(): the tree maps the VMA's range to it, cutting what was there. */
export function vmaStore(mm: usize, vma: usize): void {
  rm.storeRange(mmMap(mm), vmaStart(vma), vmaEnd(vma), <u32>vma);
}

/** Takes the VMA's range out of the tree and frees the record (its chain must be empty). */
export function vmaRemove(mm: usize, vma: usize): void {
  rm.erase(mmMap(mm), vmaStart(vma), vmaEnd(vma));
  vmas.free(vma);
}

/** vma_lookup(): the VMA containing page addr, or 0. */
export function vmaLookup(mm: usize, addr: u64): usize {
  let v = rm.find(mmMap(mm), addr);
  return v < 0 ? 0 : <usize>v;
}

/** find_vma(): the first VMA ending above addr, or 0. */
export function findVma(mm: usize, addr: u64): usize {
  let v = rm.findNext(mmMap(mm), addr);
  return v < 0 ? 0 : <usize>v;
}

/** The VMA before `vma` (vma_prev), or 0. */
export function vmaPrev(mm: usize, vma: usize): usize {
  let v = rm.prev(mmMap(mm), vmaStart(vma));
  return v < 0 ? 0 : <usize>v;
}

/** The VMA after `vma` (vma_next), or 0. */
export function vmaNext(mm: usize, vma: usize): usize {
  let v = rm.next(mmMap(mm), vmaStart(vma));
  return v < 0 ? 0 : <usize>v;
}

/** The VMA before the one the last findVma() on mm found, or before the gap it ended in (vma_prev() after vma_find()), or 0. */
export function vmaPrevFound(mm: usize): usize {
  let v = rm.pathPrev(mmMap(mm));
  return v < 0 ? 0 : <usize>v;
}

/** The last VMA ending at or below addr (the prev of a range starting at addr), or 0. */
export function vmaBefore(mm: usize, addr: u64): usize {
  let v = rm.prev(mmMap(mm), addr);
  return v < 0 ? 0 : <usize>v;
}

// ---- reservations ------------------------------------------------------------

// The VMAs the op being prepared may touch, summed over the ranges it works on.
let needVmas: u32 = 0;

/** Up to this many pages a range's VMAs are counted by its pages (a VMA has one at least), not walked. */
const NEED_BY_PAGES: u64 = 64;

/**
 * Adds the needs of [lo, hi): for each VMA there and its neighbours, two
 * splits copying the longest chain (chainBound()).
 */
export function needRange(mm: usize, lo: u64, hi: u64): void {
  if (hi - lo <= NEED_BY_PAGES) {
    needVmas += <u32>(hi - lo) + 4;
    return;
  }
  needVmas += 2;
  let map = mmMap(mm);
  if (!rm.walkFrom(map, lo)) return;
  do {
    if (rm.walkStart() > hi) break;
    needVmas++;
  } while (rm.walkNext(map));
}

/**
 * Reserves everything the needs gathered call for (VMA records, tree nodes,
 * chain copies, an anon_vma and its link for each VMA's first fault) plus a
 * folio and a PTE for each of `pages` pages that lie in a run of `span`
 * pages, and starts the op's reservation scope. Resets the needs.
 */
export function reserveNeeds(mm: usize, pages: u32, span: u64): bool {
  let count = needVmas;
  needVmas = 0;
  let ok = rm.reserveNodes(mmMap(mm), count * 2 + 4) && vmas.reserve(count * 2) &&
    reserveAnon(count * 2 * chainBound() + count, count + 1) &&
    (pages == 0 || (ptReserve(mmPt(mm), tablesFor(pages, span)) && folios.reserve(pages)));
  if (ok) beginReservedOp();
  return ok;
}

/** needRange() and reserveNeeds() for an op on the single range [lo, hi) that may fault in `pages` of it. */
export function reserveOp(mm: usize, lo: u64, hi: u64, pages: u32): bool {
  needRange(mm, lo, hi);
  return reserveNeeds(mm, pages, hi - lo);
}

// ---- split -------------------------------------------------------------------

/**
 * __split_vma(): splits `vma` at addr. With newBelow the new VMA takes the
 * lower part and `vma` keeps the upper one, else the new VMA takes the upper
 * part. Both share the anon_vma; the new one gets a copy of the chain.
 * Returns the new VMA.
 */
export function splitVmaNoCheck(mm: usize, vma: usize, addr: u64, newBelow: bool): usize {
  let n = splitVmaRecord(mm, vma, addr, newBelow);
  rm.splitAt(mmMap(mm), addr, <u32>n, newBelow);
  return n;
}

/**
 * Both __split_vma() calls that cut [start, end), strictly inside vma, out
 * of it (vma keeps the range): one tree update for the two.
 */
function splitVmaAround(mm: usize, vma: usize, start: u64, end: u64): void {
  let below = splitVmaRecord(mm, vma, start, true);
  let above = splitVmaRecord(mm, vma, end, false);
  rm.splitAround(mmMap(mm), start, end, <u32>below, <u32>above);
}

/** __split_vma() but for the tree. */
function splitVmaRecord(mm: usize, vma: usize, addr: u64, newBelow: bool): usize {
  countSplit();
  let n = vmaDup(vma);
  setVmaMm(n, mm);
  if (newBelow) {
    setVmaEnd(n, addr);
  } else {
    setVmaStart(n, addr);
    setVmaPgoff(n, vmaPgoff(vma) + (addr - vmaStart(vma)));
  }
  setVmaAnonVma(n, vmaAnonVma(vma));
  anonVmaClone(n, vma, false);
  if (newBelow) vmaAdjust(vma, addr, vmaEnd(vma), vmaPgoff(vma) + (addr - vmaStart(vma)));
  else vmaAdjust(vma, vmaStart(vma), addr, vmaPgoff(vma));
  return n;
}

/** split_vma(): __split_vma() that first refuses with ENOMEM at vm.max_map_count. */
export function splitVma(mm: usize, vma: usize, addr: u64, newBelow: bool): i32 {
  if (mapCount(mm) >= maxMapCount) {
    countRefusal(REFUSE_MAX_MAP_COUNT);
    return ENOMEM;
  }
  splitVmaNoCheck(mm, vma, addr, newBelow);
  return 0;
}

/**
 * vma_modify(): [start, end) of vma takes the attributes in vmg (set by the
 * caller): merged into a neighbour when possible, else split out. Returns the
 * VMA now covering [start, end), or 0 with the errno in modifyError.
 */
export let modifyError: i32 = 0;
export function vmaModify(mm: usize, prev: usize, vma: usize, start: u64, end: u64, flags: u64): usize {
  vmgFromVma(mm, prev, vma, start, end);
  vmg.flags = flags;
  let merged = vmaMergeExistingRange(end == vmaEnd(vma) ? vmaNext(mm, vma) : 0);
  if (merged != 0) return merged;
  if (vmaStart(vma) < start && vmaEnd(vma) > end && mapCount(mm) + 1 < maxMapCount) {
    // Neither split reaches vm.max_map_count.
    splitVmaAround(mm, vma, start, end);
    return vma;
  }
  if (vmaStart(vma) < start) {
    let err = splitVma(mm, vma, start, true);
    if (err != 0) {
      modifyError = err;
      return 0;
    }
  }
  if (vmaEnd(vma) > end) {
    let err = splitVma(mm, vma, end, false);
    if (err != 0) {
      modifyError = err;
      return 0;
    }
  }
  return vma;
}

// ---- unmapping -----------------------------------------------------------------

/**
 * Unmaps one whole VMA: its pages, its anon_vma links, its record
 * (remove_vma), and unless `keepEntry` its range in the tree.
 */
export function vmaUnmapWhole(mm: usize, vma: usize, keepEntry: bool = false): void {
  ptZap(mmPt(mm), vmaStart(vma), vmaEnd(vma));
  if (vmaChain(vma) != 0) unlinkAnonVmas(vma);
  if (keepEntry) vmas.free(vma);
  else vmaRemove(mm, vma);
}

/**
 * do_vmi_align_munmap(): unmaps [start, end), splitting the VMAs across its
 * edges. ENOMEM (and no change) when a split would pass vm.max_map_count.
 * With keepEntries the tree keeps the freed VMAs' ranges, to be stored over
 * at once (MAP_FIXED: the kernel stores the new VMA over the old ones too).
 */
export function munmapRange(mm: usize, start: u64, end: u64, keepEntries: bool = false): i32 {
  let vma = findVma(mm, start);
  if (vma == 0 || vmaStart(vma) >= end) return 0;
  return munmapVmas(mm, vma, start, end, keepEntries);
}

/** munmap(): reserves and unmaps [start, end); its memory may come from the teardown reserve. ENOMEM if even that is short. */
export function munmap(mm: usize, start: u64, end: u64): i32 {
  setTearingDown(true);
  let r = reserveOp(mm, start, end, 0) ? munmapRange(mm, start, end) : ENOMEM;
  setTearingDown(false);
  return r;
}

/** munmapRange() from vma, the first VMA ending above start, which starts below end. */
function munmapVmas(mm: usize, vma: usize, start: u64, end: u64, keepEntries: bool): i32 {
  if (start > vmaStart(vma)) {
    // The map count may pass the limit only transiently, so a munmap that
    // would end above it fails before it splits anything.
    if (end >= vmaEnd(vma)) {
      splitVmaNoCheck(mm, vma, start, true);
    } else {
      if (mapCount(mm) >= maxMapCount) return ENOMEM;
      splitVmaAround(mm, vma, start, end);
    }
  }
  // vma now starts inside [start, end) and is the first VMA there.
  let last = vmaEnd(vma) >= end ? vma : vmaLookup(mm, end - 1);
  if (last != 0 && vmaEnd(last) > end) splitVmaNoCheck(mm, last, end, false);
  // Now the VMAs in [start, end) lie wholly inside it.
  let v = vma;
  while (v != 0 && vmaStart(v) < end) {
    let next = vmaEnd(v) < end ? vmaNext(mm, v) : 0;
    vmaUnmapWhole(mm, v, keepEntries);
    v = next;
  }
  return 0;
}

// ---- placement ----------------------------------------------------------------

/** TASK_SIZE of x86-64 with 4-level page tables, in pages. */
export const TASK_SIZE: u64 = 0x7ffffffff;
/** vm.mmap_min_addr (64 KiB). */
const MMAP_MIN: u64 = 16;
/** TASK_UNMAPPED_BASE: where the bottom-up fallback starts. */
const UNMAPPED_BASE: u64 = TASK_SIZE / 3;
/** stack_guard_gap: 1 MiB below a VM_GROWSDOWN VMA stays free. */
const STACK_GUARD_GAP: u64 = 256;
/** RLIMIT_STACK's usual soft limit (8 MiB): how large a growing stack may get. */
const RLIMIT_STACK_PAGES: u64 = 2048;
/** PMD_SIZE in pages: the THP alignment of large anonymous mappings. */
const PMD_PAGES: u64 = 512;

/** vm_start_gap(): where a VMA's guard gap begins. */
function vmStartGap(vma: usize): u64 {
  let start = vmaStart(vma);
  if ((vmaFlags(vma) & VM_GROWSDOWN) == 0) return start;
  return start > STACK_GUARD_GAP ? start - STACK_GUARD_GAP : 0;
}

/**
 * unmapped_area_topdown(): the highest start of `len` free pages below
 * `high`, aligned to alignMask + 1, keeping clear of a stack's guard gap.
 * PAGE_END when none.
 */
function unmappedAreaTopdown(mm: usize, len: u64, alignMask: u64, low: u64, high: u64): u64 {
  let length = len + alignMask;
  while (high > low) {
    let s = rm.gap(mmMap(mm), length, low, high, 1, true);
    if (s == rm.PAGE_END) return rm.PAGE_END;
    let addr = s + length - len;
    addr -= addr & alignMask;
    let next = findVma(mm, addr + len - 1);
    if (next == 0 || vmStartGap(next) >= addr + len) return addr;
    high = vmStartGap(next);
  }
  return rm.PAGE_END;
}

/** unmapped_area(): the lowest start of `len` free pages in [low, high), aligned. */
function unmappedArea(mm: usize, len: u64, alignMask: u64, low: u64, high: u64): u64 {
  let s = rm.gap(mmMap(mm), len + alignMask, low, high, 1, false);
  if (s == rm.PAGE_END) return s;
  return s + ((0 - s) & alignMask);
}

/** The search itself: top-down from mmap_base, bottom-up from TASK_UNMAPPED_BASE when that fails. */
function searchArea(mm: usize, len: u64, alignMask: u64): u64 {
  let addr = unmappedAreaTopdown(mm, len, alignMask, MMAP_MIN, mmBase(mm));
  if (addr == rm.PAGE_END) addr = unmappedArea(mm, len, alignMask, UNMAPPED_BASE, TASK_SIZE);
  return addr;
}

/**
 * get_unmapped_area() without a hint. Private anonymous mappings that are a
 * whole number of PMDs are placed THP-aligned (thp_get_unmapped_area: search
 * for len + PMD, then align within it).
 */
export function getUnmappedArea(mm: usize, len: u64, privateAnon: bool): u64 {
  if (len == 0 || len > TASK_SIZE) return rm.PAGE_END;
  if (privateAnon && len % PMD_PAGES == 0) {
    let padded = searchArea(mm, len + PMD_PAGES, 0);
    if (padded != rm.PAGE_END) {
      let offSub = (0 - padded) & (PMD_PAGES - 1);
      return offSub == 0 ? padded + PMD_PAGES : padded + offSub;
    }
  }
  return searchArea(mm, len, 0);
}

// ---- mmap --------------------------------------------------------------------

export const PROT_READ: u32 = 1;
export const PROT_WRITE: u32 = 2;
export const PROT_EXEC: u32 = 4;

export const MAP_SHARED: u32 = 0x01;
export const MAP_FIXED: u32 = 0x10;
export const MAP_GROWSDOWN: u32 = 0x100;
export const MAP_NORESERVE: u32 = 0x4000;
export const MAP_POPULATE: u32 = 0x8000;
export const MAP_STACK: u32 = 0x20000;

/** calc_vm_prot_bits(). */
@inline export function protToFlags(prot: u32): u64 {
  return <u64>(prot & (PROT_READ | PROT_WRITE | PROT_EXEC));
}

/**
 * mmap at a fixed place (do_mmap + __mmap_region, MAP_FIXED). `file` is the
 * backing object: 0 for private anonymous memory, else a file or (for
 * MAP_SHARED|MAP_ANONYMOUS) a new shmem object chosen by the caller, opened
 * read-write. Returns the VMA covering the range, or a negated errno.
 */
export function mmapFixed(mm: usize, start: u64, len: u64, prot: u32, flags: u32, file: u32, pgoff: u64): i64 {
  if (len == 0) return EINVAL;
  let end = start + len;
  let shared = (flags & MAP_SHARED) != 0;
  let vmFlags = protToFlags(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC;
  if (shared) vmFlags |= VM_SHARED | VM_MAYSHARE;
  if ((flags & MAP_GROWSDOWN) != 0) vmFlags |= VM_GROWSDOWN;
  // 6.7+: stacks are not backed by huge pages (calc_vm_flag_bits).
  if ((flags & MAP_STACK) != 0 && since(KERNEL_6_7)) vmFlags |= VM_NOHUGEPAGE;
  // MAP_NORESERVE is honoured where overcommit is allowed.
  if ((flags & MAP_NORESERVE) != 0 && !overcommitNever) vmFlags |= VM_NORESERVE;
  if (file == 0) pgoff = start; // a private anonymous VMA's pgoff is its page index
  if (mapCount(mm) > maxMapCount) return ENOMEM;
  if (!reserveOp(mm, start, end, (flags & MAP_POPULATE) != 0 ? faultPages(len) : 0)) return ENOMEM;

  // MAP_FIXED replaces what was there. The kernel gathers the old VMAs
  // first and frees them after the new one is in; the outcome is the same.
  // Their tree entries stay until the new VMA is stored over [start, end)
  // (nothing below looks inside it), except when a user policy, which may
  // read the address space, decides merges.
  let prev: usize;
  let next = findVma(mm, start);
  if (next != 0 && vmaStart(next) < end) {
    let err = munmapVmas(mm, next, start, end, policy != POLICY_USER);
    if (err != 0) return err;
    prev = vmaBefore(mm, start);
    next = findVma(mm, end);
  } else {
    // A hole: its neighbours are either side of where the search ended (vma_iter_next_rewind()).
    prev = vmaPrevFound(mm);
  }
  // accountable_mapping(): private writable memory without MAP_NORESERVE.
  if ((vmFlags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE) vmFlags |= VM_ACCOUNT;

  vmgNew(mm, prev, next, start, end, vmFlags, file, pgoff);
  let vma = vmaMergeNewRange();
  if (vma == 0) vma = vmaLink(mm, start, end, vmFlags, file, pgoff);
  if ((flags & MAP_POPULATE) != 0) populate(mm, start, end);
  return <i64>vma;
}

/** A new VMA for [start, end), stored in the tree (vma_link() after a refused merge). */
function vmaLink(mm: usize, start: u64, end: u64, vmFlags: u64, file: u32, pgoff: u64): usize {
  let vma = vmas.alloc();
  setVmaMm(vma, mm);
  setVmaStart(vma, start);
  setVmaEnd(vma, end);
  setVmaPgoff(vma, pgoff);
  setVmaFlags(vma, vmFlags);
  setVmaFile(vma, file);
  vmaStore(mm, vma);
  return vma;
}

// ---- a layout restored from a snapshot ---------------------------------------

/**
 * A VMA as a snapshot of the kernel's view shows it (the layout execve built,
 * which no syscall shows): inserted with its exact vm_flags and without
 * merging, as the ELF loader and setup_arg_pages() leave it. [start, end)
 * must be free. Returns 0 or a negated errno.
 */
export function restoreVma(mm: usize, start: u64, end: u64, vmFlags: u64, file: u32, pgoff: u64): i32 {
  if (start >= end) return EINVAL;
  let next = findVma(mm, start);
  if (next != 0 && vmaStart(next) < end) return EEXIST;
  if (mapCount(mm) >= maxMapCount) return ENOMEM;
  if (!reserveOp(mm, start, end, 0)) return ENOMEM;
  vmaLink(mm, start, end, vmFlags, file, pgoff);
  return 0;
}

/**
 * Present anonymous pages a snapshot shows in [start, start + n): what the
 * kernel wrote there (arguments on the stack, the zeroed tail of a data
 * segment), faulted as writes whatever the VMA now allows. EFAULT where no
 * private VMA is.
 */
export function restoreAnon(mm: usize, start: u64, n: u64): i32 {
  if (!reserveOp(mm, start, start + n, faultPages(n))) return ENOMEM;
  for (let addr = start; addr < start + n; addr++) {
    let vma = vmaLookup(mm, addr);
    if (vma == 0 || (vmaFlags(vma) & VM_SHARED) != 0) return EFAULT;
    handleFault(mm, vma, addr, true);
  }
  return 0;
}

/** Pages an op may fault in, as a reservation count: beyond 2^31 no reservation can succeed anyway. */
@inline function faultPages(n: u64): u32 {
  return <u32>min<u64>(n, 0x80000000);
}

/** mm_populate(): faults in [start, end) as get_user_pages would. */
function populate(mm: usize, start: u64, end: u64): void {
  for (let addr = start; addr < end; addr++) {
    let vma = vmaLookup(mm, addr);
    if (vma == 0) continue;
    let f = vmaFlags(vma);
    if ((f & (VM_READ | VM_WRITE | VM_EXEC)) == 0 || !withinObject(vma, addr)) continue;
    // Private writable memory is populated for write (COW broken now).
    handleFault(mm, vma, addr, (f & (VM_WRITE | VM_SHARED)) == VM_WRITE);
  }
}

// ---- faults -----------------------------------------------------------------

/**
 * handle_mm_fault() for one page whose access is allowed. A read of private
 * anonymous memory maps the zero page (without it, takes a folio as a write
 * does); of a file or shared mapping a page-cache page. A write of private memory gives the page an exclusive anonymous folio
 * in vma's anon_vma: a new one, or the old one reused when only this PTE maps
 * it (folio_move_anon_rmap).
 */
export function handleFault(mm: usize, vma: usize, addr: u64, write: bool): void {
  let pt = mmPt(mm);
  let pte = pteGet(pt, addr);
  let shared = (vmaFlags(vma) & VM_SHARED) != 0;
  if (!write || shared) {
    let pageCache = shared || !vmaIsAnonymous(vma);
    if (pte != 0) return;
    if (pageCache || zeroPage) {
      pteSet(pt, addr, pageCache ? PTE_PAGECACHE : PTE_ZERO);
      return;
    }
  }
  // The neighbours (two tree walks) matter only for a VMA's first write fault.
  if (vmaAnonVma(vma) == 0) anonVmaPrepare(vma, vmaPrev(mm, vma), vmaNext(mm, vma));
  let av = vmaAnonVma(vma);
  if (isFolio(pte)) {
    if (folioMapcount(pte) == 1) {
      if (folioMapping(pte) != av) setFolioMapping(pte, av);
      return;
    }
  }
  pteSet(pt, addr, <u32>folioNew(av, linearPageIndex(vma, addr)));
}

/**
 * expand_downwards(): a fault below a VM_GROWSDOWN VMA grows it down to the
 * faulting page, unless that comes within stack_guard_gap of an accessible
 * VMA below that is not a stack itself, or the stack would pass
 * RLIMIT_STACK. The anon_vma is prepared first, as the kernel does.
 */
function expandDownwards(mm: usize, vma: usize, addr: u64): bool {
  if ((vmaFlags(vma) & VM_GROWSDOWN) == 0 || addr < MMAP_MIN) return false;
  let prev = vmaBefore(mm, vmaStart(vma));
  if (prev != 0 && (vmaFlags(prev) & VM_GROWSDOWN) == 0 && (vmaFlags(prev) & (VM_READ | VM_WRITE | VM_EXEC)) != 0 &&
      addr - vmaEnd(prev) < STACK_GUARD_GAP) return false;
  let grow = vmaStart(vma) - addr;
  if (grow > vmaPgoff(vma) || vmaEnd(vma) - addr > RLIMIT_STACK_PAGES) return false;
  if (vmaAnonVma(vma) == 0) anonVmaPrepare(vma, prev, vmaNext(mm, vma));
  vmaAdjust(vma, addr, vmaEnd(vma), vmaPgoff(vma) - grow);
  vmaStore(mm, vma);
  return true;
}

/**
 * Touches `n` pages from `start` in order, as a program reading or writing
 * them would (a stack grows down to meet a touch below it). EFAULT at the
 * first page that is unmapped, not accessible that way or past the end of
 * its backing object; the pages before it stay touched.
 */
export function touch(mm: usize, start: u64, n: u64, write: bool): i32 {
  if (!reserveOp(mm, start, start + n, faultPages(n))) return ENOMEM;
  for (let addr = start; addr < start + n; addr++) {
    let vma = vmaLookup(mm, addr);
    if (vma == 0) {
      // lock_mm_and_find_vma(): only the VMA above may take the page, by growing down to it.
      vma = findVma(mm, addr);
      if (vma == 0 || !expandDownwards(mm, vma, addr)) return EFAULT;
    }
    let f = vmaFlags(vma);
    if (write ? (f & VM_WRITE) == 0 : (f & (VM_READ | VM_WRITE | VM_EXEC)) == 0) return EFAULT;
    // Past the end of its file or shmem object the access is SIGBUS: a fault too.
    if (!withinObject(vma, addr)) return EFAULT;
    handleFault(mm, vma, addr, write);
  }
  return 0;
}

// ---- mprotect ---------------------------------------------------------------

/**
 * mprotect_fixup(): applies newflags to [start, end) of vma with the VM_ACCOUNT
 * rules, merging or splitting. Returns the VMA now covering the range.
 */
function mprotectFixup(mm: usize, vma: usize, prev: usize, start: u64, end: u64, newflags: u64): usize {
  let oldflags = vmaFlags(vma);
  if (newflags == oldflags) return vma;
  if ((newflags & VM_WRITE) != 0) {
    if ((oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE)) == 0) newflags |= VM_ACCOUNT;
  } else if (since(KERNEL_6_7) && (oldflags & VM_ACCOUNT) != 0 && vmaIsAnonymous(vma) && vmaAnonVma(vma) == 0) {
    newflags &= ~VM_ACCOUNT;
  }
  let v = vmaModify(mm, prev, vma, start, end, newflags);
  if (v == 0) return 0;
  setVmaFlags(v, newflags);
  return v;
}

/** mprotect(start, len, prot): ENOMEM for a hole, after changing what lies before it. */
export function mprotect(mm: usize, start: u64, len: u64, prot: u32): i32 {
  let end = start + len;
  if (len == 0) return 0;
  let vma = findVma(mm, start);
  if (vma == 0 || vmaStart(vma) >= end || vmaStart(vma) > start) return ENOMEM;
  let prev = start > vmaStart(vma) ? vma : vmaPrevFound(mm);
  if (!reserveOp(mm, start, end, 0)) return ENOMEM;
  let tmp = vmaStart(vma);
  let nstart = start;
  while (vma != 0 && vmaStart(vma) < end) {
    if (vmaStart(vma) != tmp) return ENOMEM;
    let newflags = protToFlags(prot) | (vmaFlags(vma) & ~(VM_READ | VM_WRITE | VM_EXEC));
    // The VM_MAY* bits sit four bits above the access bits they allow.
    if ((newflags & ~(newflags >> 4) & (VM_READ | VM_WRITE | VM_EXEC)) != 0) return EACCES;
    tmp = min(vmaEnd(vma), end);
    let v = mprotectFixup(mm, vma, prev, nstart, tmp, newflags);
    if (v == 0) return modifyError;
    prev = v;
    tmp = vmaEnd(v);
    nstart = tmp;
    if (tmp >= end) break;
    vma = vmaNext(mm, v);
  }
  return tmp < end ? ENOMEM : 0;
}

// ---- madvise ----------------------------------------------------------------

export const MADV_NORMAL: i32 = 0;
export const MADV_RANDOM: i32 = 1;
export const MADV_SEQUENTIAL: i32 = 2;
export const MADV_DONTNEED: i32 = 4;
export const MADV_DONTFORK: i32 = 10;
export const MADV_DOFORK: i32 = 11;
export const MADV_MERGEABLE: i32 = 12;
export const MADV_UNMERGEABLE: i32 = 13;
export const MADV_HUGEPAGE: i32 = 14;
export const MADV_NOHUGEPAGE: i32 = 15;
export const MADV_DONTDUMP: i32 = 16;
export const MADV_DODUMP: i32 = 17;
export const MADV_WIPEONFORK: i32 = 18;
export const MADV_KEEPONFORK: i32 = 19;

/** The vm_flags an advice gives the VMA; an advice it refuses sets adviceError. */
let adviceError: i32 = 0;
function madviseFlags(vma: usize, advice: i32): u64 {
  let f = vmaFlags(vma);
  adviceError = 0;
  switch (advice) {
    case MADV_NORMAL: return f & ~(VM_RAND_READ | VM_SEQ_READ);
    case MADV_RANDOM: return (f & ~VM_SEQ_READ) | VM_RAND_READ;
    case MADV_SEQUENTIAL: return (f & ~VM_RAND_READ) | VM_SEQ_READ;
    case MADV_DONTFORK: return f | VM_DONTCOPY;
    case MADV_DOFORK:
      if ((f & VM_IO) != 0) adviceError = EINVAL;
      return f & ~VM_DONTCOPY;
    case MADV_WIPEONFORK:
      if (!vmaIsAnonymous(vma) || (f & VM_SHARED) != 0) adviceError = EINVAL;
      return f | VM_WIPEONFORK;
    case MADV_KEEPONFORK: return f & ~VM_WIPEONFORK;
    case MADV_DONTDUMP: return f | VM_DONTDUMP;
    case MADV_DODUMP:
      if ((f & VM_SPECIAL) != 0) adviceError = EINVAL;
      return f & ~VM_DONTDUMP;
    case MADV_MERGEABLE:
      // ksm_madvise(): quietly nothing for mappings KSM cannot merge.
      if ((f & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_HUGETLB | VM_MIXEDMAP)) != 0) return f;
      return f | VM_MERGEABLE;
    case MADV_UNMERGEABLE: return f & ~VM_MERGEABLE;
    case MADV_HUGEPAGE: return (f & ~VM_NOHUGEPAGE) | VM_HUGEPAGE;
    case MADV_NOHUGEPAGE: return (f & ~VM_HUGEPAGE) | VM_NOHUGEPAGE;
  }
  adviceError = EINVAL;
  return f;
}

/** One VMA's share of a madvise; returns the VMA that now covers [start, end) or 0 on error. */
let madviseError: i32 = 0;
function madviseVma(mm: usize, vma: usize, prev: usize, start: u64, end: u64, advice: i32): usize {
  madviseError = 0;
  if (advice == MADV_DONTNEED) {
    if ((vmaFlags(vma) & (VM_LOCKED | VM_PFNMAP | VM_HUGETLB)) != 0) {
      madviseError = EINVAL;
      return 0;
    }
    ptZap(mmPt(mm), start, end);
    return vma;
  }
  let newflags = madviseFlags(vma, advice);
  if (adviceError != 0) {
    madviseError = adviceError;
    return 0;
  }
  if (newflags == vmaFlags(vma)) return vma;
  let v = vmaModify(mm, prev, vma, start, end, newflags);
  if (v == 0) {
    madviseError = modifyError;
    return 0;
  }
  setVmaFlags(v, newflags);
  return v;
}

/** madvise(start, len, advice): holes are skipped and reported as ENOMEM at the end. */
export function madvise(mm: usize, start: u64, len: u64, advice: i32): i32 {
  if (advice < 0 || advice > MADV_KEEPONFORK || advice == 3 || (advice > MADV_DONTNEED && advice < MADV_DONTFORK)) {
    return EINVAL;
  }
  if (len == 0) return 0;
  let end = start + len;
  if (!reserveOp(mm, start, end, 0)) return ENOMEM;
  let unmappedError = 0;
  let vma = findVma(mm, start);
  let prev: usize = vma != 0 && start > vmaStart(vma) ? vma : vmaPrevFound(mm);
  while (true) {
    if (vma == 0) return ENOMEM;
    if (start < vmaStart(vma)) {
      unmappedError = ENOMEM;
      start = vmaStart(vma);
      if (start >= end) break;
    }
    let tmp = min(vmaEnd(vma), end);
    let v = madviseVma(mm, vma, prev, start, tmp, advice);
    if (v == 0) return madviseError;
    prev = v;
    start = tmp;
    if (start < vmaEnd(prev)) start = vmaEnd(prev);
    if (start >= end) break;
    vma = findVma(mm, vmaEnd(prev));
  }
  return unmappedError;
}

// ---- queries ------------------------------------------------------------------

/** Folio handle mapped at page addr, or 0. */
export function folioAt(mm: usize, addr: u64): usize {
  let pte = pteGet(mmPt(mm), addr);
  return isFolio(pte) ? <usize>pte : 0;
}
