import { describe, expect, test } from "vitest";
import { MAX_PAGE, RangeMap, sharedCore } from "../src/index.js";
import { Random } from "../src/random.js";
import { RefMap } from "./support/refmap.js";

function expectErrno(fn: () => unknown, code: string): void {
  expect(fn).toThrowError(expect.objectContaining({ code }));
}

describe("RangeMap API", () => {
  test("insert, lookups, neighbours and iteration", async () => {
    const m = await RangeMap.create();
    m.insert(100, 200, 1);
    m.insert(200, 210, 2);
    m.insert(300, 400, 3);
    expect(m.size).toBe(3);
    expect(m.find(99)).toBe(-1);
    expect(m.find(100)).toBe(1);
    expect(m.find(209)).toBe(2);
    expect(m.find(210)).toBe(-1);
    expect(m.findNext(210)).toBe(3);
    expect(m.findNext(400)).toBe(-1);
    expect(m.at(250)).toBeNull();
    expect(m.at(350)).toEqual({ start: 300, end: 400, value: 3 });
    expect(m.prev(300)).toEqual({ start: 200, end: 210, value: 2 });
    expect(m.prev(150)).toBeNull();
    expect(m.next(150)).toEqual({ start: 200, end: 210, value: 2 });
    expect(m.next(300)).toBeNull();
    expect(m.entries(150, 301).map((e) => e.value)).toEqual([1, 2, 3]);
    expect(m.entries(210, 300)).toEqual([]);
    m.free();
  });

  test("edge cases: page 0, the top of the f64 domain, adjacency", () => {
    const m = RangeMap.createSync();
    m.insert(0, 1, 5);
    m.insert(MAX_PAGE - 1, MAX_PAGE, 6);
    m.insert(1, 2, 7);
    expect(m.find(0)).toBe(5);
    expect(m.find(MAX_PAGE - 1)).toBe(6);
    expect(m.findNext(2)).toBe(6);
    expect(m.gap(1, { topdown: true })).toBe(MAX_PAGE - 2);
    expect(m.gap(1)).toBe(2);
    expect(m.entries().length).toBe(3);
    m.erase(0, MAX_PAGE);
    expect(m.size).toBe(0);
    expect(m.gap(MAX_PAGE)).toBe(0);
    m.free();
  });

  test("bad input is refused with errno codes and no change", () => {
    const m = RangeMap.createSync();
    m.insert(10, 20, 1);
    expectErrno(() => m.insert(15, 25, 2), "EEXIST");
    expectErrno(() => m.insert(5, 11, 2), "EEXIST");
    expectErrno(() => m.insert(20, 20, 2), "EINVAL");
    expectErrno(() => m.insert(-1, 5, 2), "EINVAL");
    expectErrno(() => m.insert(1.5, 5, 2), "EINVAL");
    expectErrno(() => m.insert(MAX_PAGE, MAX_PAGE + 2, 2), "EINVAL");
    expectErrno(() => m.insert(30, 40, -1), "EINVAL");
    expectErrno(() => m.insert(30, 40, 2 ** 31), "EINVAL");
    expectErrno(() => m.update(25, 1), "ENOENT");
    expectErrno(() => m.find(NaN), "EINVAL");
    expectErrno(() => m.gap(0), "EINVAL");
    expect(m.entries()).toEqual([{ start: 10, end: 20, value: 1 }]);
    m.erase(30, 40); // erasing nothing is fine
    expect(m.size).toBe(1);
    m.update(15, 9);
    expect(m.find(10)).toBe(9);
    m.free();
    expectErrno(() => m.find(1), "EINVAL");
  });

  test("an injected allocation failure leaves the map as it was", () => {
    const core = sharedCore();
    const m = RangeMap.createSync();
    for (let i = 0; i < 500; i++) m.insert(i * 3, i * 3 + 2, i);
    m.insert(20_000, 20_010, 7);
    const before = m.entries();
    core.ex.mem_inject_reserve_failure(1);
    expectErrno(() => m.insert(10_000, 10_001, 1), "ENOMEM");
    // Cutting a hole in a range adds one; no other erase needs memory, so none other can fail.
    core.ex.mem_inject_reserve_failure(1);
    expectErrno(() => m.erase(20_003, 20_005), "ENOMEM");
    expect(m.entries()).toEqual(before);
    const failures = core.ex.mem_injected_failures();
    core.ex.mem_inject_reserve_failure(1);
    m.erase(20_008, 20_010);
    core.ex.mem_inject_reserve_failure(0);
    expect(core.ex.mem_injected_failures()).toBe(failures);
    expect(m.entries().at(-1)).toEqual({ start: 20_000, end: 20_008, value: 7 });
    m.validate();
    m.insert(10_000, 10_001, 1);
    expect(m.size).toBe(502);
    m.free();
  });

  // Small maps walk batches as given; maps of 2^17 ranges or more sort them first.
  for (const ranges of [2000, 140_000]) {
    test(`findMany agrees with find across batch boundaries (${ranges} ranges)`, () => {
      const m = RangeMap.createSync();
      const rnd = new Random(7);
      for (let i = 0; i < ranges; i++) m.insert(i * 10, i * 10 + rnd.range(1, 9), i);
      const addrs = new Float64Array(50_000).map(() => rnd.int(ranges * 10 + 1000));
      const got = m.findMany(addrs);
      const want = Int32Array.from(addrs, (a) => m.find(a));
      expect(got).toEqual(want);
      m.free();
    });
  }
});

