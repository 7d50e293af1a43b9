// The system validator, for tests: every op must leave the VMA trees sound,
// the anon_vma counters and interval trees equal to their recount, and every
// folio findable by rmap at exactly the PTEs that map it.

import {
  anonVmaFirst, anonVmaNext, anonVmas, avActive, avAvcCount, avChildren, avFolios, avParent, avRefcount, avRoot, avTree,
  avcAnonVma, avcBefore, avcHeight, avcLast, avcLeft, avcNextInVma, avcRight, avcStart, avcSubtreeLast, avcVma, avcs,
} from "./anon_vma";
import { folioMapcount, folioMapping, folios } from "./folio";
import { findVma, mmMap, mmPt, vmaLookup, vmaNext } from "./mm";
import { isFolio, pteWalk, pteWalkNext, walkPage, walkPte } from "./pagetable";
import * as rm from "./rangemap";
import { policyUnionsChains } from "./policy";
import { rmapWalk } from "./rmap";
import { vmaAnonVma, vmaChain, vmaEnd, vmaMm, vmaPages, vmaPgoff, vmaStart } from "./vma";

export const CHECK_OK: i32 = 0;
export const CHECK_TREE: i32 = 1;
export const CHECK_VMA_RANGE: i32 = 2;
export const CHECK_CHAIN: i32 = 3;
export const CHECK_AVC_LISTED: i32 = 4;
export const CHECK_ROOT: i32 = 5;
export const CHECK_ACTIVE: i32 = 6;
export const CHECK_CHILDREN: i32 = 7;
export const CHECK_OWNER: i32 = 8;
export const CHECK_INTERVAL_TREE: i32 = 9;
export const CHECK_REFCOUNT: i32 = 10;
export const CHECK_PTE_OUTSIDE: i32 = 11;
export const CHECK_RMAP: i32 = 12;
export const CHECK_MAPCOUNT: i32 = 13;
export const CHECK_FOLIO_COUNT: i32 = 14;
export const CHECK_LEAK: i32 = 15;

/** Adds 1 to the count kept for key k in map m (a range map used as a counter table). */
function bump(m: usize, k: usize): u32 {
  let v = rm.find(m, k);
  if (v < 0) {
    rm.insert(m, k, <u64>k + 1, 1);
    return 1;
  }
  rm.update(m, k, <u32>v + 1);
  return <u32>v + 1;
}

@inline function countOf(m: usize, k: usize): u32 {
  let v = rm.find(m, k);
  return v < 0 ? 0 : <u32>v;
}

/** What the first failed check was about (a VMA start, a page, an anon_vma or folio handle). */
export let checkDetail: u64 = 0;

// Recounts, as counter tables keyed by handle.
let active: usize = 0; // anon_vma -> VMAs whose anon_vma it is
let children: usize = 0; // anon_vma -> anon_vmas whose parent it is
let rootRefs: usize = 0; // root -> other anon_vmas under it
let ptes: usize = 0; // folio -> PTEs mapping it
let folioCount: usize = 0; // anon_vma -> folios whose mapping it is

/** Checks every mm in the array of `n` u32 handles at `mms`. Returns 0 or a CHECK_ code. */
export function checkSystem(mms: usize, n: i32): i32 {
  active = rm.mapCreate();
  children = rm.mapCreate();
  rootRefs = rm.mapCreate();
  ptes = rm.mapCreate();
  folioCount = rm.mapCreate();
  let err = checkVmas(mms, n);
  if (err == CHECK_OK) err = checkPtes(mms, n);
  if (err == CHECK_OK) err = checkAnonVmas();
  rm.mapFree(active);
  rm.mapFree(children);
  rm.mapFree(rootRefs);
  rm.mapFree(ptes);
  rm.mapFree(folioCount);
  return err;
}

/** The VMA trees and each VMA's chain. */
function checkVmas(mms: usize, n: i32): i32 {
  let links: u32 = 0;
  for (let i = 0; i < n; i++) {
    let mm = <usize>load<u32>(mms + (<usize>i << 2));
    if (rm.validate(mmMap(mm)) != 0) return CHECK_TREE;
    for (let v = findVma(mm, 0); v != 0; v = vmaNext(mm, v)) {
      checkDetail = vmaStart(v);
      if (vmaMm(v) != mm || rm.find(mmMap(mm), vmaStart(v)) != <i32>v || vmaStart(v) >= vmaEnd(v)) return CHECK_OWNER;
      let av = vmaAnonVma(v);
      // A faulted VMA has a chain that contains its own anon_vma; an unfaulted one has none.
      if ((av == 0) != (vmaChain(v) == 0)) return CHECK_CHAIN;
      if (av == 0) continue;
      bump(active, av);
      let own = false;
      for (let c = vmaChain(v); c != 0; c = avcNextInVma(c)) {
        links++;
        let a = avcAnonVma(c);
        if (a == av) own = true;
        if (avcVma(c) != v) return CHECK_ROOT;
        // One root per chain, but chain-union-2010 unions chains across hierarchies.
        if (avRoot(a) != avRoot(av) && !policyUnionsChains()) return CHECK_ROOT;
        // The link is filed in its anon_vma's tree under the VMA's pgoff range.
        if (avcStart(c) != vmaPgoff(v) || avcLast(c) != vmaPgoff(v) + vmaPages(v) - 1) return CHECK_INTERVAL_TREE;
        if (!inTree(avTree(a), c)) return CHECK_AVC_LISTED;
      }
      if (!own) return CHECK_CHAIN;
    }
  }
  return links == avcs.live ? CHECK_OK : CHECK_LEAK;
}

