// VMA merging (mm/vma.c, Linux 6.18.8+): vma_merge_new_range() for ranges
// being mapped, vma_merge_existing_range() for ranges whose attributes change,
// the mergeability predicates and commit. All state of one attempt travels in
// `vmg`, the vma_merge_struct.

import { KERNEL_6_12, KERNEL_6_16, since } from "./kernel";
import { anonVmaChainUnion, anonVmaUnshared, avId, chainIsSingular, chainLength, dupAnonVma, unlinkAnonVmas, vmaAdjust } from "./anon_vma";
import { SIDE_NOT_ADJACENT, logBegin, logEnd, mergeLogOn } from "./mergelog";
import { mmPt, vmaStore } from "./mm";
import { ptMoveFolios } from "./pagetable";
import {
  MERGE_EXISTING_BOTH, MERGE_EXISTING_LEFT, MERGE_EXISTING_RIGHT, MERGE_EXPAND, MERGE_FULL, MERGE_NEW_BOTH,
  MERGE_NEW_LEFT, MERGE_NEW_RIGHT, MERGE_PARTIAL, POLICY_CHAIN_UNION_2010, POLICY_LINUX_PRE_616, POLICY_MATENA_2022,
  POLICY_NO_MERGE, POLICY_USER, policyMovesFolios, policyUnionsChains, userMergeable, REFUSE_ANON_DIFFERENT, REFUSE_ANON_FORKED_SOURCE, REFUSE_ANON_FORKED_TARGET, REFUSE_ANON_PREV_NEXT,
  REFUSE_CLOSE_HOOK, REFUSE_FILE, REFUSE_FLAGS, REFUSE_PGOFF, REFUSE_POLICY, REFUSE_SPECIAL, countChainLinks,
  countFoliosMoved, countMerge, countRefusal, policy,
} from "./policy";
import {
  VM_SOFTDIRTY, VM_SPECIAL, vmaAnonVma, vmaChain, vmaEnd, vmaFile, vmaFlags, vmaHasClose, vmaPages, vmaPgoff, vmaStart,
  vmas,
} from "./vma";

/** struct vma_merge_struct (one, for the whole run: unmanaged, like the pools). */
@final @unmanaged
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
  /** mremap growing vmg.prev in place (counted as an expand, not a new-range merge). */
  isExpand: bool = false;
  /** How each side was decided (mergelog.ts SIDE_* or a REFUSE_ reason) and the merge done (MERGE_* or -1). */
  leftResult: i32 = SIDE_NOT_ADJACENT;
  rightResult: i32 = SIDE_NOT_ADJACENT;
  mergeKind: i32 = -1;
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
  vmg.isExpand = false;
  vmg.removeMiddle = false;
  vmg.removeNext = false;
}

/** VMG_VMA_STATE: [start, end) of `vma` with all of vma's attributes. */
export function vmgFromVma(mm: usize, prev: usize, vma: usize, start: u64, end: u64): void {
  vmgNew(mm, prev, 0, start, end, vmaFlags(vma), vmaFile(vma), vmaPgoff(vma) + (start - vmaStart(vma)));
  vmg.middle = vma;
  vmg.anonVma = vmaAnonVma(vma);
}

// Predicates answer OK or the reason the merge is refused (policy.ts).
const OK: i32 = -1;

/** is_mergeable_vma(): flags (but soft-dirty), file, and the attributes vmalab does not model. */
function mergeableVma(vma: usize): i32 {
  if (((vmaFlags(vma) ^ vmg.flags) & ~VM_SOFTDIRTY) != 0) return REFUSE_FLAGS;
  return vmaFile(vma) == vmg.file ? OK : REFUSE_FILE;
}

/** vma_is_fork_child(): faulted, with an anon_vma chain inherited at fork. */
@inline function vmaIsForkChild(vma: usize): bool {
  return vma != 0 && vmaAnonVma(vma) != 0 && !chainIsSingular(vma);
}

/**
 * is_mergeable_anon_vma() of the policy, for the range joining prev or next
 * (the target, whose anon_vma survives when it has one).
 */
