import { describe, expect, test } from "vitest";
import { System } from "../src/index.js";

const BASE = 0x1000;

/** A parent with `pages` written pages and `children` fork children; child k (id k + 1) writes page k. */
function forkServer(pages: number, children: number, forkReuse = true): System {
  const sys = System.createSync({ forkReuse });
  const parent = sys.process(0);
  parent.mmap(BASE, pages, "rw");
  parent.touch(BASE, pages, "w");
  for (let k = 0; k < children; k++) parent.fork(k + 1).touch(BASE + k, 1, "w");
  return sys;
}

describe("rmap walks over the anon_vma interval trees", () => {
  test("a shared page is found in every process still mapping it; a COW copy only in its owner", () => {
    const sys = forkServer(64, 20);
    // Page 5: child 6 broke COW on it, everyone else still maps the parent's folio.
    const shared = sys.rmap(0, BASE + 5);
    const expected = [[0, BASE + 5], ...Array.from({ length: 20 }, (_, k) => [k + 1, BASE + 5])].filter(
      ([p]) => p !== 6,
    );
    expect(shared.mappings).toEqual(expected);
    // Every child's VMA links to the parent's anon_vma and covers the page.
    expect(shared.vmasVisited).toBe(21);
    expect(shared.avcsVisited).toBeGreaterThanOrEqual(21);
    const copy = sys.rmap(6, BASE + 5);
    expect(copy.mappings).toEqual([[6, BASE + 5]]);
    expect(copy.vmasVisited).toBe(1);
    // Same answer asked from any process that maps the folio.
    expect(sys.rmap(17, BASE + 5).mappings).toEqual(expected);
    expect(sys.rmap(0, BASE + 100).mappings).toEqual([]);
    sys.checkInvariants();
  });

  test("the tree prunes: one anon_vma with 256 VMAs visits one VMA and O(log n) AVCs", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(BASE, 2048, "rw");
    p.touch(BASE, 2048, "w");
    for (let b = 0; b < 2048; b += 16) p.mprotect(BASE + b, 8, "r");
    expect(p.vmas().length).toBe(256);
    expect(new Set(p.vmas().map((v) => v.anonVma)).size).toBe(1);
    for (const page of [BASE, BASE + 1000, BASE + 2047]) {
      const r = sys.rmap(0, page);
      expect(r.mappings).toEqual([[0, page]]);
      expect(r.vmasVisited).toBe(1);
      // An AVL tree of 256 nodes is at most 11 deep; a search touches a few paths.
      expect(r.avcsVisited).toBeLessThanOrEqual(24);
    }
    sys.checkInvariants();
  });

  test("folios keep their index when mremap moves them: rmap finds the new address", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(BASE, 8, "rw");
    p.touch(BASE, 8, "w");
    const child = p.fork(1);
    const to = p.mremap(BASE, 8, 8, { fixed: BASE + 0x100 });
    expect(to).toBe(BASE + 0x100);
    expect(sys.rmap(0, to + 3).mappings).toEqual([
      [0, to + 3],
      [1, BASE + 3],
    ]);
    child.touch(BASE + 3, 1, "w");
    expect(sys.rmap(0, to + 3).mappings).toEqual([[0, to + 3]]);
    sys.checkInvariants();
  });

  test("rmap pages through more mappings than one batch holds", () => {
    const sys = forkServer(1, 0);
    // The boundary batch holds 16,384 pairs.
    for (let k = 1; k <= 16_500; k++) sys.process(0).fork(k);
    const r = sys.rmap(0, BASE);
    expect(r.mappings.length).toBe(16_501);
    expect(r.mappings[16_500]).toEqual([16_500, BASE]);
    expect(r.vmasVisited).toBe(16_501);
  });
});

