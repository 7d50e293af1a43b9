import * as E from "../errno";
import * as rm from "../rangemap";

// A tiny xorshift so the spec is deterministic without host imports.
let seed: u64 = 0x9e3779b97f4a7c15;
function rand(n: u64): u64 {
  seed ^= seed << 13;
  seed ^= seed >> 7;
  seed ^= seed << 17;
  return seed % n;
}

describe("rangemap", () => {
  test("insert, find and find_next on a few ranges", () => {
    let m = rm.mapCreate();
    expect(rm.insert(m, 10, 20, 1)).toBe(0);
    expect(rm.insert(m, 30, 40, 2)).toBe(0);
    expect(rm.insert(m, 20, 25, 3)).toBe(0);
    expect(rm.mapSize(m)).toBe(3);
    expect(rm.find(m, 9)).toBe(-1);
    expect(rm.find(m, 10)).toBe(1);
    expect(rm.find(m, 19)).toBe(1);
    expect(rm.find(m, 20)).toBe(3);
    expect(rm.find(m, 25)).toBe(-1);
    expect(rm.findNext(m, 25)).toBe(2);
    expect(rm.findNext(m, 40)).toBe(-1);
    expect(rm.validate(m)).toBe(0);
    rm.mapFree(m);
  });

  test("overlapping insert fails with EEXIST and changes nothing", () => {
    let m = rm.mapCreate();
    expect(rm.insert(m, 10, 20, 1)).toBe(0);
    expect(rm.insert(m, 15, 30, 2)).toBe(E.EEXIST);
    expect(rm.insert(m, 0, 11, 2)).toBe(E.EEXIST);
    expect(rm.insert(m, 5, 5, 2)).toBe(E.EINVAL);
    expect(rm.mapSize(m)).toBe(1);
    expect(rm.find(m, 25)).toBe(-1);
    rm.mapFree(m);
  });

  test("erase cuts, splits and removes", () => {
    let m = rm.mapCreate();
    rm.insert(m, 0, 100, 7);
    expect(rm.erase(m, 40, 60)).toBe(0);
    expect(rm.mapSize(m)).toBe(2);
    expect(rm.find(m, 39)).toBe(7);
    expect(rm.find(m, 40)).toBe(-1);
    expect(rm.find(m, 60)).toBe(7);
    expect(rm.erase(m, 30, 70)).toBe(0);
    expect(rm.lookup(m, 10)).toBe(7);
    expect(load<u64>(rm.FOUND, 8)).toBe(30);
    expect(rm.lookup(m, 80)).toBe(7);
    expect(load<u64>(rm.FOUND)).toBe(70);
    expect(rm.erase(m, 0, 1000)).toBe(0);
    expect(rm.mapSize(m)).toBe(0);
    expect(rm.validate(m)).toBe(0);
    rm.mapFree(m);
  });

  test("pages near the top of u64 work", () => {
    let m = rm.mapCreate();
    let top: u64 = u64.MAX_VALUE - 1;
    expect(rm.insert(m, top - 10, top, 5)).toBe(0);
    expect(rm.find(m, top - 1)).toBe(5);
    expect(rm.find(m, top)).toBe(-1);
    expect(rm.gap(m, 1, 0, rm.PAGE_END, 1, true)).toBe(top);
    rm.mapFree(m);
  });

  test("a tree of thousands of ranges stays valid through splits and merges", () => {
    let m = rm.mapCreate();
    // Ascending, then a second pass filling the gaps top-down.
    for (let i: u64 = 0; i < 3000; i++) expect(rm.insert(m, i * 4, i * 4 + 2, <u32>i)).toBe(0);
    for (let i: i64 = 2999; i >= 0; i--) expect(rm.insert(m, <u64>i * 4 + 2, <u64>i * 4 + 3, 1)).toBe(0);
    expect(rm.validate(m)).toBe(0);
    expect(rm.mapSize(m)).toBe(6000);
    expect(rm.gap(m, 1, 0, rm.PAGE_END, 1, false)).toBe(3);
    expect(rm.gap(m, 2, 0, rm.PAGE_END, 1, false)).toBe(12000 - 1);
    expect(rm.gap(m, 1, 0, 11999, 1, true)).toBe(11995);
    for (let k = 0; k < 20000; k++) {
      let s = rand(12000);
      let len = rand(8) + 1;
      if (k & 1) rm.erase(m, s, s + len);
      else rm.insert(m, s, s + len, <u32>k);
      if (k % 997 == 0) expect(rm.validate(m)).toBe(0);
    }
    expect(rm.validate(m)).toBe(0);
    expect(rm.erase(m, 0, 20000)).toBe(0);
    expect(rm.mapSize(m)).toBe(0);
    expect(rm.validate(m)).toBe(0);
    rm.mapFree(m);
  });

  test("reservation failure leaves the map untouched", () => {
    let m = rm.mapCreate();
    for (let i: u64 = 0; i < 200; i++) rm.insert(m, i * 2, i * 2 + 1, 1);
    let before = rm.nodeBytes();
    injectFailure();
    expect(rm.insert(m, 1001, 1002, 1)).toBe(E.ENOMEM);
    expect(rm.mapSize(m)).toBe(200);
    expect(rm.nodeBytes()).toBe(before);
    expect(rm.find(m, 1001)).toBe(-1);
    expect(rm.validate(m)).toBe(0);
    rm.mapFree(m);
  });
});

