// Per-process page tables: what each present PTE maps.
//
// As in the kernel's last level, PTEs live in tables of PTRS entries that
// cover an aligned run of pages; a range map from table number to table stands
// in for the upper levels, and a table is freed when its last PTE is cleared.
// Each page table keeps a finger on the last table it used, so lookups that
// stay near one place (an rmap walk visiting process after process at the same
// page, a fault loop) skip the descent.

import { folioGet, folioMapcount, folioMapping, folioPut, setFolioIndex, setFolioMapping } from "./folio";
import { Pool } from "./mem";
import * as rm from "./rangemap";

/** PTE values that are not folios (folio handles are pool offsets, far above). */
export const PTE_ZERO: u32 = 1;
export const PTE_PAGECACHE: u32 = 2;
@inline export function isFolio(pte: u32): bool { return pte > PTE_PAGECACHE; }

const PTRS_SHIFT: u64 = 9;
const PTRS: u64 = 1 << PTRS_SHIFT;
const PTRS_MASK: u64 = PTRS - 1;

// Table record: PTRS u32 entries, then the number present.
const T_PRESENT: usize = <usize>PTRS << 2;
const TABLE_SIZE: usize = T_PRESENT + 4;

// Page-table record: the directory (range map of table numbers), the finger.
const P_DIR: usize = 0;
const P_FINGER: usize = 4;
const P_FINGER_NO: usize = 8;
const PT_SIZE: usize = 16;

const tables = new Pool(TABLE_SIZE);
const pts = new Pool(PT_SIZE);

@inline function dir(pt: usize): usize { return <usize>load<u32>(pt + P_DIR); }
@inline function present(t: usize): u32 { return load<u32>(t + T_PRESENT); }
@inline function entryAddr(t: usize, page: u64): usize { return t + (<usize>(page & PTRS_MASK) << 2); }

/** A new empty page table, or 0 when memory is exhausted. */
export function ptCreate(): usize {
  if (!pts.reserve(1)) return 0;
  let d = rm.mapCreate();
  if (d == 0) return 0;
  let pt = pts.alloc();
  store<u32>(pt + P_DIR, <u32>d);
  return pt;
}

/** Frees a page table and its tables (their PTEs must hold no folio references). */
export function ptFree(pt: usize): void {
  let d = dir(pt);
  while (rm.findNext(d, 0) >= 0) {
    let no = load<u64>(rm.FOUND);
    tables.free(<usize>rm.find(d, no));
    rm.erase(d, no, no + 1);
  }
  rm.mapFree(d);
  pts.free(pt);
}

/** Tables in use (what a copy of the whole page table needs). */
export function ptTables(pt: usize): u32 {
  return rm.mapSize(dir(pt));
}

/** Makes sure `n` new tables can be added. */
@inline export function ptReserve(pt: usize, n: u32): bool {
  return tables.reserve(n) && rm.reserveNodes(dir(pt), n);
}

/** The most tables new PTEs for `pages` pages inside a run of `span` pages can need. */
@inline export function tablesFor(pages: u32, span: u64): u32 {
  return <u32>min<u64>(<u64>pages, (span >> PTRS_SHIFT) + 2);
}

/** The table holding table number `no`, or 0. */
function tableAt(pt: usize, no: u64): usize {
  let f = <usize>load<u32>(pt + P_FINGER);
  if (f != 0 && load<u64>(pt + P_FINGER_NO) == no) return f;
  let v = rm.find(dir(pt), no);
  if (v < 0) return 0;
  store<u32>(pt + P_FINGER, <u32>v);
  store<u64>(pt + P_FINGER_NO, no);
  return <usize>v;
}

/** The table for table number `no`, added when missing (needs ptReserve). */
function tableFor(pt: usize, no: u64): usize {
  let t = tableAt(pt, no);
  if (t != 0) return t;
  t = tables.alloc();
  rm.insert(dir(pt), no, no + 1, <u32>t);
  store<u32>(pt + P_FINGER, <u32>t);
  store<u64>(pt + P_FINGER_NO, no);
  return t;
}

/** Clears one PTE slot of table t; frees the table when it empties (and says so). */
function clearSlot(pt: usize, t: usize, page: u64): bool {
  store<u32>(entryAddr(t, page), 0);
  let n = present(t) - 1;
  store<u32>(t + T_PRESENT, n);
  if (n != 0) return false;
  let no = page >> PTRS_SHIFT;
  rm.erase(dir(pt), no, no + 1);
  tables.free(t);
  if (<usize>load<u32>(pt + P_FINGER) == t) store<u32>(pt + P_FINGER, 0);
  return true;
}

/** The PTE at `page`, or 0 when none. */
export function pteGet(pt: usize, page: u64): u32 {
  let t = tableAt(pt, page >> PTRS_SHIFT);
  return t == 0 ? 0 : load<u32>(entryAddr(t, page));
}

/** Sets the PTE at `page` (an old folio's reference is dropped). Needs ptReserve(pt, 1). */
export function pteSet(pt: usize, page: u64, pte: u32): void {
  let t = tableFor(pt, page >> PTRS_SHIFT);
  let p = entryAddr(t, page);
  let old = load<u32>(p);
  if (old == 0) store<u32>(t + T_PRESENT, present(t) + 1);
  else if (isFolio(old)) folioPut(<usize>old);
  store<u32>(p, pte);
}

