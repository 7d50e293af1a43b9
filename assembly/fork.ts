// fork (dup_mmap) and exit (exit_mmap).

import { anonVmaFork, chainLength, reserveAnon } from "./anon_vma";
import { beginReservedOp } from "./mem";
import { findVma, mmBase, mmCreate, mmFree, mmMap, mmPt, vmaNext, vmaStore, vmaUnmapWhole } from "./mm";
import { ptCopy, ptReserve, ptTables } from "./pagetable";
import * as rm from "./rangemap";
import {
  VM_DONTCOPY, VM_LOCKED_MASK, VM_MIXEDMAP, VM_PFNMAP, VM_WIPEONFORK, vmaAnonVma, vmaDup, vmaEnd, vmaFlags,
  vmaStart, vmas, setVmaFlags, setVmaMm,
} from "./vma";

/** With 7a3ef208e662: fork reuses an idle ancestor anon_vma instead of allocating one. */
export let forkReuse = true;
export function setForkReuse(on: bool): void {
  forkReuse = on;
}

/** vma_needs_copy(): page tables are copied only where a fault could not rebuild them. */
@inline function vmaNeedsCopy(src: usize): bool {
  return (vmaFlags(src) & (VM_PFNMAP | VM_MIXEDMAP)) != 0 || vmaAnonVma(src) != 0;
}

/**
 * dup_mmap(): the child gets a copy of every VMA but VM_DONTCOPY ones, linked
 * to the parent's anon_vmas by anon_vma_fork (WIPEONFORK VMAs start
 * unfaulted and empty), and shares the parent's anonymous pages.
 * Returns the child's mm, or 0 when memory is exhausted (nothing changed).
 */
export function forkMm(parent: usize, childId: u32): usize {
  let n = rm.mapSize(mmMap(parent));
  let links: u32 = 0;
  for (let v = findVma(parent, 0); v != 0; v = vmaNext(parent, v)) links += chainLength(v) + 1;
  let tables = ptTables(mmPt(parent));
  if (!vmas.reserve(n) || !reserveAnon(links, n)) return 0;
  let child = mmCreate(childId, mmBase(parent));
  if (child == 0) return 0;
  if (!rm.reserveNodes(mmMap(child), n) || !ptReserve(mmPt(child), tables)) {
    mmFree(child);
    return 0;
  }
  beginReservedOp();
  for (let v = findVma(parent, 0); v != 0; v = vmaNext(parent, v)) {
    let flags = vmaFlags(v);
    if ((flags & VM_DONTCOPY) != 0) continue;
    let tmp = vmaDup(v);
    setVmaMm(tmp, child);
    setVmaFlags(tmp, flags & ~VM_LOCKED_MASK);
    vmaStore(child, tmp);
    if ((flags & VM_WIPEONFORK) != 0) continue;
    anonVmaFork(tmp, v, forkReuse);
    if (vmaNeedsCopy(v)) ptCopy(mmPt(parent), mmPt(child), vmaStart(v), vmaEnd(v)); // anonymous folios become shared (COW)
  }
  return child;
}

/** exit_mmap(): unmaps every VMA and frees the address space. */
export function exitMm(mm: usize): void {
  let v = findVma(mm, 0);
  while (v != 0) {
    let next = vmaNext(mm, v);
    vmaUnmapWhole(mm, v);
    v = next;
  }
  mmFree(mm);
}
