// Anonymous folios: records with the kernel's rmap fields, mapping (the
// anon_vma) and index (the linear page index), and a mapcount of the PTEs that
// map them, so COW after fork is real. Order is 0 for now; the field is there
// for large folios.

import { avAddFolios } from "./anon_vma";
import { Pool } from "./mem";

const F_MAPPING: usize = 0;
const F_MAPCOUNT: usize = 4;
const F_INDEX: usize = 8;
// Byte 16: the order (0 for now: every folio is one page), room for large folios.
const FOLIO_SIZE: usize = 20;

export const folios = new Pool(FOLIO_SIZE);

@inline export function folioMapping(f: usize): usize { return <usize>load<u32>(f + F_MAPPING); }
@inline export function folioMapcount(f: usize): u32 { return load<u32>(f + F_MAPCOUNT); }
@inline export function folioIndex(f: usize): u64 { return load<u64>(f + F_INDEX); }

/** folio_move_anon_rmap(): an exclusive folio now belongs to anon_vma a. */
export function setFolioMapping(f: usize, a: usize): void {
  avAddFolios(folioMapping(f), -1);
  avAddFolios(a, 1);
  store<u32>(f + F_MAPPING, <u32>a);
}

/** A moved folio's new linear page index (matena-2022's pgoff update after mremap). */
@inline export function setFolioIndex(f: usize, index: u64): void { store<u64>(f + F_INDEX, index); }

/** A new exclusive anonymous folio (folio_add_new_anon_rmap). Needs folios.reserve(1). */
export function folioNew(anonVma: usize, index: u64): usize {
  let f = folios.alloc();
  store<u32>(f + F_MAPPING, <u32>anonVma);
  store<u32>(f + F_MAPCOUNT, 1);
  store<u64>(f + F_INDEX, index);
  avAddFolios(anonVma, 1);
  return f;
}

@inline export function folioGet(f: usize): void {
  store<u32>(f + F_MAPCOUNT, folioMapcount(f) + 1);
}

/** Drops one mapping; the last frees the folio. */
export function folioPut(f: usize): void {
  let c = folioMapcount(f) - 1;
  store<u32>(f + F_MAPCOUNT, c);
  if (c != 0) return;
  avAddFolios(folioMapping(f), -1);
  folios.free(f);
}
