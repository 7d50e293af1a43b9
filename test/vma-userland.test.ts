// The kernel's userland VMA tests (tools/testing/vma, 6.18 set), ported to the
// API. Pages as in the kernel tests (page i = address i * 0x1000). The kernel
// harness pokes vma_merge_*() directly with a shared "dummy" anon_vma; here
// the same layouts come from syscalls, "faulted" means a write fault, and the
// attributes userland cannot set (vm_ops->close, VM_SPECIAL) come from
// setCloseHook / setSpecial. Where the harness's shared dummy anon_vma has no
// userland counterpart the expectation says so.

import { describe, expect, test } from "vitest";
import { System, VM, type Process } from "../src/index.js";

/** The VMAs of a process as [start, end, pgoff]. */
function layout(p: Process): [number, number, number][] {
  return p.vmas().map((v) => [v.start, v.end, v.pgoff]);
}

/** A fresh process 0 with private anonymous rw mappings (MAP_NORESERVE, as the merge selftests use). */
function proc(): Process {
  return System.createSync().process(0);
}

function map(p: Process, start: number, pages: number, prot: "rw" | "r" = "rw"): void {
  p.mmap(start, pages, prot, { kind: "anon" }, { noreserve: true });
}

/** A VMA faulted (one write fault) and then made read-only, so it merges with nothing yet. */
function faulted(p: Process, start: number, pages: number): void {
  map(p, start, pages);
  p.touch(start, 1, "w");
  p.mprotect(start, pages, "r");
}

const anonVmaAt = (p: Process, page: number) => p.vmas().find((v) => v.start <= page && page < v.end)!.anonVma;

