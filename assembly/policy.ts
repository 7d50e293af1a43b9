// Merge policies (README: Merge policies) and what merging did: merges by kind, refused
// merges by reason, splits, and what a policy's merges cost.
//
// A policy changes two things in merge.ts: whether the anon_vmas of a
// proposed merge allow it, and what the merge does when the survivor's
// anon_vma differs from the absorbed VMA's.

export const POLICY_LINUX_618: i32 = 0;
/** list_is_singular() on the target's chain: the 15-year refusal of unfaulted targets. */
export const POLICY_LINUX_PRE_616: i32 = 1;
/** 6.18, and different anon_vmas merge when the absorbed one is an unshared root: its folios move. */
export const POLICY_MATENA_2022: i32 = 2;
/** Merge whatever the anon_vmas; the survivor's chain becomes the union of both. */
export const POLICY_CHAIN_UNION_2010: i32 = 3;
export const POLICY_NO_MERGE: i32 = 4;
/** A policy written in TypeScript: the anon_vma decision is asked of JavaScript (user_mergeable). */
export const POLICY_USER: i32 = 5;

/** What a user policy's merges of different anon_vmas do. */
export const USER_MOVE_FOLIOS: i32 = 0;
export const USER_UNION_CHAINS: i32 = 1;

export let policy: i32 = POLICY_LINUX_618;
let userAction: i32 = USER_UNION_CHAINS;
export function setPolicy(p: i32, action: i32): void {
  policy = p;
  userAction = action;
}

/** The survivor of a merge of different anon_vmas takes the absorbed one's folios. */
@inline export function policyMovesFolios(): bool {
  return policy == POLICY_MATENA_2022 || (policy == POLICY_USER && userAction == USER_MOVE_FOLIOS);
}

/** The survivor of a merge links to every anon_vma the absorbed VMA links to (chains may span roots). */
@inline export function policyUnionsChains(): bool {
  return policy == POLICY_CHAIN_UNION_2010 || (policy == POLICY_USER && userAction == USER_UNION_CHAINS);
}

/**
 * The JavaScript side of a user policy, asked (as the kernel checks, after
 * flags and file, before pgoff) whether the anon_vmas allow a merge: side 0
 * (the range joins prev), 1 (joins next), 2 (prev would absorb next too);
 * kind 0 new range, 1 existing range, 2 expand; the range (start, end, pgoff,
 * vm_flags, backing object); the target's range; then the target's and the
 * source's anon_vma id (0: none), chain length, whether it is a fork child's
 * and whether it is an unshared root. Returns -1 to allow, else a REFUSE_
 * reason.
 */
@external("env", "user_mergeable")
export declare function userMergeable(side: i32, kind: i32, start: f64, end: f64, pgoff: f64, flags: f64, file: u32,
  targetStart: f64, targetEnd: f64, targetAnonVma: u32, targetChain: u32, targetForkChild: bool, targetUnshared: bool,
  sourceAnonVma: u32, sourceChain: u32, sourceForkChild: bool, sourceUnshared: bool): i32;

// Merge kinds.
export const MERGE_NEW_LEFT: i32 = 0;
export const MERGE_NEW_RIGHT: i32 = 1;
export const MERGE_NEW_BOTH: i32 = 2;
export const MERGE_EXISTING_LEFT: i32 = 3;
export const MERGE_EXISTING_RIGHT: i32 = 4;
export const MERGE_EXISTING_BOTH: i32 = 5;
/** Existing-range merges that took only part of the middle VMA (it shrinks). */
export const MERGE_PARTIAL: i32 = 6;
/** Existing-range merges that took all of it (it goes). */
export const MERGE_FULL: i32 = 7;
/** mremap growing a VMA in place (vma_expand of the VMA itself). */
export const MERGE_EXPAND: i32 = 8;
const MERGE_KINDS: i32 = 9;

// Refusal reasons: why an adjacent VMA did not merge.
export const REFUSE_FLAGS: i32 = 0;
export const REFUSE_FILE: i32 = 1;
export const REFUSE_PGOFF: i32 = 2;
/** The surviving anon_vma would be a fork child's: its target's. */
export const REFUSE_ANON_FORKED_TARGET: i32 = 3;
/** ... the source's (the middle VMA or the mremap source). */
export const REFUSE_ANON_FORKED_SOURCE: i32 = 4;
export const REFUSE_ANON_DIFFERENT: i32 = 5;
/** Both neighbours could merge, but their anon_vmas differ. */
export const REFUSE_ANON_PREV_NEXT: i32 = 6;
export const REFUSE_CLOSE_HOOK: i32 = 7;
export const REFUSE_SPECIAL: i32 = 8;
/** A split the op needed passed vm.max_map_count. */
export const REFUSE_MAX_MAP_COUNT: i32 = 9;
/** The no-merge policy. */
export const REFUSE_POLICY: i32 = 10;
const REFUSE_REASONS: i32 = 11;

// Counters in static memory (f64 each): no managed array on the merge path.
const merges = memory.data(8 * MERGE_KINDS);
const refusals = memory.data(8 * REFUSE_REASONS);
export let splits: f64 = 0;
/** matena-2022: folios whose mapping (or index) a merge or move rewrote. */
export let foliosMoved: f64 = 0;
/** chain-union-2010: AVC links added to survivors' chains. */
export let chainLinksAdded: f64 = 0;

@inline function bump(counters: usize, i: i32): void {
  let p = counters + (<usize>i << 3);
  store<f64>(p, load<f64>(p) + 1);
}
@inline export function countMerge(kind: i32): void { bump(merges, kind); }
@inline export function countRefusal(reason: i32): void { bump(refusals, reason); }
@inline export function countSplit(): void { splits += 1; }
@inline export function countFoliosMoved(n: u32): void { foliosMoved += n; }
@inline export function countChainLinks(n: u32): void { chainLinksAdded += n; }

/** A counter for the ABI: 0.. merges by kind, 100.. refusals by reason, 200 splits, 201 folios moved, 202 links added. */
export function stat(which: i32): f64 {
  if (which >= 0 && which < MERGE_KINDS) return load<f64>(merges + (<usize>which << 3));
  if (which >= 100 && which < 100 + REFUSE_REASONS) return load<f64>(refusals + (<usize>(which - 100) << 3));
  if (which == 200) return splits;
  if (which == 201) return foliosMoved;
  if (which == 202) return chainLinksAdded;
  return -1;
}