/** Whether AVC c is in the tree at n (searched by its key). */
function inTree(n: usize, c: usize): bool {
  while (n != 0 && n != c) {
    n = avcBefore(c, n) ? avcLeft(n) : avcRight(n);
  }
  return n == c;
}

/** Every PTE lies in a VMA; every folio's mapcount and rmap walk agree with the PTEs. */
function checkPtes(mms: usize, n: i32): i32 {
  for (let i = 0; i < n; i++) {
    let mm = <usize>load<u32>(mms + (<usize>i << 2));
    pteWalk(mmPt(mm), 0, rm.PAGE_END);
    while (pteWalkNext()) {
      checkDetail = walkPage;
      if (vmaLookup(mm, walkPage) == 0) return CHECK_PTE_OUTSIDE;
      if (!isFolio(walkPte)) continue;
      let f = <usize>walkPte;
      if (bump(ptes, f) == 1) bump(folioCount, folioMapping(f));
    }
  }
  let seen: u32 = 0;
  let at: u64 = 0;
  while (rm.findNext(ptes, at) >= 0) {
    let f = <usize>load<u64>(rm.FOUND);
    at = <u64>f + 1;
    checkDetail = f;
    seen++;
    let mapped = countOf(ptes, f);
    if (folioMapcount(f) != mapped) return CHECK_MAPCOUNT;
    // The walk reports only PTEs that map f, each once: equal counts mean it finds them all.
    if (rmapWalk(f, 0, 0) != mapped) return CHECK_RMAP;
  }
  return seen == folios.live ? CHECK_OK : CHECK_LEAK;
}

// In-order state of the interval-tree check.
let prevNode: usize = 0;
let nodes: u32 = 0;

/** Checks the AVL tree at c (order, balance, heights, subtree-last); returns false when broken. */
function checkTreeAt(c: usize): bool {
  if (c == 0) return true;
  let l = avcLeft(c);
  let r = avcRight(c);
  if (!checkTreeAt(l)) return false;
  if (prevNode != 0 && !avcBefore(prevNode, c)) return false;
  prevNode = c;
  nodes++;
  if (!checkTreeAt(r)) return false;
  let hl = <i32>avcHeight(l);
  let hr = <i32>avcHeight(r);
  if (<i32>avcHeight(c) != max(hl, hr) + 1 || hl - hr > 1 || hr - hl > 1) return false;
  let last = avcLast(c);
  if (l != 0) last = max(last, avcSubtreeLast(l));
  if (r != 0) last = max(last, avcSubtreeLast(r));
  return avcSubtreeLast(c) == last;
}

/** Every live anon_vma: its counters against their recount, its tree sound, nothing unreachable. */
function checkAnonVmas(): i32 {
  let live: u32 = 0;
  for (let a = anonVmaFirst(); a != 0; a = anonVmaNext(a)) {
    live++;
    if (avParent(a) != a) bump(children, avParent(a));
    if (avRoot(a) != a) bump(rootRefs, avRoot(a));
  }
  if (live != anonVmas.live) return CHECK_LEAK;
  for (let a = anonVmaFirst(); a != 0; a = anonVmaNext(a)) {
    checkDetail = a;
    if (avActive(a) != countOf(active, a)) return CHECK_ACTIVE;
    let selfLink: u32 = avParent(a) == a ? 1 : 0;
    if (avChildren(a) != countOf(children, a) + selfLink) return CHECK_CHILDREN;
    prevNode = 0;
    nodes = 0;
    if (!checkTreeAt(avTree(a)) || nodes != avAvcCount(a)) return CHECK_INTERVAL_TREE;
    // A reference while VMAs link to it, and a root one from each anon_vma under it.
    let refs: u32 = (avAvcCount(a) != 0 ? 1 : 0) + countOf(rootRefs, a);
    if (avRefcount(a) != refs) return CHECK_REFCOUNT;
    if (avFolios(a) != countOf(folioCount, a)) return CHECK_FOLIO_COUNT;
  }
  return CHECK_OK;
}