// The tables of [start, end) in order: tableSpan(pt, at, end) returns the
// first table present at or after page `at` and sets [spanLo, spanHi), the
// part of [at, end) it holds; 0 past the end.
let spanLo: u64 = 0;
let spanHi: u64 = 0;
function tableSpan(pt: usize, at: u64, end: u64): usize {
  if (at >= end) return 0;
  let v = rm.findNext(dir(pt), at >> PTRS_SHIFT);
  if (v < 0) return 0;
  let no = load<u64>(rm.FOUND);
  spanLo = max(at, no << PTRS_SHIFT);
  spanHi = min(end, (no + 1) << PTRS_SHIFT);
  return spanLo < end ? <usize>v : 0;
}

/** zap_page_range(): clears the PTEs of [start, end), dropping folio references. */
export function ptZap(pt: usize, start: u64, end: u64): void {
  for (let t = tableSpan(pt, start, end); t != 0; t = tableSpan(pt, spanHi, end)) {
    for (let page = spanLo; page < spanHi; page++) {
      let e = load<u32>(entryAddr(t, page));
      if (e == 0) continue;
      if (isFolio(e)) folioPut(<usize>e);
      if (clearSlot(pt, t, page)) break;
    }
  }
}

/** Sets the PTE at `page`, which is empty (needs ptReserve). */
function pteFill(pt: usize, page: u64, pte: u32): void {
  let d = tableFor(pt, page >> PTRS_SHIFT);
  store<u32>(entryAddr(d, page), pte);
  store<u32>(d + T_PRESENT, present(d) + 1);
}

/** copy_page_range(): the child maps what the parent maps in [start, end); folios gain a mapping. */
export function ptCopy(src: usize, dst: usize, start: u64, end: u64): void {
  for (let t = tableSpan(src, start, end); t != 0; t = tableSpan(src, spanHi, end)) {
    for (let page = spanLo; page < spanHi; page++) {
      let e = load<u32>(entryAddr(t, page));
      if (e == 0) continue;
      if (isFolio(e)) folioGet(<usize>e);
      pteFill(dst, page, e);
    }
  }
}

/** move_page_tables(): the PTEs of [from, from + n) move to the free range at `to`. */
export function ptMove(pt: usize, from: u64, to: u64, n: u64): void {
  let end = from + n;
  for (let t = tableSpan(pt, from, end); t != 0; t = tableSpan(pt, spanHi, end)) {
    for (let page = spanLo; page < spanHi; page++) {
      let e = load<u32>(entryAddr(t, page));
      if (e == 0) continue;
      // Set the new PTE before clearing the old one, which may free its table.
      pteFill(pt, to + (page - from), e);
      if (clearSlot(pt, t, page)) break;
    }
  }
}

// A read-only walk over the present PTEs of a range, in address order.
let walkPt: usize = 0;
let walkTable: usize = 0;
let walkAt: u64 = 0;
let walkStop: u64 = 0;
let walkEnd: u64 = 0;
/** The page and PTE the last pteWalkNext() reached. */
export let walkPage: u64 = 0;
export let walkPte: u32 = 0;

export function pteWalk(pt: usize, start: u64, end: u64): void {
  walkPt = pt;
  walkTable = 0;
  walkAt = start;
  walkStop = start;
  walkEnd = end;
}

/** Moves to the next present PTE; false at the end of the range. */
export function pteWalkNext(): bool {
  while (true) {
    if (walkAt >= walkStop) {
      walkTable = tableSpan(walkPt, walkAt, walkEnd);
      if (walkTable == 0) return false;
      walkAt = spanLo;
      walkStop = spanHi;
    }
    while (walkAt < walkStop) {
      let e = load<u32>(entryAddr(walkTable, walkAt++));
      if (e != 0) {
        walkPage = walkAt - 1;
        walkPte = e;
        return true;
      }
    }
  }
}

/** The folios of [start, end) whose mapping is anon_vma `from` move to `to` (folio_move_anon_rmap); returns how many. */
export function ptMoveFolios(pt: usize, start: u64, end: u64, from: usize, to: usize): u32 {
  let n: u32 = 0;
  pteWalk(pt, start, end);
  while (pteWalkNext()) {
    if (!isFolio(walkPte) || folioMapping(<usize>walkPte) != from) continue;
    setFolioMapping(<usize>walkPte, to);
    n++;
  }
  return n;
}

/** Whether a folio mapped in [start, end) is mapped anywhere else too. */
export function ptSharesFolios(pt: usize, start: u64, end: u64): bool {
  pteWalk(pt, start, end);
  while (pteWalkNext()) if (isFolio(walkPte) && folioMapcount(<usize>walkPte) > 1) return true;
  return false;
}

/** The folios of [start, end) get index `pgoff` + their offset from start; returns how many. */
export function ptReindexFolios(pt: usize, start: u64, end: u64, pgoff: u64): u32 {
  let n: u32 = 0;
  pteWalk(pt, start, end);
  while (pteWalkNext()) {
    if (!isFolio(walkPte)) continue;
    setFolioIndex(<usize>walkPte, pgoff + (walkPage - start));
    n++;
  }
  return n;
}

/** PTEs present in [start, end): all of them, or only those mapping anonymous folios (smaps Anonymous). */
export function ptCount(pt: usize, start: u64, end: u64, anonOnly: bool): u32 {
  let n: u32 = 0;
  pteWalk(pt, start, end);
  while (pteWalkNext()) if (!anonOnly || isFolio(walkPte)) n++;
  return n;
}

/** Bytes of page-table records in use. */
export function ptBytes(): usize {
  return <usize>tables.live * TABLE_SIZE + <usize>pts.live * PT_SIZE;
}