describe("tools/testing/vma ported", () => {
  // test_simple_merge
  test("simple_merge: a new range between two VMAs merges both", () => {
    const p = proc();
    map(p, 0, 1);
    map(p, 2, 1);
    map(p, 1, 1);
    expect(layout(p)).toEqual([[0, 3, 0]]);
  });

  // test_simple_modify: the harness only splits; mprotect splits the same way.
  test("simple_modify: changing the middle page splits in three with continuous pgoffs", () => {
    const p = proc();
    map(p, 0, 3);
    p.mprotect(1, 1, "r");
    expect(layout(p)).toEqual([
      [0, 1, 0],
      [1, 2, 1],
      [2, 3, 2],
    ]);
  });

  // test_merge_new, steps (1)-(7).
  test("merge_new: new ranges merge left, right and both; close hooks limit what is removed", () => {
    const p = proc();
    map(p, 0, 2); // A
    map(p, 3, 1); // B
    map(p, 0xb, 1); // C
    // (1) [7, 9): no neighbour adjacent: a new VMA D.
    map(p, 7, 2);
    expect(p.mapCount).toBe(4);
    // (2) A has a close hook (no effect: A is the target), B is faulted: [2, 3) merges A and B.
    p.setCloseHook(0);
    p.touch(3, 1, "w");
    const b = anonVmaAt(p, 3);
    map(p, 2, 1);
    expect(layout(p)).toEqual([
      [0, 4, 0],
      [7, 9, 7],
      [0xb, 0xc, 0xb],
    ]);
    expect(anonVmaAt(p, 0)).toBe(b);
    // (3) [4, 5) extends A.
    map(p, 4, 1);
    expect(layout(p)[0]).toEqual([0, 5, 0]);
    // (4) D faulted with a close hook: [6, 7) grows D downwards (D is the target, so allowed).
    p.touch(7, 1, "w");
    p.setCloseHook(7);
    map(p, 6, 1);
    expect(layout(p)[1]).toEqual([6, 9, 6]);
    expect(p.mapCount).toBe(3);
    // (5) D's close hook cleared, [5, 6) bridges A and D. In the harness both share the dummy
    // anon_vma and merge into one; from userland D faulted apart from A has an anon_vma of
    // its own, and prev and next with different anon_vmas merge left only.
    p.setCloseHook(6, false);
    map(p, 5, 1);
    expect(layout(p)).toEqual([
      [0, 6, 0],
      [6, 9, 6],
      [0xb, 0xc, 0xb],
    ]);
    // (6) C faulted: [0xa, 0xb) grows C down. (7) [9, 0xa) joins D and C: D's and C's
    // anon_vmas differ, so it merges with D only.
    p.touch(0xb, 1, "w");
    map(p, 0xa, 1);
    expect(layout(p)[2]).toEqual([0xa, 0xc, 0xa]);
    map(p, 9, 1);
    expect(layout(p)).toEqual([
      [0, 6, 0],
      [6, 0xa, 6],
      [0xa, 0xc, 0xa],
    ]);
  });

  // test_vma_merge_special_flags
  test("vma_merge_special_flags: VM_SPECIAL blocks new-range and existing-range merges", () => {
    for (const bit of [VM.IO, VM.DONTEXPAND, VM.PFNMAP, VM.MIXEDMAP]) {
      const p = proc();
      map(p, 0, 3);
      p.setSpecial(0, bit);
      map(p, 3, 1);
      expect(p.mapCount).toBe(2);
      // The middle made special, then changed to look like both neighbours: no merge.
      map(p, 4, 1, "r");
      map(p, 5, 2);
      p.setSpecial(4, bit);
      p.setSpecial(0, bit, false);
      p.mprotect(4, 1, "rw");
      expect(p.vmas().filter((v) => v.start >= 3).map((v) => v.start)).toEqual([3, 4, 5]);
    }
  });

  // test_vma_merge_with_close
  test("vma_merge_with_close: a VMA with a close hook may grow but is never removed", () => {
    // New range [3, 5) between P and N(close): merge left only.
    let p = proc();
    map(p, 0, 3);
    map(p, 5, 4);
    p.setCloseHook(5);
    map(p, 3, 2);
    expect(layout(p)).toEqual([
      [0, 5, 0],
      [5, 9, 5],
    ]);
    // P, V(close): changing all of V would remove it: no merge.
    p = proc();
    map(p, 0, 3);
    map(p, 3, 2, "r");
    p.setCloseHook(3);
    p.mprotect(3, 2, "rw");
    expect(p.mapCount).toBe(2);
    // V(close), N: no merge either.
    p = proc();
    map(p, 3, 2, "r");
    map(p, 5, 4);
    p.setCloseHook(3);
    p.mprotect(3, 2, "rw");
    expect(p.mapCount).toBe(2);
    // P, V(close), N: no merge.
    p = proc();
    map(p, 0, 3);
    map(p, 3, 2, "r");
    map(p, 5, 4);
    p.setCloseHook(3);
    p.mprotect(3, 2, "rw");
    expect(p.mapCount).toBe(3);
    // P, V, N(close): reduced to the left merge; N stays.
    p = proc();
    map(p, 0, 3);
    map(p, 3, 2, "r");
    map(p, 5, 4);
    p.setCloseHook(5);
    p.mprotect(3, 2, "rw");
    expect(layout(p)).toEqual([
      [0, 5, 0],
      [5, 9, 5],
    ]);
  });

  // test_vma_merge_new_with_close
  test("vma_merge_new_with_close: prev and next both with close: prev grows, next stays", () => {
    const p = proc();
    map(p, 0, 2);
    map(p, 5, 2);
    p.setCloseHook(0);
    p.setCloseHook(5);
    map(p, 2, 3);
    expect(layout(p)).toEqual([
      [0, 5, 0],
      [5, 7, 5],
    ]);
  });

  // test_merge_existing: V faulted, P and N unfaulted (the dup_anon_vma cases).
  test("merge_existing: partial and full merges of a faulted middle", () => {
    // V[2,6) faulted with close, N[6,9) close; change [3,6): N grows down to 3 and takes V's anon_vma.
    let p = proc();
    map(p, 2, 4);
    p.touch(2, 4, "w");
    p.mprotect(2, 4, "r");
    map(p, 6, 3, "r");
    p.mprotect(6, 3, "rw");
    p.setCloseHook(2);
    p.setCloseHook(6);
    const v = anonVmaAt(p, 2);
    p.mprotect(3, 3, "rw");
    expect(layout(p)).toEqual([
      [2, 3, 2],
      [3, 9, 3],
    ]);
    expect(anonVmaAt(p, 3)).toBe(v);

    // V[2,6) faulted, N[6,9) close: all of V changes: N grows over it, V goes.
    p = proc();
    faulted(p, 2, 4);
    map(p, 6, 3);
    p.setCloseHook(6);
    p.mprotect(2, 4, "rw");
    expect(layout(p)).toEqual([[2, 9, 2]]);

    // P[0,3) close, V[3,7) faulted with close: [3,6) joins P, V keeps [6,7).
    p = proc();
    faulted(p, 3, 4);
    map(p, 0, 3);
    p.setCloseHook(0);
    p.setCloseHook(3);
    p.mprotect(3, 3, "rw");
    expect(layout(p)).toEqual([
      [0, 6, 0],
      [6, 7, 6],
    ]);

    // P[0,3) close, V[3,7), N[7,9): all of V changes: P swallows V and N.
    p = proc();
    faulted(p, 3, 4);
    map(p, 0, 3);
    map(p, 7, 2);
    p.setCloseHook(0);
    p.mprotect(3, 4, "rw");
    expect(layout(p)).toEqual([[0, 9, 0]]);

    // P[0,3), V[3,8), N[8,10): a change strictly inside V merges nothing: V splits.
    for (const [s, n] of [
      [4, 1],
      [5, 1],
      [6, 1],
      [4, 3],
      [4, 2],
    ]) {
      p = proc();
      map(p, 0, 3);
      map(p, 3, 5, "r");
      map(p, 8, 2);
      p.mprotect(s, n, "rw");
      expect(p.mapCount).toBe(5);
    }
  });

  // test_anon_vma_non_mergeable
  test("anon_vma_non_mergeable: prev and next with different anon_vmas: merge left only", () => {
    const p = proc();
    map(p, 0, 3);
    p.touch(0, 1, "w");
    map(p, 7, 2);
    p.touch(7, 1, "w");
    map(p, 3, 4, "r");
    expect(anonVmaAt(p, 0)).not.toBe(anonVmaAt(p, 7));
    p.mprotect(3, 4, "rw");
    expect(layout(p)).toEqual([
      [0, 7, 0],
      [7, 9, 7],
    ]);
    // The same for a new range.
    const q = proc();
    map(q, 0, 3);
    q.touch(0, 1, "w");
    map(q, 7, 2);
    q.touch(7, 1, "w");
    map(q, 3, 4);
    expect(layout(q)).toEqual([
      [0, 7, 0],
      [7, 9, 7],
    ]);
  });

  // test_dup_anon_vma
  test("dup_anon_vma: an unfaulted target takes the anon_vma of what it swallows", () => {
    // P[0,3), V[3,5) unfaulted, N[5,8) faulted: all of V changes: P swallows both, takes N's.
    let p = proc();
    map(p, 5, 3);
    p.touch(5, 1, "w");
    const n = anonVmaAt(p, 5);
    map(p, 0, 3);
    map(p, 3, 2, "r");
    p.mprotect(3, 2, "rw");
    expect(layout(p)).toEqual([[0, 8, 0]]);
    expect(anonVmaAt(p, 0)).toBe(n);

    // P[0,3), V[3,5) faulted, N[5,8): P takes V's.
    p = proc();
    faulted(p, 3, 2);
    const v = anonVmaAt(p, 3);
    map(p, 0, 3);
    map(p, 5, 3);
    p.mprotect(3, 2, "rw");
    expect(layout(p)).toEqual([[0, 8, 0]]);
    expect(anonVmaAt(p, 0)).toBe(v);

    // P[0,3), V[3,8) faulted: [3,5) joins P, which takes V's.
    p = proc();
    faulted(p, 3, 5);
    const v2 = anonVmaAt(p, 3);
    map(p, 0, 3);
    p.mprotect(3, 2, "rw");
    expect(layout(p)).toEqual([
      [0, 5, 0],
      [5, 8, 5],
    ]);
    expect(anonVmaAt(p, 0)).toBe(v2);

    // V[0,5) faulted, N[5,8): [3,5) joins N, which takes V's.
    p = proc();
    faulted(p, 0, 5);
    const v3 = anonVmaAt(p, 0);
    map(p, 5, 3);
    p.mprotect(3, 2, "rw");
    expect(layout(p)).toEqual([
      [0, 3, 0],
      [3, 8, 3],
    ]);
    expect(anonVmaAt(p, 3)).toBe(v3);
  });

  // test_merge_extend: mremap growing in place swallows the adjacent VMA.
  test("merge_extend: growing in place absorbs a compatible next VMA", () => {
    const p = proc();
    map(p, 0, 1);
    map(p, 3, 1);
    p.mremap(0, 1, 3);
    expect(layout(p)).toEqual([[0, 4, 0]]);
  });

  // test_copy_vma
  test("copy_vma: an unfaulted VMA moved takes its pgoff from where it lands", () => {
    let p = proc();
    map(p, 3, 2);
    p.mremap(3, 2, 2, { fixed: 0 });
    expect(layout(p)).toEqual([[0, 2, 0]]);
    p = proc();
    map(p, 0, 2);
    map(p, 6, 2);
    p.mremap(0, 2, 2, { fixed: 4 });
    expect(layout(p)).toEqual([[4, 8, 4]]);
  });

  // test_mmap_region_basic
  test("mmap_region_basic: four mappings become two VMAs", () => {
    const p = proc();
    map(p, 0x300, 3);
    map(p, 0x250, 3);
    map(p, 0x303, 3);
    map(p, 0x24d, 3);
    expect(layout(p)).toEqual([
      [0x24d, 0x253, 0x24d],
      [0x300, 0x306, 0x300],
    ]);
  });
});

