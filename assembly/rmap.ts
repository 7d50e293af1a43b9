// The two walks the kernel makes over the anon_vma hierarchy (mm/rmap.c):
// rmap_walk_anon() from a folio to every PTE that maps it, and the walk of a
// VMA's anon_vma_chain that anon_vma_clone() and unlink_anon_vmas() make under
// the root anon_vma's lock. Both count what they cost.

import {
  avRoot, avTree, avcAnonVma, avcLast, avcLeft, avcNextInVma, avcRight, avcStart, avcSubtreeLast, avcVma,
} from "./anon_vma";
import { folioIndex, folioMapping } from "./folio";
import { mmPt } from "./mm";
import { pteGet } from "./pagetable";
import { vmaAnonVma, vmaChain, vmaMm, vmaPgoff, vmaStart } from "./vma";

/** Cost of the last rmapWalk(): tree nodes (AVCs) looked at, VMAs whose pgoff range covers the folio. */
export let avcsVisited: u32 = 0;
export let vmasVisited: u32 = 0;

// Where mappings go: (mm, page) pairs as u32 mm handle + u64 page, 16 bytes each.
let outAt: usize = 0;
let outMax: u32 = 0;
let found: u32 = 0;
let walkFolio: usize = 0;

/**
 * anon_vma_interval_tree_foreach() + rmap_one(): in-order over the subtree at
 * c, the AVCs whose [first, last] pgoff covers index; each such VMA is visited
 * and reports the folio where its PTE maps it (page_vma_mapped_walk).
 */
function walkSubtree(c: usize, index: u64): void {
  while (c != 0) {
    avcsVisited++;
    if (avcSubtreeLast(c) < index) return;
    let l = avcLeft(c);
    if (l != 0) walkSubtree(l, index);
    if (avcStart(c) > index) return;
    if (avcLast(c) >= index) visitVma(avcVma(c), index);
    c = avcRight(c);
  }
}

@inline function visitVma(v: usize, index: u64): void {
  vmasVisited++;
  let addr = vmaStart(v) + (index - vmaPgoff(v));
  let mm = vmaMm(v);
  if (<usize>pteGet(mmPt(mm), addr) != walkFolio) return;
  if (found < outMax) {
    let p = outAt + (<usize>found << 4);
    store<u32>(p, <u32>mm);
    store<u64>(p, addr, 8);
  }
  found++;
}

/**
 * rmap_walk_anon(folio): every (mm, page) whose PTE maps the folio, found
 * through the interval tree of folio->mapping. Writes up to `max` at `out`
 * (16 bytes each: u32 mm handle, u64 page at +8); returns how many there are.
 */
export function rmapWalk(folio: usize, out: usize, max: u32): u32 {
  outAt = out;
  outMax = max;
  found = 0;
  walkFolio = folio;
  avcsVisited = 0;
  vmasVisited = 0;
  walkSubtree(avTree(folioMapping(folio)), folioIndex(folio));
  return found;
}

/** What the last lockChain() saw. */
export let chainRoots: u32 = 0;
export let chainLockedRoot: usize = 0;

/**
 * The walk of vma->anon_vma_chain that anon_vma_clone() and
 * unlink_anon_vmas() make: returns the chain length, and leaves the number of
 * distinct roots met and the root whose lock the walk takes (the root of
 * vma->anon_vma, 0 for an unfaulted VMA) in chainRoots / chainLockedRoot.
 */
export function lockChain(vma: usize): u32 {
  let n: u32 = 0;
  chainRoots = 0;
  chainLockedRoot = vmaAnonVma(vma) == 0 ? 0 : avRoot(vmaAnonVma(vma));
  if (chainLockedRoot != 0) chainRoots = 1;
  for (let c = vmaChain(vma); c != 0; c = avcNextInVma(c)) {
    n++;
    // One root is the kernel's rule; a policy that unions chains may break
    // it. Another root counts once, at the first link that reaches it.
    let root = avRoot(avcAnonVma(c));
    if (root == chainLockedRoot) continue;
    let seen = false;
    for (let d = vmaChain(vma); d != c && !seen; d = avcNextInVma(d)) seen = avRoot(avcAnonVma(d)) == root;
    if (!seen) chainRoots++;
  }
  return n;
}
