// The kernel line the core models (each as of its current stable release):
// every rule that changed between Linux 6.1, 6.12 and 6.18 asks here.

export const KERNEL_6_1: i32 = 601;
/** Also 6.12's change: vma_merge() split in two, and mmap's new range merges with prev first. */
export const KERNEL_6_12: i32 = 612;
export const KERNEL_6_18: i32 = 618;

/** 6.7: MAP_STACK gives VM_NOHUGEPAGE; mprotect dropping write on an unfaulted anonymous VMA unaccounts it. */
export const KERNEL_6_7: i32 = 607;
/** 6.16: 879bca0a2c4f, the fork-child check moves to the VMA whose anon_vma survives. */
export const KERNEL_6_16: i32 = 616;
/** 6.17: d23cb648e365, mremap moves a range spanning several VMAs, checking everything before it changes anything. */
export const KERNEL_6_17: i32 = 617;

export let kernelVersion: i32 = KERNEL_6_18;

export function setKernel(v: i32): void {
  kernelVersion = v;
}

/** Whether the kernel modelled has the change that came in `v`. */
@inline export function since(v: i32): bool {
  return kernelVersion >= v;
}
