import { describe, expect, test } from "vitest";
import { System } from "../src/index.js";

const anonVma = (sys: System, proc: number) => sys.process(proc).vmas()[0].anonVma;
const chain = (sys: System, proc: number) => sys.process(proc).vmas()[0].chainLength;

describe("anon_vma hierarchy", () => {
  // The worked example of commit 7a3ef208e662 (kernel-notes C.5): a fork chain
  // whose middle links exit reuses an idle ancestor instead of growing deeper.
  test("anon_vma_fork reuses an ancestor with no VMAs and fewer than two children", () => {
    for (const forkReuse of [true, false]) {
      const sys = System.createSync({ forkReuse });
      const p = sys.process(0);
      p.mmap(100, 4, "rw");
      p.touch(100, 1, "w");
      const a = anonVma(sys, 0);
      p.fork(1);
      const b = anonVma(sys, 1);
      expect(b).not.toBe(a);
      p.exit(); // A: no VMAs left, children: itself + B
      sys.process(1).fork(2);
      const c = anonVma(sys, 2);
      expect([a, b]).not.toContain(c); // A has two children, B a VMA: neither reusable
      sys.process(1).exit(); // B: no VMAs, one child (C)
      sys.process(2).fork(3);
      if (forkReuse) {
        expect(anonVma(sys, 3)).toBe(b);
      } else {
        expect([a, b, c]).not.toContain(anonVma(sys, 3));
      }
      // The chain holds one link per ancestor anon_vma, plus the child's own when it is new.
      expect(chain(sys, 3)).toBe(forkReuse ? 3 : 4);
      sys.checkInvariants();
    }
  });

  test("first fault reuses a compatible neighbour's anon_vma (find_mergeable_anon_vma)", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(100, 4, "rw");
    p.touch(100, 1, "w");
    p.mmap(104, 4, "r"); // adjacent, pgoff continuous, flags differ only in access bits
    p.mprotect(104, 4, "rw");
    expect(p.vmas().length).toBe(1); // it merged: nothing to reuse yet
    p.mmap(108, 4, "rx");
    p.touch(108, 1, "r");
    p.mprotect(108, 4, "rwx");
    p.touch(108, 1, "w");
    const [left, right] = p.vmas();
    expect(right.anonVma).toBe(left.anonVma);
  });

  test("a fork child's faulted VMA does not lend its anon_vma to a neighbour", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(100, 4, "rw");
    p.touch(100, 1, "w");
    const child = p.fork(1);
    child.mmap(104, 4, "rwx");
    child.touch(104, 1, "w");
    const [left, right] = child.vmas();
    expect(left.chainLength).toBe(2);
    expect(right.anonVma).not.toBe(left.anonVma);
    sys.checkInvariants();
  });

  test("every record is freed when every process exits", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(100, 8, "rw");
    p.touch(100, 8, "w");
    p.fork(1).fork(2).touch(100, 2, "w");
    for (const q of sys.processes()) q.exit();
    expect(sys.liveObjects()).toEqual({ anonVmas: 0, avcs: 0, vmas: 0, folios: 0 });
  });
});