function mergeableAnonVma(mergeNext: bool): i32 {
  let tgt = mergeNext ? vmg.next : vmg.prev;
  let tgtAnon = vmaAnonVma(tgt);
  let srcAnon = vmg.anonVma;
  if (policy == POLICY_USER) {
    let src = vmg.middle != 0 ? vmg.middle : vmg.copiedFrom;
    return askUser(mergeNext ? 1 : 0, tgt, src, srcAnon);
  }
  if (policy == POLICY_CHAIN_UNION_2010 || srcAnon == tgtAnon) return OK;
  if (policy == POLICY_LINUX_PRE_616 || !since(KERNEL_6_16)) {
    // <= 6.15: the fork check is on the target, and an unfaulted target's empty chain fails it too.
    if ((srcAnon == 0 || tgtAnon == 0) && chainIsSingular(tgt)) return OK;
    if (srcAnon == 0 || tgtAnon == 0) return REFUSE_ANON_FORKED_TARGET;
    return policy == POLICY_MATENA_2022 && anonVmaUnshared(srcAnon) ? OK : REFUSE_ANON_DIFFERENT;
  }
  // 6.18.8: the fork check is on the VMA whose anon_vma survives.
  // Case 1: tgt will take src's anon_vma (dup_anon_vma).
  if (tgtAnon == 0) {
    return vmaIsForkChild(vmg.middle) || vmaIsForkChild(vmg.copiedFrom) ? REFUSE_ANON_FORKED_SOURCE : OK;
  }
  // Case 2: the range simply uses tgt's anon_vma.
  if (srcAnon == 0) return vmaIsForkChild(tgt) ? REFUSE_ANON_FORKED_TARGET : OK;
  // Case 3: different anon_vmas; matena-2022 moves the absorbed one's folios when nothing shares them.
  return policy == POLICY_MATENA_2022 && anonVmaUnshared(srcAnon) ? OK : REFUSE_ANON_DIFFERENT;
}

/** A user policy's answer for merging `src` (whose anon_vma is srcAnon) into `tgt`. */
function askUser(side: i32, tgt: usize, src: usize, srcAnon: usize): i32 {
  let tgtAnon = vmaAnonVma(tgt);
  let kind = vmg.isExpand ? 2 : vmg.middle != 0 ? 1 : 0;
  let r = userMergeable(side, kind, <f64>vmg.start, <f64>vmg.end, <f64>vmg.pgoff, <f64>vmg.flags, vmg.file,
    <f64>vmaStart(tgt), <f64>vmaEnd(tgt), tgtAnon == 0 ? 0 : avId(tgtAnon), chainLength(tgt), vmaIsForkChild(tgt),
    tgtAnon != 0 && anonVmaUnshared(tgtAnon), srcAnon == 0 ? 0 : avId(srcAnon), src == 0 ? 0 : chainLength(src),
    vmaIsForkChild(src), srcAnon != 0 && anonVmaUnshared(srcAnon));
  if (r < OK || r > REFUSE_POLICY) r = REFUSE_POLICY;
  // Moving folios that fork children share would hide them from rmap: refused whatever the policy said.
  if (r == OK && policyMovesFolios() && srcAnon != 0 && tgtAnon != 0 && srcAnon != tgtAnon && !anonVmaUnshared(srcAnon)) {
    r = REFUSE_ANON_DIFFERENT;
  }
  return r;
}

/** can_vma_merge_before(): the range can join the start of next. */
function canMergeBefore(): i32 {
  let next = vmg.next;
  let r = mergeableVma(next);
  if (r == OK) r = mergeableAnonVma(true);
  if (r == OK && vmaPgoff(next) != vmg.pgoff + (vmg.end - vmg.start)) r = REFUSE_PGOFF;
  return r;
}

/** can_vma_merge_after(): the range can join the end of prev. */
function canMergeAfter(): i32 {
  let prev = vmg.prev;
  let r = mergeableVma(prev);
  if (r == OK) r = mergeableAnonVma(false);
  if (r == OK && vmaPgoff(prev) + vmaPages(prev) != vmg.pgoff) r = REFUSE_PGOFF;
  return r;
}

/** Whether prev is adjacent and the range can join it; a refusal is counted. */
function canMergeLeft(): bool {
  let prev = vmg.prev;
  if (prev == 0 || vmaEnd(prev) != vmg.start) return false;
  let r = canMergeAfter();
  if (r != OK) countRefusal(r);
  vmg.leftResult = r;
  return r == OK;
}

