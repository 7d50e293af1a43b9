// VMA merging (mm/vma.c, Linux 6.18.8+): vma_merge_new_range() for ranges
// being mapped, vma_merge_existing_range() for ranges whose attributes change,
// the mergeability predicates and commit. All state of one attempt travels in
// `vmg`, the vma_merge_struct.

import { chainIsSingular, dupAnonVma, unlinkAnonVmas, vmaAdjust } from "./anon_vma";
import { vmaStore } from "./mm";
import {
  VM_SOFTDIRTY, VM_SPECIAL, vmaAnonVma, vmaChain, vmaEnd, vmaFile, vmaFlags, vmaHasClose, vmaPages, vmaPgoff, vmaStart,
  vmas,
} from "./vma";

/** struct vma_merge_struct. */
@final
export class VmaMergeStruct {
  mm: usize = 0;
  prev: usize = 0;
  middle: usize = 0;
  next: usize = 0;
  target: usize = 0;
  start: u64 = 0;
  end: u64 = 0;
  pgoff: u64 = 0;
  flags: u64 = 0;
  file: u32 = 0;
  anonVma: usize = 0;
  /** mremap's source VMA (6.18.8 copied_from). */
  copiedFrom: usize = 0;
  justExpand: bool = false;
  removeMiddle: bool = false;
  removeNext: bool = false;
}

export const vmg = new VmaMergeStruct();

/** VMG_STATE / VMG_MMAP_STATE: a new range with no anon_vma. */
export function vmgNew(mm: usize, prev: usize, next: usize, start: u64, end: u64, flags: u64, file: u32, pgoff: u64): void {
  vmg.mm = mm;
  vmg.prev = prev;
  vmg.middle = 0;
  vmg.next = next;
  vmg.target = 0;
  vmg.start = start;
  vmg.end = end;
  vmg.pgoff = pgoff;
  vmg.flags = flags;
  vmg.file = file;
  vmg.anonVma = 0;
  vmg.copiedFrom = 0;
  vmg.justExpand = false;
  vmg.removeMiddle = false;
  vmg.removeNext = false;
}

/** VMG_VMA_STATE: [start, end) of `vma` with all of vma's attributes. */
export function vmgFromVma(mm: usize, prev: usize, vma: usize, start: u64, end: u64): void {
  vmgNew(mm, prev, 0, start, end, vmaFlags(vma), vmaFile(vma), vmaPgoff(vma) + (start - vmaStart(vma)));
  vmg.middle = vma;
  vmg.anonVma = vmaAnonVma(vma);
}

/** is_mergeable_vma(): flags (but soft-dirty), file, and the attributes vmalab does not model. */
function isMergeableVma(vma: usize): bool {
  return ((vmaFlags(vma) ^ vmg.flags) & ~VM_SOFTDIRTY) == 0 && vmaFile(vma) == vmg.file;
}

/** vma_is_fork_child(): faulted, with an anon_vma chain inherited at fork. */
@inline function vmaIsForkChild(vma: usize): bool {
  return vma != 0 && vmaAnonVma(vma) != 0 && !chainIsSingular(vma);
}

/**
 * is_mergeable_anon_vma() (6.18.8): the fork-child check applies to the VMA
 * whose anon_vma survives the merge.
 */
function isMergeableAnonVma(mergeNext: bool): bool {
  let tgt = mergeNext ? vmg.next : vmg.prev;
  let tgtAnon = vmaAnonVma(tgt);
  let srcAnon = vmg.anonVma;
  // Case 1: tgt will take src's anon_vma (dup_anon_vma).
  if (tgtAnon == 0 && srcAnon != 0) return !vmaIsForkChild(vmg.middle) && !vmaIsForkChild(vmg.copiedFrom);
  // Case 2: the range simply uses tgt's anon_vma.
  if (tgtAnon != 0 && srcAnon == 0) return !vmaIsForkChild(tgt);
  // Case 3: both share one (or neither has any).
  return srcAnon == tgtAnon;
}

