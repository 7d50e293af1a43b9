// mremap (mm/mremap.c, Linux 6.18.8+): shrink, grow in place, move
// (MAYMOVE/FIXED, DONTUNMAP) and the 6.17 move of a range spanning VMAs.

import { EFAULT, EINVAL, ENOMEM } from "./errno";
import { KERNEL_6_17, since } from "./kernel";
import { anonVmaClone, anonVmaUnshared, unlinkAnonVmas } from "./anon_vma";
import { ptCount, ptMove, ptMoveFolios, ptReindexFolios, ptSharesFolios } from "./pagetable";
import { POLICY_MATENA_2022, countFoliosMoved, policy } from "./policy";
import { vmaMergeNewRange, vmg, vmgFromVma } from "./merge";
import {
  findVma, getUnmappedArea, mmPt, munmapRange, needRange, reserveNeeds, vmaBefore, vmaLookup,
  vmaNext, vmaStore,
} from "./mm";
import * as rm from "./rangemap";
import {
  VM_DONTEXPAND, VM_LOCKED_MASK, VM_MAYSHARE, VM_PFNMAP, vmaAnonVma, vmaChain, vmaDup, vmaEnd, vmaFlags, vmaIsAnonymous,
  vmaPgoff, vmaStart, setVmaAnonVma, setVmaEnd, setVmaFlags, setVmaPgoff, setVmaStart,
} from "./vma";

export const MREMAP_MAYMOVE: u32 = 1;
export const MREMAP_FIXED: u32 = 2;
export const MREMAP_DONTUNMAP: u32 = 4;

/**
 * copy_vma(): a VMA like `vma` for [addr, addr + len) whose pages start at
 * pgoff, merged with the neighbours there when it can be (the source is
 * vmg.copiedFrom), else a new VMA sharing vma's anon_vma and chain.
 */
function copyVma(mm: usize, vma: usize, addr: u64, len: u64, pgoff: u64): usize {
  // An unfaulted anonymous VMA takes its pgoff from where it lands.
  if (vmaIsAnonymous(vma) && vmaAnonVma(vma) == 0) pgoff = addr;
  vmgFromVma(mm, vmaBefore(mm, addr), vma, vmaStart(vma), vmaEnd(vma));
  vmg.start = addr;
  vmg.end = addr + len;
  vmg.pgoff = pgoff;
  vmg.middle = 0;
  vmg.copiedFrom = vma;
  vmg.next = findVma(mm, addr);
  let merged = vmaMergeNewRange();
  if (merged != 0) return merged;
  let n = vmaDup(vma);
  setVmaStart(n, addr);
  setVmaEnd(n, addr + len);
  setVmaPgoff(n, pgoff);
  setVmaAnonVma(n, vmaAnonVma(vma));
  anonVmaClone(n, vma, false);
  vmaStore(mm, n);
  return n;
}

/**
 * move_vma(): [old, old + oldLen) of vma moves to [to, to + newLen) (the
 * destination is free). The old range is unmapped, or with DONTUNMAP left in
 * place empty (unfaulted when the whole VMA moved).
 */
function moveVma(mm: usize, vma: usize, old: u64, oldLen: u64, to: u64, newLen: u64, dontunmap: bool): void {
  let wholeVma = old == vmaStart(vma) && old + oldLen == vmaEnd(vma);
  let pgoff = vmaPgoff(vma) + (old - vmaStart(vma));
  let pt = mmPt(mm);
  let av = vmaAnonVma(vma);
  // matena-2022: a faulted anonymous VMA nothing shares takes its pgoff from
  // where it lands, as an unfaulted one does, so it can merge there.
  let rebase = policy == POLICY_MATENA_2022 && vmaIsAnonymous(vma) && av != 0 && anonVmaUnshared(av) &&
    !ptSharesFolios(pt, old, old + oldLen);
  let moved = copyVma(mm, vma, to, newLen, rebase ? to : pgoff);
  ptMove(pt, old, to, oldLen); // folios keep mapping and index...
  if (policy == POLICY_MATENA_2022) {
    // ... but matena-2022 rewrites the index of rebased ones and the mapping of ones merged into another anon_vma.
    let n: u32 = 0;
    if (rebase) n = ptReindexFolios(pt, to, to + oldLen, vmaPgoff(moved) + (to - vmaStart(moved)));
    let ma = vmaAnonVma(moved);
    if (av != 0 && ma != 0 && ma != av) n = max(n, ptMoveFolios(pt, to, to + oldLen, av, ma));
    countFoliosMoved(n);
  }
  if (!dontunmap) {
    munmapRange(mm, old, old + oldLen);
    return;
  }
  // dontunmap_complete(): the old VMA stays, unlocked; emptied if it all moved.
  setVmaFlags(vma, vmaFlags(vma) & ~VM_LOCKED_MASK);
  if (wholeVma && moved != vma && vmaChain(vma) != 0) unlinkAnonVmas(vma);
}

