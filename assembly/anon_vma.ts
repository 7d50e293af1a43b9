// anon_vma and anon_vma_chain (mm/rmap.c, Linux 6.18).
//
// Every VMA that has anonymous pages points at one anon_vma and links, through
// its anon_vma_chain (AVC) list, to that anon_vma and to every ancestor's
// anon_vma it inherited at fork. The anon_vma's own list of AVCs (the kernel's
// interval tree) is what an rmap walk scans.

import { Pool } from "./mem";
import {
  VM_ACCESS_FLAGS, VM_SOFTDIRTY, vmaAnonVma, vmaChain, vmaEnd, vmaFile, vmaFlags, vmaPgoff, vmaStart,
  setVmaAnonVma, setVmaChain,
} from "./vma";

// anon_vma record.
const A_ROOT: usize = 0;
const A_PARENT: usize = 4;
const A_CHILDREN: usize = 8;
const A_ACTIVE: usize = 12;
const A_REFCOUNT: usize = 16;
const A_AVCS: usize = 20;
const A_AVC_COUNT: usize = 24;
const A_ID: usize = 28;
const ANON_VMA_SIZE: usize = 32;

// anon_vma_chain record: on the VMA's list (same_vma) and the anon_vma's list.
const C_VMA: usize = 0;
const C_ANON_VMA: usize = 4;
const C_VMA_NEXT: usize = 8; // older
const C_VMA_PREV: usize = 12; // newer
const C_AV_NEXT: usize = 16;
const C_AV_PREV: usize = 20;
const AVC_SIZE: usize = 24;

export const anonVmas = new Pool(ANON_VMA_SIZE);
export const avcs = new Pool(AVC_SIZE);
let nextAnonVmaId: u32 = 1;

@inline export function avRoot(a: usize): usize { return <usize>load<u32>(a + A_ROOT); }
@inline export function avParent(a: usize): usize { return <usize>load<u32>(a + A_PARENT); }
@inline export function avChildren(a: usize): u32 { return load<u32>(a + A_CHILDREN); }
@inline export function avActive(a: usize): u32 { return load<u32>(a + A_ACTIVE); }
@inline export function avRefcount(a: usize): u32 { return load<u32>(a + A_REFCOUNT); }
@inline export function avFirstAvc(a: usize): usize { return <usize>load<u32>(a + A_AVCS); }
@inline export function avAvcCount(a: usize): u32 { return load<u32>(a + A_AVC_COUNT); }
@inline export function avId(a: usize): u32 { return load<u32>(a + A_ID); }
@inline function setAv(a: usize, off: usize, x: u32): void { store<u32>(a + off, x); }

@inline export function avcVma(c: usize): usize { return <usize>load<u32>(c + C_VMA); }
@inline export function avcAnonVma(c: usize): usize { return <usize>load<u32>(c + C_ANON_VMA); }
/** The next (older) link on the VMA's chain. */
@inline export function avcNextInVma(c: usize): usize { return <usize>load<u32>(c + C_VMA_NEXT); }
/** The next link on the anon_vma's list. */
@inline export function avcNextInAnonVma(c: usize): usize { return <usize>load<u32>(c + C_AV_NEXT); }

/** anon_vma_alloc(): a new root of its own hierarchy, refcount 1, no VMAs. */
function anonVmaAlloc(): usize {
  let a = anonVmas.alloc();
  setAv(a, A_ROOT, <u32>a);
  setAv(a, A_PARENT, <u32>a);
  setAv(a, A_REFCOUNT, 1);
  setAv(a, A_ID, nextAnonVmaId++);
  return a;
}

/** put_anon_vma(): drops a reference; the last one frees it and then drops the root's. */
function putAnonVma(a: usize): void {
  let r = avRefcount(a) - 1;
  setAv(a, A_REFCOUNT, r);
  if (r != 0) return;
  let root = avRoot(a);
  anonVmas.free(a);
  if (root != a) putAnonVma(root);
}

/** anon_vma_chain_link(): puts a new AVC at the head of the VMA's chain and into the anon_vma. */
function avcLink(vma: usize, a: usize): void {
  let c = avcs.alloc();
  store<u32>(c + C_VMA, <u32>vma);
  store<u32>(c + C_ANON_VMA, <u32>a);
  let head = vmaChain(vma);
  store<u32>(c + C_VMA_NEXT, <u32>head);
  if (head != 0) store<u32>(head + C_VMA_PREV, <u32>c);
  setVmaChain(vma, c);
  let first = avFirstAvc(a);
  store<u32>(c + C_AV_NEXT, <u32>first);
  if (first != 0) store<u32>(first + C_AV_PREV, <u32>c);
  setAv(a, A_AVCS, <u32>c);
  setAv(a, A_AVC_COUNT, avAvcCount(a) + 1);
}

/** Takes an AVC out of its anon_vma's list (the interval-tree removal). */
function avcUnlinkFromAnonVma(c: usize): void {
  let a = avcAnonVma(c);
  let next = avcNextInAnonVma(c);
  let prev = <usize>load<u32>(c + C_AV_PREV);
  if (prev != 0) store<u32>(prev + C_AV_NEXT, <u32>next);
  else setAv(a, A_AVCS, <u32>next);
  if (next != 0) store<u32>(next + C_AV_PREV, <u32>prev);
  setAv(a, A_AVC_COUNT, avAvcCount(a) - 1);
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
export function reserveAnon(links: u32, anonVmaCount: u32): bool {
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
    avcUnlinkFromAnonVma(c);
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

/** dup_anon_vma(dst, src): an unfaulted dst takes src's anon_vma and a copy of its chain. */
export function dupAnonVma(dst: usize, src: usize): void {
  let a = vmaAnonVma(src);
  if (a != 0 && vmaAnonVma(dst) == 0) {
    setVmaAnonVma(dst, a);
    anonVmaClone(dst, src, false);
  }
}
