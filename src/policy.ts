// Merge policies written in TypeScript. The built-in policies live in the
// core (assembly/policy.ts); a user policy answers the one question that
// differs between them, whether the anon_vmas of a proposed merge allow it,
// from JavaScript: one call out of wasm per neighbour that passed the flags
// and file checks. Measured here: about 0.12 us per call; an mprotect
// split/merge loop over 10^4 VMAs (1.5 calls per op) went from 0.71 to
// 0.89 us per op with the kernel's own rule written as a user policy.

import type { RefusalCounts } from "./metrics.js";
import { REFUSALS } from "./metrics.js";
import { VmalabError } from "./wasm.js";

/** One side of a proposed merge, as the anon_vma rules see it. */
export interface MergeParty {
  /** Its range in pages (the target's, or the range's for the source). */
  start: number;
  end: number;
  /** Id of its anon_vma (0: unfaulted, or a new range). */
  anonVma: number;
  /** Length of its anon_vma_chain. */
  chainLength: number;
  /** Faulted with an anon_vma chain inherited at fork (vma_is_fork_child). */
  forkChild: boolean;
  /** Its anon_vma is a root that no fork child links to (nothing else maps its folios). */
  unsharedRoot: boolean;
}

export interface MergeFacts {
  kind: "new range" | "existing range" | "expand";
  /** left: the range joins prev; right: it joins next; prev-next: prev would absorb next as well. */
  side: "left" | "right" | "prev-next";
  /** The range being mapped or changed: pages, pgoff, the vm_flags it will have, its backing as dumps name it. */
  range: { start: number; end: number; pgoff: number; vmFlags: number; backing: string };
  /** The VMA that survives the merge (prev, or next for a right merge). */
  target: MergeParty;
  /** What it absorbs: the range (its middle VMA or mremap source), or next for prev-next. */
  source: MergeParty;
}

/** The reasons a policy may give for refusing. */
export type AnonVmaRefusal = Extract<
  keyof RefusalCounts,
  "anonForkedTarget" | "anonForkedSource" | "anonDifferent" | "anonPrevNext" | "policy"
>;

export interface MergePolicy {
  name: string;
  /** Whether the anon_vmas allow the merge: true, or the reason it is refused. */
  mergeable(facts: MergeFacts): true | AnonVmaRefusal;
  /**
   * What a merge of two different anon_vmas does: move the absorbed VMA's
   * folios to the survivor's anon_vma (refused when a fork child shares
   * them: rmap would lose them), or link the survivor to every anon_vma of
   * the absorbed VMA's chain.
   */
  differentAnonVmas: "move-folios" | "union-chains";
}

/** The core's id of the user policy and of its action. */
export const USER_POLICY_ID = 5;

const SIDES = ["left", "right", "prev-next"] as const;
const KINDS = ["new range", "existing range", "expand"] as const;

/** Checks a user policy object; returns the core's action code for it. */
export function userAction(p: MergePolicy): number {
  if (typeof p.mergeable !== "function" || typeof p.name !== "string") {
    throw new VmalabError("EINVAL", "a merge policy needs a name and a mergeable(facts) function");
  }
  if (p.differentAnonVmas !== "move-folios" && p.differentAnonVmas !== "union-chains") {
    throw new VmalabError("EINVAL", `differentAnonVmas must be "move-folios" or "union-chains"`);
  }
  return p.differentAnonVmas === "move-folios" ? 0 : 1;
}

/**
 * The function the core calls: facts in as numbers, the answer out as -1 or a
 * refusal code. `backing` names a backing object as dumps do.
 */
export function userMergeableBridge(p: MergePolicy, backing: (file: number, pgoff: number) => string): (...facts: number[]) => number {
  return (side, kind, start, end, pgoff, vmFlags, file, tStart, tEnd, tAnon, tChain, tFork, tUnshared, sAnon, sChain, sFork, sUnshared) => {
    const answer = p.mergeable({
      side: SIDES[side],
      kind: KINDS[kind],
      range: { start, end, pgoff, vmFlags, backing: backing(file, pgoff) },
      target: { start: tStart, end: tEnd, anonVma: tAnon, chainLength: tChain, forkChild: tFork !== 0, unsharedRoot: tUnshared !== 0 },
      source: { start, end, anonVma: sAnon, chainLength: sChain, forkChild: sFork !== 0, unsharedRoot: sUnshared !== 0 },
    });
    if (answer === true) return -1;
    const code = REFUSALS.indexOf(answer);
    return code < 0 ? REFUSALS.indexOf("policy") : code;
  };
}
