import { describe, expect, test } from "vitest";
import { System } from "../src/index.js";

describe("mmap without MAP_FIXED: top-down from mmap_base", () => {
  const base = 0x100000;
  test("each new mapping goes just below the previous one, and merges with it", () => {
    const p = System.createSync({ mmapBase: base }).process(0);
    expect(p.mmap(null, 10, "rw")).toBe(base - 10);
    expect(p.mmap(null, 5, "rw")).toBe(base - 15);
    expect(p.vmas().map((v) => [v.start, v.end])).toEqual([[base - 15, base]]);
    // A different protection does not merge but is still placed adjacent.
    expect(p.mmap(null, 3, "r")).toBe(base - 18);
    expect(p.mapCount).toBe(2);
  });

  test("the highest gap that fits is used, holes first", () => {
    const p = System.createSync({ mmapBase: base }).process(0);
    p.mmap(base - 100, 40, "r");
    p.mmap(base - 50, 50, "r"); // leaves [base-60, base-50) free
    expect(p.mmap(null, 10, "rw")).toBe(base - 60);
    expect(p.mmap(null, 1, "rw")).toBe(base - 101);
  });

  test("anonymous mappings of whole PMDs are THP-aligned", () => {
    const p = System.createSync({ mmapBase: base + 7 }).process(0);
    const at = p.mmap(null, 1024, "rw");
    expect(at % 512).toBe(0);
    expect(at + 1024).toBeLessThanOrEqual(base + 7);
    // Not a whole number of PMDs: no alignment.
    expect(p.mmap(null, 100, "rw")).toBe(at - 100);
  });

  test("a stack's guard gap is left free", () => {
    const p = System.createSync({ mmapBase: base }).process(0);
    p.mmap(base - 10, 10, "rw", { kind: "anon" }, { growsdown: true });
    expect(p.mmap(null, 4, "rw")).toBe(base - 10 - 256 - 4);
  });

  test("mremap MAYMOVE moves a VMA that cannot grow in place", () => {
    const p = System.createSync({ mmapBase: base }).process(0);
    p.mmap(1000, 4, "rw");
    p.mmap(1004, 4, "r");
    p.touch(1000, 2, "w");
    expect(() => p.mremap(1000, 4, 8)).toThrowError(expect.objectContaining({ code: "ENOMEM" }));
    const to = p.mremap(1000, 4, 8, { maymove: true });
    expect(to).toBe(base - 8);
    expect(p.vmas().map((v) => [v.start, v.end, v.anonPages, v.pgoff])).toEqual([
      [1004, 1008, 0, 1004],
      [base - 8, base, 2, 1000],
    ]);
  });

  test("no room: ENOMEM", () => {
    const p = System.createSync({ mmapBase: 64 }).process(0);
    p.mmap(16, 48, "rw");
    expect(() => p.mmap(null, 2 ** 36, "rw")).toThrowError(expect.objectContaining({ code: "ENOMEM" }));
  });
});
