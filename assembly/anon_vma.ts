// anon_vma and anon_vma_chain (mm/rmap.c, Linux 6.18).
//
// Every VMA that has anonymous pages points at one anon_vma and links, through
// its anon_vma_chain (AVC) list, to that anon_vma and to every ancestor's
// anon_vma it inherited at fork. Each anon_vma keeps its AVCs in an interval
// tree by pgoff range: what an rmap walk searches (rmap.ts).

import { Pool } from "./mem";
import {
  VM_ACCESS_FLAGS, VM_SOFTDIRTY, vmaAnonVma, vmaChain, vmaEnd, vmaFile, vmaFlags, vmaPages, vmaPgoff, vmaStart,
  setVmaAnonVma, setVmaChain, setVmaEnd, setVmaPgoff, setVmaStart,
} from "./vma";

// anon_vma record.
const A_ROOT: usize = 0;
const A_PARENT: usize = 4;
const A_CHILDREN: usize = 8;
const A_ACTIVE: usize = 12;
const A_REFCOUNT: usize = 16;
const A_TREE: usize = 20; // root AVC of the interval tree
const A_AVC_COUNT: usize = 24;
const A_ID: usize = 28;
const A_FOLIOS: usize = 32; // folios whose mapping is this anon_vma
const A_NEXT: usize = 36; // the list of every live anon_vma, for reports
const A_PREV: usize = 40;
const ANON_VMA_SIZE: usize = 44;

// anon_vma_chain record: on the VMA's list (same_vma) and a node of the
// anon_vma's interval tree, an AVL tree ordered by (first pgoff, handle) and
// augmented by the largest last pgoff below each node. The VMA's pgoff range
// is cached in the node: the tree is consistent on its own, and vmaAdjust()
// re-files the node when the VMA changes.
const C_VMA: usize = 0;
const C_ANON_VMA: usize = 4;
const C_VMA_NEXT: usize = 8; // older
const C_VMA_PREV: usize = 12; // newer
const C_LEFT: usize = 16;
const C_RIGHT: usize = 20;
const C_HEIGHT: usize = 24;
const C_DEPTH: usize = 28; // links on the VMA's chain up to this one, itself included
const C_START: usize = 32; // vma->vm_pgoff
const C_LAST: usize = 40; // vma_last_pgoff(): vm_pgoff + pages - 1
const C_SUBTREE_LAST: usize = 48;
const AVC_SIZE: usize = 56;

export const anonVmas = new Pool(ANON_VMA_SIZE);
export const avcs = new Pool(AVC_SIZE);
let nextAnonVmaId: u32 = 1;
let allAnonVmas: usize = 0;

@inline export function avRoot(a: usize): usize { return <usize>load<u32>(a + A_ROOT); }
@inline export function avParent(a: usize): usize { return <usize>load<u32>(a + A_PARENT); }
@inline export function avChildren(a: usize): u32 { return load<u32>(a + A_CHILDREN); }
@inline export function avActive(a: usize): u32 { return load<u32>(a + A_ACTIVE); }
@inline export function avRefcount(a: usize): u32 { return load<u32>(a + A_REFCOUNT); }
/** The root of the anon_vma's AVC interval tree (0 when empty). */
@inline export function avTree(a: usize): usize { return <usize>load<u32>(a + A_TREE); }
@inline export function avAvcCount(a: usize): u32 { return load<u32>(a + A_AVC_COUNT); }
@inline export function avId(a: usize): u32 { return load<u32>(a + A_ID); }
@inline export function avFolios(a: usize): u32 { return load<u32>(a + A_FOLIOS); }
/** The live anon_vmas one after another: from anonVmaFirst(), newest first. */
@inline export function anonVmaFirst(): usize { return allAnonVmas; }
@inline export function anonVmaNext(a: usize): usize { return <usize>load<u32>(a + A_NEXT); }
@inline function setAv(a: usize, off: usize, x: u32): void { store<u32>(a + off, x); }
@inline export function avAddFolios(a: usize, d: i32): void { setAv(a, A_FOLIOS, avFolios(a) + <u32>d); }