describe("limits and errors", () => {
  test("vm.max_map_count: a split that would pass it fails with ENOMEM and changes nothing", () => {
    const p = System.createSync({ maxMapCount: 3 }).process(0);
    map(p, 0, 10);
    p.mprotect(2, 1, "r"); // 3 VMAs
    expect(p.mapCount).toBe(3);
    const before = p.vmas();
    expect(() => p.mprotect(5, 1, "r")).toThrowError(expect.objectContaining({ code: "ENOMEM" }));
    expect(p.vmas()).toEqual(before);
  });

  test("vm.max_map_count reached between the two splits of a mid-VMA mprotect: the first stays, ENOMEM (as Linux 6.18 on this machine)", () => {
    const p = System.createSync({ maxMapCount: 2 }).process(0);
    map(p, 0, 10);
    expect(() => p.mprotect(5, 1, "r")).toThrowError(expect.objectContaining({ code: "ENOMEM" }));
    expect(p.vmas().map((v) => [v.start, v.end, v.perms])).toEqual([
      [0, 5, "rw-p"],
      [5, 10, "rw-p"],
    ]);
    // One below the limit, both splits happen (at once).
    const q = System.createSync({ maxMapCount: 3 }).process(0);
    map(q, 0, 10);
    q.mprotect(5, 1, "r");
    expect(q.vmas().map((v) => [v.start, v.end, v.perms])).toEqual([
      [0, 5, "rw-p"],
      [5, 6, "r--p"],
      [6, 10, "rw-p"],
    ]);
  });

  test("mprotect over a hole changes what lies before it, then fails with ENOMEM", () => {
    const p = proc();
    map(p, 0, 2);
    map(p, 4, 2);
    expect(() => p.mprotect(0, 6, "r")).toThrowError(expect.objectContaining({ code: "ENOMEM" }));
    expect(p.vmas().map((v) => v.perms)).toEqual(["r--p", "rw-p"]);
  });

  test("touching an inaccessible page is EFAULT, after the pages before it", () => {
    const p = proc();
    map(p, 0, 4);
    p.mprotect(2, 2, "r");
    expect(() => p.touch(0, 4, "w")).toThrowError(expect.objectContaining({ code: "EFAULT" }));
    expect(p.vmas()[0].anonPages).toBe(2);
  });
});

describe("System.runScenario", () => {
  test("runs on the system's own state and returns the records", () => {
    const sys = System.createSync();
    sys.process(0).mmap(10, 4, "rw");
    const records = sys.runScenario("touch 10 2 w\nfork 1\nproc 1\nrmap 10\ntouch 20 1 r\ndump\n");
    expect(records).toEqual([
      { rmap: 0, proc: 1, page: 10, mapped: [[0, 10], [1, 10]] },
      { op: 4, proc: 1, errno: "EFAULT" },
      { dump: 0, proc: 1, vmas: [[10, 14, "rw-p", "anon", 2, "rd wr mr mw me ac"]] },
    ]);
    expect(sys.processes().map((p) => p.id)).toEqual([0, 1]);
  });
});