import { injectReserveFailure } from "../mem";
function injectFailure(): void {
  injectReserveFailure(1);
}

describe("rangemap splitAt", () => {
  test("splits below and above, through full leaves and spills, keeping the tree sound", () => {
    let m = rm.mapCreate();
    for (let i: u64 = 0; i < 2000; i++) rm.insert(m, i * 10, i * 10 + 8, <u32>i);
    for (let i: u64 = 0; i < 2000; i++) {
      expect(rm.splitAt(m, i * 10 + 2 + (i & 3), 5000 + <u32>i, (i & 1) == 0)).toBe(0);
      if (i % 97 == 0) expect(rm.validate(m)).toBe(0);
    }
    expect(rm.validate(m)).toBe(0);
    expect(rm.mapSize(m)).toBe(4000);
    // Page 10*7+2+3 = 75 splits range 7 at 75, the part from 75 up is new (odd: !newBelow).
    expect(rm.find(m, 74)).toBe(7);
    expect(rm.find(m, 75)).toBe(5007);
    // Range 6 split at 64 with the part below new.
    expect(rm.find(m, 63)).toBe(5006);
    expect(rm.find(m, 64)).toBe(6);
    expect(rm.splitAt(m, 9, 1, true)).toBe(E.ENOENT);
    expect(rm.splitAt(m, 0, 1, true)).toBe(E.ENOENT);
    rm.mapFree(m);
  });
});

describe("rangemap storeRange", () => {
  test("matches erase + insert on random overwrites, merges and growth", () => {
    let a = rm.mapCreate();
    let b = rm.mapCreate();
    for (let i: u64 = 0; i < 600; i++) {
      rm.insert(a, i * 5, i * 5 + 3, <u32>i);
      rm.insert(b, i * 5, i * 5 + 3, <u32>i);
    }
    for (let k = 0; k < 20000; k++) {
      let s = rand(3000);
      let e = s + 1 + rand(k & 1 ? 4 : 40);
      // Half the time store a value already there (a VMA growing over its neighbours).
      let v = k & 2 ? <u32>rand(600) : <u32>max<i32>(rm.find(a, s), 0);
      expect(rm.storeRange(a, s, e, v)).toBe(0);
      rm.erase(b, s, e);
      rm.insert(b, s, e, v);
      if (k % 2500 == 0) {
        expect(rm.validate(a)).toBe(0);
        expect(rm.mapSize(a)).toBe(rm.mapSize(b));
        for (let p: u64 = 0; p < 3100; p++) expect(rm.find(a, p)).toBe(rm.find(b, p));
      }
    }
    expect(rm.validate(a)).toBe(0);
    rm.mapFree(a);
    rm.mapFree(b);
  });
});

// A page-by-page model of the map for the hole test: start, end and value of
// the range over each page (value -1: free).
const D: i32 = 4000;
const refS = new StaticArray<u64>(D);
const refE = new StaticArray<u64>(D);
const refV = new StaticArray<i32>(D);
function refSet(s: u64, e: u64, v: i32): void {
  for (let p = <i32>s; p < <i32>e; p++) {
    refS[p] = s;
    refE[p] = e;
    refV[p] = v;
  }
}
/** Checks every page, the count, the walk and next/prev against the model. */
function expectModel(m: usize): void {
  expect(rm.validate(m)).toBe(0);
  let ranges: u32 = 0;
  for (let p = 0; p < D; p++) {
    expect(rm.find(m, <u64>p)).toBe(refV[p]);
    if (refV[p] >= 0 && refS[p] == <u64>p) ranges++;
  }
  expect(rm.mapSize(m)).toBe(ranges);
  let walked: u32 = 0;
  if (rm.walkFrom(m, 0)) {
    do {
      let s = rm.walkStart();
      expect(refV[<i32>s] >= 0 && refS[<i32>s] == s).toBe(true);
      walked++;
    } while (rm.walkNext(m));
  }
  expect(walked).toBe(ranges);
  for (let k = 0; k < 200; k++) {
    let a = <i32>rand(<u64>D);
    // next: the first range starting above a.
    let want = -1;
    for (let p = a + 1; p < D; p++) if (refV[p] >= 0 && refS[p] == <u64>p) { want = refV[p]; break; }
    expect(rm.next(m, <u64>a)).toBe(want);
    // prev: the last range ending at or below a, before whatever is at a.
    want = -1;
    let below = refV[a] >= 0 ? <i32>refS[a] : a;
    for (let p = below - 1; p >= 0; p--) if (refV[p] >= 0) { want = refV[p]; break; }
    expect(rm.prev(m, <u64>a)).toBe(want);
  }
}