/** Also: merging both sides needs prev's and next's anon_vmas to agree (next's is absorbed into prev). */
function canMergeRight(canMergeLeftToo: bool): bool {
  let next = vmg.next;
  let prev = vmg.prev;
  if (next == 0 || vmg.end != vmaStart(next)) return false;
  let r = canMergeBefore();
  if (r == OK && canMergeLeftToo) {
    let pa = vmaAnonVma(prev);
    let na = vmaAnonVma(next);
    if (policy == POLICY_USER) {
      r = askUser(2, prev, next, na);
    } else {
      let agree = pa == 0 || na == 0 || pa == na || policy == POLICY_CHAIN_UNION_2010 ||
        (policy == POLICY_MATENA_2022 && anonVmaUnshared(na));
      if (!agree) r = REFUSE_ANON_PREV_NEXT;
    }
  }
  if (r != OK) countRefusal(r);
  vmg.rightResult = r;
  return r == OK;
}

/** The no-merge policy (and VM_SPECIAL ranges): every adjacent neighbour is refused for `reason`. */
function refuseAll(reason: i32, checkPrev: bool, checkNext: bool): usize {
  if (checkPrev && vmg.prev != 0 && vmaEnd(vmg.prev) == vmg.start) refuse(true, reason);
  if (checkNext && vmg.next != 0 && vmaStart(vmg.next) == vmg.end) refuse(false, reason);
  return 0;
}

/** A side that could merge is refused after all (close hooks). */
function refuse(left: bool, reason: i32): void {
  countRefusal(reason);
  if (left) vmg.leftResult = reason;
  else vmg.rightResult = reason;
}

/** Counts the merge and records its kind for the log. */
function merged(kind: i32): void {
  countMerge(kind);
  vmg.mergeKind = kind;
}

/**
 * The target takes over [lo, hi) of `src` (a VMA it absorbs, wholly or in
 * part, or the mremap source): dup_anon_vma() when it has no anon_vma yet;
 * otherwise matena-2022 moves src's folios there to its anon_vma and
 * chain-union-2010 links it to every anon_vma src links to.
 */
function absorbAnonVma(target: usize, src: usize, lo: u64, hi: u64): void {
  let ta = vmaAnonVma(target);
  let sa = vmaAnonVma(src);
  if (ta == 0) {
    dupAnonVma(target, src);
  } else if (sa != 0 && policyUnionsChains()) {
    // Even with the same anon_vma: an earlier union may have given src links target lacks.
    countChainLinks(anonVmaChainUnion(target, src));
  } else if (sa != 0 && sa != ta && policyMovesFolios()) {
    countFoliosMoved(ptMoveFolios(mmPt(vmg.mm), lo, hi, sa, ta));
  }
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
  if (removeNext) absorbAnonVma(target, next, vmaStart(next), vmaEnd(next));
  // The mremap source's pages arrive after the merge (mremap.ts moves their folios).
  if (vmg.copiedFrom != 0) absorbAnonVma(target, vmg.copiedFrom, 0, 0);
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
  let log = mergeLogOn();
  if (log) logBegin(vmg.isExpand ? 2 : 0, vmg.prev, 0, vmg.next, vmg.start, vmg.end, vmg.anonVma, vmg.pgoff, vmg.flags, vmg.file);
  resetResults();
  let r = mergeNewRange();
  if (log) logEnd(vmg.mergeKind, vmg.leftResult, vmg.rightResult);
  return r;
}

function resetResults(): void {
  vmg.leftResult = SIDE_NOT_ADJACENT;
  vmg.rightResult = SIDE_NOT_ADJACENT;
  vmg.mergeKind = -1;
}