/** can_vma_merge_before(): the range can join the start of next. */
function canMergeBefore(): bool {
  let next = vmg.next;
  if (!isMergeableVma(next) || !isMergeableAnonVma(true)) return false;
  return vmaPgoff(next) == vmg.pgoff + (vmg.end - vmg.start);
}

/** can_vma_merge_after(): the range can join the end of prev. */
function canMergeAfter(): bool {
  let prev = vmg.prev;
  if (!isMergeableVma(prev) || !isMergeableAnonVma(false)) return false;
  return vmaPgoff(prev) + vmaPages(prev) == vmg.pgoff;
}

function canMergeLeft(): bool {
  let prev = vmg.prev;
  return prev != 0 && vmaEnd(prev) == vmg.start && canMergeAfter();
}

/** Also: merging both sides needs prev's and next's anon_vmas to agree. */
function canMergeRight(canMergeLeftToo: bool): bool {
  let next = vmg.next;
  let prev = vmg.prev;
  if (next == 0 || vmg.end != vmaStart(next) || !canMergeBefore()) return false;
  if (!canMergeLeftToo) return true;
  let pa = vmaAnonVma(prev);
  let na = vmaAnonVma(next);
  return pa == 0 || na == 0 || pa == na;
}

/**
 * commit_merge(): removes the swallowed VMAs, moves the start of a middle
 * that prev grew over part of (`adjust`), and gives the target its new range
 * and pgoff. Storing the target over its range cuts whatever VMA it now
 * overlaps, as vma_iter_store() does.
 */
function commitMerge(adjust: usize, adjustStart: u64): void {
  let mm = vmg.mm;
  let target = vmg.target;
  if (vmg.removeMiddle) vmaRemoveMerged(mm, vmg.middle);
  if (vmg.removeNext) vmaRemoveMerged(mm, vmg.next);
  if (adjust != 0) {
    vmaAdjust(adjust, adjustStart, vmaEnd(adjust), vmaPgoff(adjust) + (adjustStart - vmaStart(adjust)));
  }
  vmaAdjust(target, vmg.start, vmg.end, vmg.pgoff);
  vmaStore(mm, target);
}

/**
 * A VMA swallowed by a merge: anon_vma_merge() unlinks it, then it is freed.
 * Its tree entry goes when the target is stored over its range.
 */
function vmaRemoveMerged(mm: usize, vma: usize): void {
  if (vmaChain(vma) != 0) unlinkAnonVmas(vma);
  vmas.free(vma);
}

/**
 * vma_expand(): grows the target over [vmg.start, vmg.end), removing next if
 * the range swallows it; the target takes an anon_vma from next or from the
 * mremap source when it has none (dup_anon_vma).
 */
function vmaExpand(): void {
  let target = vmg.target;
  let next = vmg.next;
  let removeNext = next != 0 && target != next && vmg.end == vmaEnd(next);
  if (removeNext) dupAnonVma(target, next);
  if (vmg.copiedFrom != 0) dupAnonVma(target, vmg.copiedFrom);
  vmg.removeNext = removeNext;
  vmg.removeMiddle = false;
  commitMerge(0, 0);
}

/**
 * vma_merge_new_range(): the range [start, end) is about to be mapped (mmap,
 * brk, mremap's copy_vma) between vmg.prev and vmg.next. Returns the VMA that
 * now covers it, or 0 when it merges with neither.
 *
 *   PPPP****NNNN   ->  PPPPPPPPPPPP  both (next removed)
 *   PPPP****       ->  PPPPPPPP      left
 *       ****NNNN   ->      NNNNNNNN  right (next grows down, takes the pgoff)
 */