/** True when [start, end) holds no VMA. */
function rangeFree(mm: usize, start: u64, end: u64): bool {
  let v = findVma(mm, start);
  return v == 0 || vmaStart(v) >= end;
}

/**
 * mremap(addr, oldLen, newLen, flags, newAddr). Returns the new address or a
 * negated errno. MREMAP_MAYMOVE without MREMAP_FIXED moves the VMA where
 * get_unmapped_area() finds room when it cannot grow in place.
 */
export function mremap(mm: usize, addr: u64, oldLen: u64, newLen: u64, flags: u32, newAddr: u64): i64 {
  if ((flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) != 0) return EINVAL;
  let fixed = (flags & MREMAP_FIXED) != 0;
  let dontunmap = (flags & MREMAP_DONTUNMAP) != 0;
  if ((fixed || dontunmap) && (flags & MREMAP_MAYMOVE) == 0) return EINVAL;
  if (dontunmap && oldLen != newLen) return EINVAL;
  if (newLen == 0) return EINVAL;
  if (!since(KERNEL_6_17)) return mremapBefore617(mm, addr, oldLen, newLen, flags, newAddr);
  if (fixed && newAddr < addr + oldLen && addr < newAddr + newLen) return EINVAL;
  let vma = vmaLookup(mm, addr);
  if (vma == 0) return EFAULT;
  // The source range, a destination as long as it could be, and the PTEs that move.
  needRange(mm, addr, addr + max(oldLen, newLen));
  if (fixed) needRange(mm, newAddr, newAddr + newLen);
  if (!reserveNeeds(mm, ptCount(mmPt(mm), addr, addr + oldLen, false), oldLen)) return ENOMEM;

  // 6.17+: a FIXED move of unchanged size goes VMA by VMA, and may span several.
  if (fixed && oldLen == newLen) return moveRange(mm, addr, oldLen, newAddr, dontunmap);
  // What moves or grows (the old range after a shrink) must lie in one VMA;
  // a plain shrink just unmaps the tail, wherever it ends.
  if ((fixed || newLen > oldLen) && min(oldLen, newLen) > vmaEnd(vma) - addr) return EFAULT;
  if (newLen > oldLen && (vmaFlags(vma) & (VM_DONTEXPAND | VM_PFNMAP)) != 0) return EFAULT;

  if (fixed) {
    munmapRange(mm, newAddr, newAddr + newLen);
    if (oldLen > newLen) {
      munmapRange(mm, addr + newLen, addr + oldLen);
      oldLen = newLen;
    }
    moveVma(mm, vmaLookup(mm, addr), addr, oldLen, newAddr, newLen, dontunmap);
    return <i64>newAddr;
  }
  if (oldLen >= newLen) {
    if (oldLen > newLen) munmapRange(mm, addr + newLen, addr + oldLen);
    return <i64>addr;
  }
  return growOrMove(mm, vma, addr, oldLen, newLen, flags);
}