function mergeNewRange(): usize {
  let prev = vmg.prev;
  let next = vmg.next;
  let end = vmg.end;
  if (policy == POLICY_NO_MERGE) {
    // Growing one VMA in place (mremap) is no merge: no-merge allows that alone.
    if (!vmg.isExpand) return refuseAll(REFUSE_POLICY, true, !vmg.justExpand);
    refuseAll(REFUSE_POLICY, false, true);
    vmg.justExpand = true;
  }
  if ((vmg.flags & VM_SPECIAL) != 0) return refuseAll(REFUSE_SPECIAL, true, !vmg.justExpand);
  let left: bool;
  let right: bool;
  if (!since(KERNEL_6_12) && !vmg.isExpand && vmg.copiedFrom == 0) {
    // 6.1's mmap_region(): next first; then prev, with next's anon_vma when next merges,
    // so that both merge only when their anon_vmas agree, and else next alone:
    //
    //   PPPP****NNNN  (P and N faulted apart)   6.1: PPPPNNNNNNNN   6.12: PPPPPPPPNNNN
    right = canMergeRight(false);
    let own = vmg.anonVma;
    if (right) vmg.anonVma = vmaAnonVma(next);
    left = canMergeLeft();
    vmg.anonVma = own;
  } else {
    left = canMergeLeft();
    right = !vmg.justExpand && canMergeRight(left);
  }
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
      right = false;
      refuse(false, REFUSE_CLOSE_HOOK);
    }
  }
  if (vmg.target == 0) return 0;
  merged(vmg.isExpand ? MERGE_EXPAND : left && right ? MERGE_NEW_BOTH : left ? MERGE_NEW_LEFT : MERGE_NEW_RIGHT);
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
  let log = mergeLogOn();
  if (log) {
    let middle = vmg.middle;
    let prev: usize = vmg.prev == middle ? 0 : vmg.prev;
    let next = vmg.end == vmaEnd(middle) ? nextOfMiddle : 0;
    logBegin(1, prev, middle, next, vmg.start, vmg.end, vmg.anonVma, vmg.pgoff, vmg.flags, vmg.file);
  }
  resetResults();
  let r = mergeExistingRange(nextOfMiddle);
  if (log) logEnd(vmg.mergeKind, vmg.leftResult, vmg.rightResult);
  return r;
}

function mergeExistingRange(nextOfMiddle: usize): usize {
  let middle = vmg.middle;
  let prev = vmg.prev;
  let start = vmg.start;
  let end = vmg.end;
  let leftSide = start == vmaStart(middle);
  let rightSide = end == vmaEnd(middle);
  if (!leftSide && !rightSide) return 0;
  if (rightSide) vmg.next = nextOfMiddle;
  if (policy == POLICY_NO_MERGE) return refuseAll(REFUSE_POLICY, leftSide, rightSide);
  if ((vmg.flags & VM_SPECIAL) != 0) return refuseAll(REFUSE_SPECIAL, leftSide, rightSide);

  let mergeLeft = leftSide && canMergeLeft();
  let mergeRight = false;
  let next: usize = 0;
  if (rightSide) {
    next = nextOfMiddle;
    mergeRight = canMergeRight(mergeLeft);
  }
  if (!mergeLeft && !mergeRight) return 0;

  let mergeBoth = mergeLeft && mergeRight;
  vmg.removeMiddle = leftSide && rightSide;
  // Middle with a close hook cannot be removed: no merge at all.
  if (vmg.removeMiddle && vmaHasClose(middle)) {
    refuse(mergeLeft, REFUSE_CLOSE_HOOK);
    if (mergeLeft && mergeRight) vmg.rightResult = REFUSE_CLOSE_HOOK;
    return 0;
  }
  vmg.removeNext = mergeBoth;
  // Next with a close hook cannot be removed: merge left only.
  if (vmg.removeNext && vmaHasClose(next)) {
    vmg.removeNext = false;
    mergeRight = false;
    mergeBoth = false;
    refuse(false, REFUSE_CLOSE_HOOK);
  }
  merged(mergeBoth ? MERGE_EXISTING_BOTH : mergeLeft ? MERGE_EXISTING_LEFT : MERGE_EXISTING_RIGHT);
  countMerge(vmg.removeMiddle ? MERGE_FULL : MERGE_PARTIAL);
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
    absorbAnonVma(prev, next, vmaStart(next), vmaEnd(next));
    absorbAnonVma(prev, middle, start, end);
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
    absorbAnonVma(prev, middle, start, end);
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
    absorbAnonVma(next, middle, start, end);
  }
  commitMerge(adjust, adjustStart);
  return vmg.target;
}