export function vmaMergeNewRange(): usize {
  let prev = vmg.prev;
  let next = vmg.next;
  let end = vmg.end;
  if ((vmg.flags & VM_SPECIAL) != 0 || (prev == 0 && next == 0)) return 0;
  let left = canMergeLeft();
  let right = !vmg.justExpand && canMergeRight(left);
  if (right) {
    vmg.end = vmaEnd(next);
    vmg.target = next;
  }
  if (left) {
    vmg.start = vmaStart(prev);
    vmg.target = prev;
    vmg.pgoff = vmaPgoff(prev);
    // A next with a close hook may grow but not be removed: merge left only.
    if (right && vmaHasClose(next)) {
      vmg.end = end;
    }
  }
  if (vmg.target == 0) return 0;
  vmaExpand();
  return vmg.target;
}

/**
 * vma_merge_existing_range(): [start, end) of vmg.middle changes attributes
 * (mprotect, madvise, ...). Merges it into prev and/or next when they match
 * what it becomes; returns the VMA covering [start, end), or 0 (NOMERGE).
 * vmg.prev is the VMA before middle, or middle itself when start is inside it.
 */
export function vmaMergeExistingRange(nextOfMiddle: usize): usize {
  let middle = vmg.middle;
  let prev = vmg.prev;
  let start = vmg.start;
  let end = vmg.end;
  let leftSide = start == vmaStart(middle);
  let rightSide = end == vmaEnd(middle);
  if ((vmg.flags & VM_SPECIAL) != 0 || (!leftSide && !rightSide)) return 0;

  let mergeLeft = leftSide && canMergeLeft();
  let mergeRight = false;
  let next: usize = 0;
  if (rightSide) {
    next = vmg.next = nextOfMiddle;
    mergeRight = canMergeRight(mergeLeft);
  }
  if (!mergeLeft && !mergeRight) return 0;

  let mergeBoth = mergeLeft && mergeRight;
  vmg.removeMiddle = leftSide && rightSide;
  // Middle with a close hook cannot be removed: no merge at all.
  if (vmg.removeMiddle && vmaHasClose(middle)) {
    return 0;
  }
  vmg.removeNext = mergeBoth;
  // Next with a close hook cannot be removed: merge left only.
  if (vmg.removeNext && vmaHasClose(next)) {
    vmg.removeNext = false;
    mergeRight = false;
    mergeBoth = false;
  }
  if (mergeRight) vmg.target = next;
  if (mergeLeft) vmg.target = prev;

  let adjust: usize = 0;
  let adjustStart: u64 = 0;
  if (mergeBoth) {
    // |<-------------------->|
    // |-------********-------|
    //   prev   middle   next
    //  extend  delete  delete
    vmg.start = vmaStart(prev);
    vmg.end = vmaEnd(next);
    vmg.pgoff = vmaPgoff(prev);
    dupAnonVma(prev, vmaAnonVma(next) != 0 ? next : middle);
  } else if (mergeLeft) {
    // |<------------>|      OR
    // |<----------------->|
    // |-------*************
    //   prev     middle
    //  extend shrink/delete
    vmg.start = vmaStart(prev);
    vmg.pgoff = vmaPgoff(prev);
    if (!vmg.removeMiddle) {
      adjust = middle;
      adjustStart = end;
    }
    dupAnonVma(prev, middle);
  } else {
    //     |<------------->| OR
    // |<----------------->|
    // *************-------|
    //    middle     next
    // shrink/delete extend
    let pglen = end - start;
    if (vmg.removeMiddle) {
      vmg.end = vmaEnd(next);
      vmg.pgoff = vmaPgoff(next) - pglen;
    } else {
      // Middle keeps [middle.start, start); next grows down to start.
      vmg.end = vmaEnd(next);
      vmg.pgoff = vmaPgoff(next) - (vmaStart(next) - start);
      vmaAdjust(middle, vmaStart(middle), start, vmaPgoff(middle));
    }
    dupAnonVma(next, middle);
  }
  commitMerge(adjust, adjustStart);
  return vmg.target;
}