@inline export function avcVma(c: usize): usize { return <usize>load<u32>(c + C_VMA); }
@inline export function avcAnonVma(c: usize): usize { return <usize>load<u32>(c + C_ANON_VMA); }
/** The next (older) link on the VMA's chain. */
@inline export function avcNextInVma(c: usize): usize { return <usize>load<u32>(c + C_VMA_NEXT); }
@inline export function avcLeft(c: usize): usize { return <usize>load<u32>(c + C_LEFT); }
@inline export function avcRight(c: usize): usize { return <usize>load<u32>(c + C_RIGHT); }
@inline export function avcHeight(c: usize): u32 { return c == 0 ? 0 : load<u32>(c + C_HEIGHT); }
@inline export function avcStart(c: usize): u64 { return load<u64>(c + C_START); }
@inline export function avcLast(c: usize): u64 { return load<u64>(c + C_LAST); }
@inline export function avcSubtreeLast(c: usize): u64 { return load<u64>(c + C_SUBTREE_LAST); }

/** anon_vma_alloc(): a new root of its own hierarchy, refcount 1, no VMAs. */
function anonVmaAlloc(): usize {
  let a = anonVmas.alloc();
  setAv(a, A_ROOT, <u32>a);
  setAv(a, A_PARENT, <u32>a);
  setAv(a, A_REFCOUNT, 1);
  setAv(a, A_ID, nextAnonVmaId++);
  setAv(a, A_NEXT, <u32>allAnonVmas);
  if (allAnonVmas != 0) setAv(allAnonVmas, A_PREV, <u32>a);
  allAnonVmas = a;
  return a;
}

/** put_anon_vma(): drops a reference; the last one frees it and then drops the root's. */
function putAnonVma(a: usize): void {
  let r = avRefcount(a) - 1;
  setAv(a, A_REFCOUNT, r);
  if (r != 0) return;
  let root = avRoot(a);
  let next = anonVmaNext(a);
  let prev = <usize>load<u32>(a + A_PREV);
  if (prev != 0) setAv(prev, A_NEXT, <u32>next);
  else allAnonVmas = next;
  if (next != 0) setAv(next, A_PREV, <u32>prev);
  anonVmas.free(a);
  if (root != a) putAnonVma(root);
}

// ---- the interval tree (anon_vma_interval_tree_*) ------------------------------

/** Recomputes a node's height and subtree-last from its children. */
function avcPull(c: usize): void {
  let l = avcLeft(c);
  let r = avcRight(c);
  store<u32>(c + C_HEIGHT, max(avcHeight(l), avcHeight(r)) + 1);
  let last = avcLast(c);
  if (l != 0) last = max(last, avcSubtreeLast(l));
  if (r != 0) last = max(last, avcSubtreeLast(r));
  store<u64>(c + C_SUBTREE_LAST, last);
}

function rotateRight(c: usize): usize {
  let l = avcLeft(c);
  store<u32>(c + C_LEFT, load<u32>(l + C_RIGHT));
  store<u32>(l + C_RIGHT, <u32>c);
  avcPull(c);
  avcPull(l);
  return l;
}

function rotateLeft(c: usize): usize {
  let r = avcRight(c);
  store<u32>(c + C_RIGHT, load<u32>(r + C_LEFT));
  store<u32>(r + C_LEFT, <u32>c);
  avcPull(c);
  avcPull(r);
  return r;
}

/** Restores the AVL balance at c after one of its subtrees changed height by one. */
function rebalance(c: usize): usize {
  avcPull(c);
  let l = avcLeft(c);
  let r = avcRight(c);
  let bal = <i32>avcHeight(l) - <i32>avcHeight(r);
  if (bal > 1) {
    if (avcHeight(avcLeft(l)) < avcHeight(avcRight(l))) store<u32>(c + C_LEFT, <u32>rotateLeft(l));
    return rotateRight(c);
  }
  if (bal < -1) {
    if (avcHeight(avcRight(r)) < avcHeight(avcLeft(r))) store<u32>(c + C_RIGHT, <u32>rotateRight(r));
    return rotateLeft(c);
  }
  return c;
}