/**
 * Differential fuzzing against RefMap. Each seed runs OPS operations over a
 * domain placed somewhere in [0, 2^53], validating the tree every 1,000.
 */
const OPS = 25_000;
const SEEDS: [number, number][] = [
  [1, 0],
  [2, 0],
  [3, 2 ** 40],
  [4, MAX_PAGE - 30_000],
];

describe("RangeMap against a reference model", () => {
  for (const [seed, base] of SEEDS) {
    // Two maps in one core, each op on either: every map keeps its own path
    // and finger, which ops on the other must not disturb.
    test(`seed ${seed}, base ${base}: ${OPS} random operations on two maps`, () => {
      const rnd = new Random(seed);
      const pairs = [0, 1].map(() => ({ m: RangeMap.createSync(), ref: new RefMap() }));
      const span = 30_000;
      const addr = () => base + rnd.int(span);
      const len = () => (rnd.chance(0.8) ? rnd.range(1, 8) : rnd.range(9, 600));
      for (let op = 1; op <= OPS; op++) {
        const { m, ref } = pairs[rnd.int(10) < 7 ? 0 : 1];
        const k = rnd.int(100);
        if (k < 40) {
          const s = addr();
          const e = Math.min(s + len(), MAX_PAGE);
          const v = rnd.int(2 ** 31);
          const ok = ref.insert(s, e, v);
          if (ok) m.insert(s, e, v);
          else expect(() => m.insert(s, e, v)).toThrowError(/EEXIST/);
        } else if (k < 55) {
          const s = addr();
          const e = Math.min(s + len() * (rnd.chance(0.1) ? 20 : 1), MAX_PAGE);
          ref.erase(s, e);
          m.erase(s, e);
        } else if (k < 65) {
          const a = addr();
          expect(m.find(a)).toBe(ref.at(a)?.value ?? -1);
          expect(m.at(a)).toEqual(ref.at(a));
        } else if (k < 75) {
          const a = addr();
          expect(m.findNext(a)).toBe(ref.nextFrom(a)?.value ?? -1);
          expect(m.nextFrom(a)).toEqual(ref.nextFrom(a));
        } else if (k < 80) {
          const a = addr();
          expect(m.prev(a)).toEqual(ref.prev(a));
          expect(m.next(a)).toEqual(ref.next(a));
        } else if (k < 93) {
          const size = rnd.chance(0.7) ? rnd.range(1, 16) : rnd.range(17, 2000);
          const lo = rnd.chance(0.3) ? 0 : addr();
          const hi = rnd.chance(0.3) ? MAX_PAGE : Math.min(lo + rnd.range(1, span), MAX_PAGE);
          const align = rnd.chance(0.6) ? 1 : rnd.pick([2, 3, 16, 512]);
          const topdown = rnd.chance(0.5);
          const want = ref.gap(size, lo, hi, align, topdown, MAX_PAGE);
          expect(m.gap(size, { lo, hi, align, topdown }), `gap ${size} [${lo},${hi}) /${align} ${topdown}`).toBe(want);
        } else if (k < 97) {
          const lo = addr();
          const hi = Math.min(lo + rnd.range(1, 2000), MAX_PAGE);
          expect(m.entries(lo, hi)).toEqual(ref.entries(lo, hi));
        } else {
          const a = addr();
          const hit = ref.at(a);
          const v = rnd.int(1000);
          if (hit) {
            hit.value = v;
            m.update(a, v);
          } else expect(() => m.update(a, v)).toThrowError(/ENOENT/);
        }
        if (op % 1000 === 0) {
          m.validate();
          expect(m.size).toBe(ref.ranges.length);
        }
      }
      for (const { m, ref } of pairs) {
        m.validate();
        expect(m.entries()).toEqual(ref.ranges);
        m.free();
      }
    });
  }
});

describe("memory under churn", () => {
  test("10^6 insert/erase operations reuse freed nodes", () => {
    const core = sharedCore();
    const m = RangeMap.createSync();
    const rnd = new Random(11);
    const slots = 20_000;
    const live = new Uint8Array(slots);
    for (let i = 0; i < slots; i += 2) {
      m.insert(i * 8, i * 8 + 4, i);
      live[i] = 1;
    }
    const warm = core.memoryStats().poolBytes;
    for (let k = 0; k < 1_000_000; k++) {
      const i = rnd.int(slots);
      if (live[i]) m.erase(i * 8, i * 8 + 4);
      else m.insert(i * 8, i * 8 + 4, i);
      live[i] ^= 1;
    }
    m.validate();
    expect(m.size).toBe(live.reduce((a, b) => a + b, 0));
    const after = core.memoryStats();
    // The pools may only grow by what the extra live ranges need, not per operation.
    expect(after.poolBytes).toBeLessThanOrEqual(warm * 2 + 65536 * 2);
    expect(after.nodeBytes / m.size).toBeLessThan(80);
    m.free();
  });
});
