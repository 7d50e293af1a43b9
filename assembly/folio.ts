// Anonymous folios and per-process page tables.
//
// A page table is a range map of single pages [page, page + 1) to what the
// PTE maps: the zero page, a page-cache (or shmem) page, or an anonymous
// folio. Folios are records with the kernel's rmap fields: mapping (the
// anon_vma) and index (the linear page index); mapcount counts the PTEs that
// map them, so COW after fork is real.

import { Pool } from "./mem";
import * as rm from "./rangemap";

/** PTE values that are not folios (folio handles are pool offsets, far above). */
export const PTE_ZERO: u32 = 1;
export const PTE_PAGECACHE: u32 = 2;

const F_MAPPING: usize = 0;
const F_MAPCOUNT: usize = 4;
const F_INDEX: usize = 8;
const FOLIO_SIZE: usize = 16;

export const folios = new Pool(FOLIO_SIZE);

@inline export function isFolio(pte: u32): bool { return pte > PTE_PAGECACHE; }
@inline export function folioMapping(f: usize): usize { return <usize>load<u32>(f + F_MAPPING); }
@inline export function folioMapcount(f: usize): u32 { return load<u32>(f + F_MAPCOUNT); }
@inline export function folioIndex(f: usize): u64 { return load<u64>(f + F_INDEX); }
@inline export function setFolioMapping(f: usize, a: usize): void { store<u32>(f + F_MAPPING, <u32>a); }

/** A new exclusive anonymous folio (folio_add_new_anon_rmap). Needs folios.reserve(1). */
export function folioNew(anonVma: usize, index: u64): usize {
  let f = folios.alloc();
  store<u32>(f + F_MAPPING, <u32>anonVma);
  store<u32>(f + F_MAPCOUNT, 1);
  store<u64>(f + F_INDEX, index);
  return f;
}

@inline export function folioGet(f: usize): void {
  store<u32>(f + F_MAPCOUNT, folioMapcount(f) + 1);
}

/** Drops one mapping; the last frees the folio. */
export function folioPut(f: usize): void {
  let c = folioMapcount(f) - 1;
  store<u32>(f + F_MAPCOUNT, c);
  if (c == 0) folios.free(f);
}

/** The PTE at `page`, or 0 when none. */
@inline export function pteGet(pt: usize, page: u64): u32 {
  let v = rm.find(pt, page);
  return v < 0 ? 0 : <u32>v;
}

/** Sets the PTE at `page` (an existing one is overwritten, its folio reference dropped). */
export function pteSet(pt: usize, page: u64, pte: u32): void {
  let old = pteGet(pt, page);
  if (old != 0) {
    if (isFolio(old)) folioPut(old);
    rm.update(pt, page, pte);
  } else {
    rm.insert(pt, page, page + 1, pte);
  }
}

// A walk over the present PTEs of a range, in address order (one at a time:
// walks do not nest). Changing the page table outside the range is allowed.
let walkPt: usize = 0;
let walkAt: u64 = 0;
let walkEnd: u64 = 0;
/** The page and PTE the last pteWalkNext() reached. */
export let walkPage: u64 = 0;
export let walkPte: u32 = 0;

export function pteWalk(pt: usize, start: u64, end: u64): void {
  walkPt = pt;
  walkAt = start;
  walkEnd = end;
}

/** Moves to the next present PTE; false at the end of the range. */
export function pteWalkNext(): bool {
  if (walkAt >= walkEnd) return false;
  let v = rm.findNext(walkPt, walkAt);
  if (v < 0) return false;
  let s = load<u64>(rm.FOUND);
  if (s >= walkEnd) return false;
  walkPage = s;
  walkPte = <u32>v;
  walkAt = s + 1;
  return true;
}

/** zap_page_range(): clears the PTEs of [start, end), dropping folio references. */
export function zapRange(pt: usize, start: u64, end: u64): void {
  pteWalk(pt, start, end);
  while (pteWalkNext()) if (isFolio(walkPte)) folioPut(<usize>walkPte);
  rm.erase(pt, start, end);
}

/** Number of anonymous pages mapped in [start, end) (smaps Anonymous / 4 KiB). */
export function anonPages(pt: usize, start: u64, end: u64): u32 {
  let n: u32 = 0;
  pteWalk(pt, start, end);
  while (pteWalkNext()) if (isFolio(walkPte)) n++;
  return n;
}

/** Number of PTEs present in [start, end). */
export function ptesIn(pt: usize, start: u64, end: u64): u32 {
  let n: u32 = 0;
  pteWalk(pt, start, end);
  while (pteWalkNext()) n++;
  return n;
}