describe("anon_vma lock chains, graph and metrics", () => {
  test("a fork chain whose parents exit: the chain stays short with 7a3ef208e662, grows without", () => {
    for (const forkReuse of [true, false]) {
      const sys = System.createSync({ forkReuse });
      let p = sys.process(0);
      p.mmap(BASE, 4, "rw");
      p.touch(BASE, 4, "w");
      for (let id = 1; id <= 30; id++) {
        const next = p.fork(id);
        p.exit();
        next.touch(BASE, 1, "w");
        p = next;
      }
      const chain = sys.lockChain(30, BASE);
      if (forkReuse) expect(chain.chainLength).toBeLessThanOrEqual(3);
      else expect(chain.chainLength).toBe(31);
      expect(chain.distinctRoots).toBe(1);
      const root = sys.anonVmaGraph().anonVmas.find((a) => a.id === chain.lockedRoot)!;
      expect(root.parent).toBe(root.id);
      // Under the root: the one live VMA and the folios still mapped (4 pages, the first rewritten 30 times).
      expect(chain.rootVmas).toBe(1);
      expect(chain.rootFolios).toBe(4);
      const m = sys.metrics();
      if (forkReuse) {
        expect(m.anonVmas).toBeLessThanOrEqual(3);
      } else {
        expect(m.anonVmas).toBe(31);
        expect(m.hierarchyDepth.max).toBe(30);
      }
      sys.checkInvariants();
    }
  });

  test("the graph after a fork: two anon_vmas, three AVC edges, one parent edge", () => {
    const sys = System.createSync();
    const p = sys.process(0);
    p.mmap(BASE, 4, "rw");
    p.touch(BASE, 2, "w");
    p.fork(1);
    const g = sys.anonVmaGraph();
    expect(g.anonVmas.length).toBe(2);
    const [root, child] = g.anonVmas;
    expect(root).toMatchObject({ parent: root.id, root: root.id, children: 1, activeVmas: 1, folios: 2, avcs: 2, depth: 0 });
    expect(child).toMatchObject({ parent: root.id, root: root.id, children: 0, activeVmas: 1, folios: 0, avcs: 1, depth: 1 });
    expect(g.vmas).toEqual([
      { proc: 0, start: BASE, end: BASE + 4, anonVma: root.id },
      { proc: 1, start: BASE, end: BASE + 4, anonVma: child.id },
    ]);
    expect(g.avcs).toEqual([
      { proc: 0, start: BASE, anonVma: root.id },
      { proc: 1, start: BASE, anonVma: child.id },
      { proc: 1, start: BASE, anonVma: root.id },
    ]);
    expect(g.parents).toEqual([{ child: child.id, parent: root.id }]);
  });

  test("metrics of a fork server", () => {
    const sys = forkServer(64, 20);
    sys.rmap(0, BASE);
    sys.rmap(3, BASE + 2);
    const m = sys.metrics();
    expect(m.processes).toBe(21);
    expect(m.vmas.total).toBe(21);
    expect(m.vmas.faulted).toBe(21);
    expect(m.anonVmas).toBe(21);
    expect(m.roots).toBe(1);
    expect(m.avcs).toBe(41);
    expect(m.chainLength).toEqual({ mean: 41 / 21, p99: 2, max: 2 });
    expect(m.hierarchyDepth.max).toBe(1);
    // One root: the parent's 64 folios plus the 20 COW copies, and all 21 VMAs.
    expect(m.perRoot.folios.max).toBe(84);
    expect(m.perRoot.vmas.max).toBe(21);
    expect(m.folios).toBe(84);
    expect(m.rmap.walks).toBe(2);
    expect(m.rmap.vmasPerWalk).toBe((21 + 1) / 2);
    expect(m.memory.pageTableBytes).toBeGreaterThan(0);
  });
});

describe("allocation failures", () => {
  test("a memory limit turns growth into ENOMEM, with nothing changed", () => {
    const sys = System.createSync({ memoryLimit: 8 * 2 ** 20 });
    const p = sys.process(0);
    let failed = false;
    let at = BASE;
    for (let i = 0; i < 10_000 && !failed; i++, at += 1024) {
      try {
        p.mmap(at, 1024, "rw");
      } catch (err) {
        expect((err as { code: string }).code).toBe("ENOMEM");
        failed = true;
        break;
      }
      const before = p.vmas();
      try {
        p.touch(at, 1024, "w");
      } catch (err) {
        expect((err as { code: string }).code).toBe("ENOMEM");
        expect(p.vmas()).toEqual(before);
        failed = true;
      }
    }
    expect(failed).toBe(true);
    expect(sys.core.buffer.byteLength).toBeLessThanOrEqual(8 * 2 ** 20);
    sys.checkInvariants();
    p.exit();
    expect(sys.liveObjects()).toEqual({ anonVmas: 0, avcs: 0, vmas: 0, folios: 0 });
  });

  test("bad injection arguments are EINVAL", () => {
    const sys = System.createSync();
    expect(() => sys.failAllocations(2)).toThrow(/EINVAL/);
    expect(() => sys.failNthAllocation(-1)).toThrow(/EINVAL/);
    expect(() => System.createSync({ memoryLimit: Number.NaN })).toThrow(/EINVAL/);
  });
});