/** A growing mremap of [addr, addr + oldLen) in vma: in place when the pages above are free, else (MAYMOVE) moved where there is room. */
function growOrMove(mm: usize, vma: usize, addr: u64, oldLen: u64, newLen: u64, flags: u32): i64 {
  // Grow in place when the range ends the VMA and the pages above are free.
  let delta = newLen - oldLen;
  if (addr + oldLen == vmaEnd(vma) && rangeFree(mm, vmaEnd(vma), vmaEnd(vma) + delta)) {
    vmgFromVma(mm, vma, vma, vmaEnd(vma), vmaEnd(vma) + delta);
    vmg.middle = 0;
    vmg.isExpand = true;
    vmg.next = vmaNext(mm, vma);
    if (vmaMergeNewRange() != 0) return <i64>addr;
  }
  if ((flags & MREMAP_MAYMOVE) == 0) return ENOMEM;
  // Move it where get_unmapped_area() puts a new mapping of newLen.
  let to = getUnmappedArea(mm, newLen, vmaIsAnonymous(vma) && (vmaFlags(vma) & VM_MAYSHARE) == 0);
  if (to == rm.PAGE_END) return ENOMEM;
  moveVma(mm, vma, addr, oldLen, to, newLen, false);
  return <i64>to;
}

/**
 * mremap() before 6.17: the VMA at addr is looked up first (EFAULT); a move
 * (mremap_to()) then checks the overlap, unmaps the destination and a
 * shrink's tail, and only then finds that the range crosses the VMA's end
 * (vma_to_resize(): EFAULT, what it unmapped staying unmapped). A range
 * spanning VMAs never moves.
 *
 *   mremap 223 29 25 fixed=55, with a VMA [222, 231) at 223:
 *   6.12: [55, 80) unmapped, then EFAULT     6.18: EFAULT, nothing changed
 */
function mremapBefore617(mm: usize, addr: u64, oldLen: u64, newLen: u64, flags: u32, newAddr: u64): i64 {
  let fixed = (flags & MREMAP_FIXED) != 0;
  let dontunmap = (flags & MREMAP_DONTUNMAP) != 0;
  let vma = vmaLookup(mm, addr);
  if (vma == 0) return EFAULT;
  if (fixed && newAddr < addr + oldLen && addr < newAddr + newLen) return EINVAL;
  needRange(mm, addr, addr + max(oldLen, newLen));
  if (fixed) needRange(mm, newAddr, newAddr + newLen);
  if (!reserveNeeds(mm, ptCount(mmPt(mm), addr, addr + oldLen, false), oldLen)) return ENOMEM;
  if (fixed) {
    munmapRange(mm, newAddr, newAddr + newLen);
    if (oldLen > newLen) {
      munmapRange(mm, addr + newLen, addr + oldLen);
      oldLen = newLen;
    }
  } else if (oldLen >= newLen) {
    if (oldLen > newLen) munmapRange(mm, addr + newLen, addr + oldLen);
    return <i64>addr;
  }
  // vma_to_resize()
  vma = vmaLookup(mm, addr);
  if (vma == 0) return EFAULT;
  if (oldLen > vmaEnd(vma) - addr) return EFAULT;
  if (newLen > oldLen && (vmaFlags(vma) & (VM_DONTEXPAND | VM_PFNMAP)) != 0) return EFAULT;
  if (fixed) {
    moveVma(mm, vma, addr, oldLen, newAddr, newLen, dontunmap);
    return <i64>newAddr;
  }
  return growOrMove(mm, vma, addr, oldLen, newLen, flags);
}

/**
 * remap_move(): each VMA of [addr, addr + len) moves to the same offset from
 * `to`, replacing only what lies where it lands: the destination under the
 * source's gaps is left as it was.
 */
function moveRange(mm: usize, addr: u64, len: u64, to: u64, dontunmap: bool): i64 {
  let at = addr;
  while (at < addr + len) {
    let vma = findVma(mm, at);
    if (vma == 0 || vmaStart(vma) >= addr + len) break;
    let s = max(vmaStart(vma), at);
    let e = min(vmaEnd(vma), addr + len);
    let dst = to + (s - addr);
    munmapRange(mm, dst, dst + (e - s));
    moveVma(mm, findVma(mm, s), s, e - s, dst, e - s, dontunmap);
    at = e;
  }
  return <i64>to;
}