/** The tree's order: a comes before b. */
@inline export function avcBefore(a: usize, b: usize): bool {
  let sa = avcStart(a);
  let sb = avcStart(b);
  return sa < sb || (sa == sb && a < b);
}

function treeInsert(n: usize, c: usize): usize {
  if (n == 0) return c;
  if (avcBefore(c, n)) store<u32>(n + C_LEFT, <u32>treeInsert(avcLeft(n), c));
  else store<u32>(n + C_RIGHT, <u32>treeInsert(avcRight(n), c));
  return rebalance(n);
}

// The leftmost node taken out of a subtree by treeRemoveMin().
let removedMin: usize = 0;
function treeRemoveMin(n: usize): usize {
  let l = avcLeft(n);
  if (l == 0) {
    removedMin = n;
    return avcRight(n);
  }
  store<u32>(n + C_LEFT, <u32>treeRemoveMin(l));
  return rebalance(n);
}

function treeRemove(n: usize, c: usize): usize {
  if (n == c) {
    let l = avcLeft(n);
    let r = avcRight(n);
    if (l == 0) return r;
    if (r == 0) return l;
    let rest = treeRemoveMin(r);
    let m = removedMin;
    store<u32>(m + C_LEFT, <u32>l);
    store<u32>(m + C_RIGHT, <u32>rest);
    return rebalance(m);
  }
  if (avcBefore(c, n)) store<u32>(n + C_LEFT, <u32>treeRemove(avcLeft(n), c));
  else store<u32>(n + C_RIGHT, <u32>treeRemove(avcRight(n), c));
  return rebalance(n);
}

/** Files the AVC in its anon_vma's tree under its VMA's current pgoff range. */
function avcTreeInsert(c: usize): void {
  let v = avcVma(c);
  let a = avcAnonVma(c);
  store<u64>(c + C_START, vmaPgoff(v));
  store<u64>(c + C_LAST, vmaPgoff(v) + vmaPages(v) - 1);
  store<u32>(c + C_LEFT, 0);
  store<u32>(c + C_RIGHT, 0);
  avcPull(c);
  setAv(a, A_TREE, <u32>treeInsert(avTree(a), c));
  setAv(a, A_AVC_COUNT, avAvcCount(a) + 1);
}

/** Takes the AVC out of its anon_vma's tree (found by its cached key). */
function avcTreeRemove(c: usize): void {
  let a = avcAnonVma(c);
  setAv(a, A_TREE, <u32>treeRemove(avTree(a), c));
  setAv(a, A_AVC_COUNT, avAvcCount(a) - 1);
}

/**
 * Gives a VMA a new range and pgoff; a VMA with anon_vmas is re-filed in each
 * of their trees (anon_vma_interval_tree_pre/post_update_vma around the change).
 */
export function vmaAdjust(vma: usize, start: u64, end: u64, pgoff: u64): void {
  let linked = vmaChain(vma) != 0;
  if (linked) for (let c = vmaChain(vma); c != 0; c = avcNextInVma(c)) avcTreeRemove(c);
  setVmaStart(vma, start);
  setVmaEnd(vma, end);
  setVmaPgoff(vma, pgoff);
  if (linked) for (let c = vmaChain(vma); c != 0; c = avcNextInVma(c)) avcTreeInsert(c);
}

// The longest chain any VMA has had: what an op may copy per VMA, known
// without visiting the VMAs (reservations only need a bound).
let longestChain: u32 = 1;
@inline export function chainBound(): u32 { return longestChain; }