describe("rangemap holes", () => {
  test("removed ranges leave holes that inserts, splits, merges and walks handle like free space", () => {
    let m = rm.mapCreate();
    for (let p = 0; p < D; p++) refV[p] = -1;
    // Ranges of 4 pages with a free page between every few, like VMAs.
    for (let s: u64 = 0; s + 4 <= <u64>D; s += rand(5) == 0 ? 5 : 4) {
      expect(rm.insert(m, s, s + 4, <u32>s)).toBe(0);
      refSet(s, s + 4, <i32>s);
    }
    expectModel(m);
    let nextValue: i32 = 100000;
    for (let op = 1; op <= 12000; op++) {
      let p = <i32>rand(<u64>D);
      let k = rand(100);
      let v = nextValue++;
      if (refV[p] < 0) {
        // Map part of the free run around p (fills a hole when the run is one).
        let a = p;
        let b = p + 1;
        while (a > 0 && refV[a - 1] < 0) a--;
        while (b < D && refV[b] < 0) b++;
        let s = <u64>a + (k < 60 ? 0 : rand(<u64>(p - a + 1)));
        let e = k < 60 ? <u64>b : s + 1 + rand(<u64>b - s);
        expect(rm.insert(m, s, e, <u32>v)).toBe(0);
        refSet(s, e, v);
      } else {
        let s = refS[p];
        let e = refE[p];
        if (k < 40) {
          // munmap of a whole VMA.
          expect(rm.erase(m, s, e)).toBe(0);
          refSet(s, e, -1);
        } else if (k < 55 && <u64>p > s) {
          let below = (k & 1) == 0;
          expect(rm.splitAt(m, <u64>p, <u32>v, below)).toBe(0);
          let was = refV[p];
          refSet(s, <u64>p, below ? v : was);
          refSet(<u64>p, e, below ? was : v);
        } else if (k < 70 && <u64>p > s && <u64>p + 1 < e) {
          let hi = <u64>p + 1 + rand(e - <u64>p - 1);
          if (hi == e) hi = e - 1;
          if (hi > <u64>p) {
            expect(rm.splitAround(m, <u64>p, hi, <u32>v, <u32>nextValue)).toBe(0);
            refSet(<u64>p, hi, refV[p]);
            refSet(s, <u64>p, v);
            refSet(hi, e, nextValue++);
          }
        } else if (k < 90) {
          // A merge: the range grows over its neighbours (vma_expand).
          let ns = s > 0 && refV[<i32>s - 1] >= 0 ? refS[<i32>s - 1] : s;
          let ne = e < <u64>D && refV[<i32>e] >= 0 ? refE[<i32>e] : e;
          expect(rm.storeRange(m, ns, ne, <u32>refV[p])).toBe(0);
          refSet(ns, ne, refV[p]);
        } else {
          // A munmap across ranges and free pages.
          let a = <u64>p;
          let b = min<u64>(a + 1 + rand(12), <u64>D);
          expect(rm.erase(m, a, b)).toBe(0);
          let l = <i32>a;
          let r = <i32>b - 1;
          let ls = refS[l];
          let lv = refV[l];
          let re = refE[r];
          let rv = refV[r];
          refSet(a, b, -1);
          // What was cut keeps its value on the pages left.
          if (lv >= 0 && ls < a) refSet(ls, a, lv);
          if (rv >= 0 && re > b) refSet(b, re, rv);
        }
      }
      if (op % 100 == 0) expect(rm.validate(m)).toBe(0);
      if (op % 1500 == 0) expectModel(m);
    }
    expectModel(m);
    rm.mapFree(m);
  });
});
