// VMA records and the kernel's vm_flags bits (x86-64, include/linux/mm.h).
//
// A VMA is a fixed-size record in a pool; its handle (byte offset) is what the
// mm's range map stores for [vm_start, vm_end).

import { Pool, copyBytes } from "./mem";

export const VM_READ: u64 = 0x1;
export const VM_WRITE: u64 = 0x2;
export const VM_EXEC: u64 = 0x4;
export const VM_SHARED: u64 = 0x8;
export const VM_MAYREAD: u64 = 0x10;
export const VM_MAYWRITE: u64 = 0x20;
export const VM_MAYEXEC: u64 = 0x40;
export const VM_MAYSHARE: u64 = 0x80;
export const VM_GROWSDOWN: u64 = 0x100;
export const VM_PFNMAP: u64 = 0x400;
export const VM_LOCKED: u64 = 0x2000;
export const VM_IO: u64 = 0x4000;
export const VM_SEQ_READ: u64 = 0x8000;
export const VM_RAND_READ: u64 = 0x10000;
export const VM_DONTCOPY: u64 = 0x20000;
export const VM_DONTEXPAND: u64 = 0x40000;
export const VM_LOCKONFAULT: u64 = 0x80000;
export const VM_ACCOUNT: u64 = 0x100000;
export const VM_NORESERVE: u64 = 0x200000;
export const VM_HUGETLB: u64 = 0x400000;
export const VM_WIPEONFORK: u64 = 0x2000000;
export const VM_DONTDUMP: u64 = 0x4000000;
export const VM_SOFTDIRTY: u64 = 0x8000000;
export const VM_MIXEDMAP: u64 = 0x10000000;
export const VM_HUGEPAGE: u64 = 0x20000000;
export const VM_NOHUGEPAGE: u64 = 0x40000000;
export const VM_MERGEABLE: u64 = 0x80000000;

export const VM_ACCESS_FLAGS: u64 = VM_READ | VM_WRITE | VM_EXEC;
export const VM_SPECIAL: u64 = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;
export const VM_LOCKED_MASK: u64 = VM_LOCKED | VM_LOCKONFAULT;

// Record layout.
const V_START: usize = 0;
const V_END: usize = 8;
const V_PGOFF: usize = 16;
const V_FLAGS: usize = 24;
const V_MM: usize = 32;
const V_FILE: usize = 36;
const V_ANON_VMA: usize = 40;
const V_CHAIN: usize = 44;
const V_ATTRS: usize = 48;
const VMA_SIZE: usize = 56;

/** Attribute bits no syscall can set: what API users mark a VMA with. */
export const ATTR_CLOSE_HOOK: u32 = 1;

export const vmas = new Pool(VMA_SIZE);

@inline export function vmaStart(v: usize): u64 { return load<u64>(v + V_START); }
@inline export function vmaEnd(v: usize): u64 { return load<u64>(v + V_END); }
@inline export function vmaPgoff(v: usize): u64 { return load<u64>(v + V_PGOFF); }
@inline export function vmaFlags(v: usize): u64 { return load<u64>(v + V_FLAGS); }
@inline export function vmaMm(v: usize): usize { return <usize>load<u32>(v + V_MM); }
/** The backing file object (0 for private anonymous memory). */
@inline export function vmaFile(v: usize): u32 { return load<u32>(v + V_FILE); }
@inline export function vmaAnonVma(v: usize): usize { return <usize>load<u32>(v + V_ANON_VMA); }
/** First anon_vma_chain link of the VMA (newest first), 0 if none. */
@inline export function vmaChain(v: usize): usize { return <usize>load<u32>(v + V_CHAIN); }
@inline export function vmaAttrs(v: usize): u32 { return load<u32>(v + V_ATTRS); }
@inline export function vmaPages(v: usize): u64 { return vmaEnd(v) - vmaStart(v); }

@inline export function setVmaStart(v: usize, x: u64): void { store<u64>(v + V_START, x); }
@inline export function setVmaEnd(v: usize, x: u64): void { store<u64>(v + V_END, x); }
@inline export function setVmaPgoff(v: usize, x: u64): void { store<u64>(v + V_PGOFF, x); }
@inline export function setVmaFlags(v: usize, x: u64): void { store<u64>(v + V_FLAGS, x); }
@inline export function setVmaMm(v: usize, mm: usize): void { store<u32>(v + V_MM, <u32>mm); }
@inline export function setVmaFile(v: usize, f: u32): void { store<u32>(v + V_FILE, f); }
@inline export function setVmaAnonVma(v: usize, av: usize): void { store<u32>(v + V_ANON_VMA, <u32>av); }
@inline export function setVmaChain(v: usize, avc: usize): void { store<u32>(v + V_CHAIN, <u32>avc); }
@inline export function setVmaAttrs(v: usize, a: u32): void { store<u32>(v + V_ATTRS, a); }

/** vma->vm_ops->close is set: the VMA may grow by a merge but never be removed by one. */
@inline export function vmaHasClose(v: usize): bool { return (vmaAttrs(v) & ATTR_CLOSE_HOOK) != 0; }
@inline export function vmaIsAnonymous(v: usize): bool { return vmaFile(v) == 0; }

/** A VMA record with the same range, pgoff, flags, file and attributes as `src`; no anon_vma, empty chain. */
export function vmaDup(src: usize): usize {
  let v = vmas.allocUnzeroed();
  copyBytes(v, src, VMA_SIZE);
  setVmaAnonVma(v, 0);
  setVmaChain(v, 0);
  return v;
}

/** linear_page_index(): the pgoff of page `addr` in the VMA. */
@inline export function linearPageIndex(v: usize, addr: u64): u64 {
  return addr - vmaStart(v) + vmaPgoff(v);
}