/** anon_vma_chain_link(): puts a new AVC at the head of the VMA's chain and into the anon_vma's tree. */
function avcLink(vma: usize, a: usize): void {
  let c = avcs.alloc();
  store<u32>(c + C_VMA, <u32>vma);
  store<u32>(c + C_ANON_VMA, <u32>a);
  let head = vmaChain(vma);
  let depth = head == 0 ? 1 : load<u32>(head + C_DEPTH) + 1;
  store<u32>(c + C_DEPTH, depth);
  longestChain = max(longestChain, depth);
  store<u32>(c + C_VMA_NEXT, <u32>head);
  if (head != 0) store<u32>(head + C_VMA_PREV, <u32>c);
  setVmaChain(vma, c);
  avcTreeInsert(c);
}

/** matena-2022's rbt_no_children(): a root no fork child links to, so its folios are one mm's alone. */
@inline export function anonVmaUnshared(a: usize): bool {
  return avRoot(a) == a && avChildren(a) <= 1;
}

/** The VMA's chain has exactly one link: it did not inherit anon_vmas at fork. */
@inline export function chainIsSingular(vma: usize): bool {
  let head = vmaChain(vma);
  return head != 0 && avcNextInVma(head) == 0;
}

/** Links on the VMA's chain: its chain length. */
export function chainLength(vma: usize): u32 {
  let n: u32 = 0;
  for (let c = vmaChain(vma); c != 0; c = avcNextInVma(c)) n++;
  return n;
}

/** Records one anon_vma_prepare/clone/fork may need: `links` AVCs and `vmas` anon_vmas. */
@inline export function reserveAnon(links: u32, anonVmaCount: u32): bool {
  return avcs.reserve(links) && anonVmas.reserve(anonVmaCount);
}

/**
 * anon_vma_compatible(a, b): a ends where b starts, same file, flags equal
 * apart from the access bits, and pgoffs continuous.
 */
function anonVmaCompatible(a: usize, b: usize): bool {
  return vmaEnd(a) == vmaStart(b) && vmaFile(a) == vmaFile(b) &&
    ((vmaFlags(a) ^ vmaFlags(b)) & ~(VM_ACCESS_FLAGS | VM_SOFTDIRTY)) == 0 &&
    vmaPgoff(b) == vmaPgoff(a) + (vmaStart(b) - vmaStart(a));
}

/** reusable_anon_vma(): old's anon_vma if a and b are compatible and old is not a fork child. */
function reusableAnonVma(old: usize, a: usize, b: usize): usize {
  if (anonVmaCompatible(a, b) && vmaAnonVma(old) != 0 && chainIsSingular(old)) return vmaAnonVma(old);
  return 0;
}

/** find_mergeable_anon_vma(): the next VMA's anon_vma, else the previous one's, when reusable. */
function findMergeableAnonVma(vma: usize, prev: usize, next: usize): usize {
  if (next != 0) {
    let a = reusableAnonVma(next, vma, next);
    if (a != 0) return a;
  }
  if (prev != 0) return reusableAnonVma(prev, prev, vma);
  return 0;
}

/**
 * __anon_vma_prepare(): gives an unfaulted VMA its anon_vma on the first write
 * fault, reusing a neighbour's when find_mergeable_anon_vma allows.
 * Needs reserveAnon(1, 1).
 */
export function anonVmaPrepare(vma: usize, prev: usize, next: usize): void {
  if (vmaAnonVma(vma) != 0) return;
  let a = findMergeableAnonVma(vma, prev, next);
  if (a == 0) {
    a = anonVmaAlloc();
    setAv(a, A_CHILDREN, avChildren(a) + 1); // the root's self-parent link
  }
  setVmaAnonVma(vma, a);
  avcLink(vma, a);
  setAv(a, A_ACTIVE, avActive(a) + 1);
}

/**
 * anon_vma_clone(dst, src): links dst to every anon_vma src links to, oldest
 * first so dst's chain has src's order. A dst without an anon_vma (fork only)
 * reuses the first one that has no VMAs and fewer than two children
 * (7a3ef208e662). Needs reserveAnon(chainLength(src), 0).
 */
export function anonVmaClone(dst: usize, src: usize, forkReuse: bool): void {
  let tail = vmaChain(src);
  if (tail == 0) return;
  while (avcNextInVma(tail) != 0) tail = avcNextInVma(tail);
  let srcAnon = vmaAnonVma(src);
  for (let c = tail; c != 0; c = <usize>load<u32>(c + C_VMA_PREV)) {
    let a = avcAnonVma(c);
    avcLink(dst, a);
    if (forkReuse && vmaAnonVma(dst) == 0 && srcAnon != 0 && avChildren(a) < 2 && avActive(a) == 0) {
      setVmaAnonVma(dst, a);
    }
  }
  let a = vmaAnonVma(dst);
  if (a != 0) setAv(a, A_ACTIVE, avActive(a) + 1);
}

/**
 * anon_vma_fork(child, parent vma): the child's VMA links to the parent's
 * anon_vmas and gets an anon_vma of its own (or reuses an idle ancestor).
 * Needs reserveAnon(chainLength(pvma) + 1, 1).
 */
export function anonVmaFork(vma: usize, pvma: usize, forkReuse: bool): void {
  let pav = vmaAnonVma(pvma);
  if (pav == 0) return;
  setVmaAnonVma(vma, 0);
  anonVmaClone(vma, pvma, forkReuse);
  if (vmaAnonVma(vma) != 0) return;
  let a = anonVmaAlloc();
  setAv(a, A_ACTIVE, 1);
  let root = avRoot(pav);
  setAv(a, A_ROOT, <u32>root);
  setAv(a, A_PARENT, <u32>pav);
  setAv(root, A_REFCOUNT, avRefcount(root) + 1);
  setVmaAnonVma(vma, a);
  avcLink(vma, a);
  setAv(pav, A_CHILDREN, avChildren(pav) + 1);
}

/**
 * unlink_anon_vmas(): takes the VMA out of every anon_vma it links to. An
 * anon_vma no VMA links to any more drops its parent's child count and a
 * reference (freeing it, and its root after its last descendant).
 */
export function unlinkAnonVmas(vma: usize): void {
  // First pass (newest first): leave the anon_vmas' lists.
  let emptied: usize = 0;
  let c = vmaChain(vma);
  while (c != 0) {
    let next = avcNextInVma(c);
    let a = avcAnonVma(c);
    avcTreeRemove(c);
    if (avAvcCount(a) == 0) {
      let p = avParent(a);
      setAv(p, A_CHILDREN, avChildren(p) - 1);
      // Keep the AVC for the second pass, threaded through its vma-next field.
      store<u32>(c + C_VMA_NEXT, <u32>emptied);
      emptied = c;
    } else {
      avcs.free(c);
    }
    c = next;
  }
  let a = vmaAnonVma(vma);
  if (a != 0) setAv(a, A_ACTIVE, avActive(a) - 1);
  setVmaAnonVma(vma, 0);
  setVmaChain(vma, 0);
  // Second pass: drop the references of the anon_vmas that emptied.
  while (emptied != 0) {
    let next = avcNextInVma(emptied);
    putAnonVma(avcAnonVma(emptied));
    avcs.free(emptied);
    emptied = next;
  }
}

/**
 * chain-union-2010: links dst to every anon_vma src links to that it does
 * not link to yet, so rmap still finds src's folios in dst. Returns the links
 * added. Needs reserveAnon(chainLength(src), 0).
 */
export function anonVmaChainUnion(dst: usize, src: usize): u32 {
  let added: u32 = 0;
  for (let c = vmaChain(src); c != 0; c = avcNextInVma(c)) {
    let a = avcAnonVma(c);
    let linked = false;
    for (let d = vmaChain(dst); d != 0 && !linked; d = avcNextInVma(d)) linked = avcAnonVma(d) == a;
    if (linked) continue;
    avcLink(dst, a);
    added++;
  }
  return added;
}

/** dup_anon_vma(dst, src): an unfaulted dst takes src's anon_vma and a copy of its chain. */
export function dupAnonVma(dst: usize, src: usize): void {
  let a = vmaAnonVma(src);
  if (a != 0 && vmaAnonVma(dst) == 0) {
    setVmaAnonVma(dst, a);
    anonVmaClone(dst, src, false);
  }
}
