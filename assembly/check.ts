// Invariant checks over a whole system, for tests: every op must leave the
// VMA trees sound and the anon_vma counters equal to their recount.

import { avActive, avChildren, avParent, avRoot, avcAnonVma, avcNextInAnonVma, avcNextInVma, avFirstAvc } from "./anon_vma";
import { findVma, mmMap, vmaNext } from "./mm";
import * as rm from "./rangemap";
import { vmaAnonVma, vmaChain, vmaEnd, vmaMm, vmaStart } from "./vma";

export const CHECK_OK: i32 = 0;
export const CHECK_TREE: i32 = 1;
export const CHECK_VMA_RANGE: i32 = 2;
export const CHECK_CHAIN: i32 = 3;
export const CHECK_AVC_LISTED: i32 = 4;
export const CHECK_ROOT: i32 = 5;
export const CHECK_ACTIVE: i32 = 6;
export const CHECK_CHILDREN: i32 = 7;
export const CHECK_OWNER: i32 = 8;

/** Adds 1 to the count kept for key k in map m (a range map used as a counter table). */
function bump(m: usize, k: usize): void {
  let v = rm.find(m, k);
  if (v < 0) rm.insert(m, k, <u64>k + 1, 1);
  else rm.update(m, k, <u32>v + 1);
}

@inline function countOf(m: usize, k: usize): u32 {
  let v = rm.find(m, k);
  return v < 0 ? 0 : <u32>v;
}

/** What the first failed check was about (a VMA start, or an anon_vma handle). */
export let checkDetail: u64 = 0;

/** Checks every mm in the array of `n` u32 handles at `mms`. Returns 0 or a CHECK_ code. */
export function checkSystem(mms: usize, n: i32): i32 {
  let active = rm.mapCreate();
  let children = rm.mapCreate();
  let seen = rm.mapCreate();
  let err = checkInto(mms, n, active, children, seen);
  rm.mapFree(active);
  rm.mapFree(children);
  rm.mapFree(seen);
  return err;
}

function checkInto(mms: usize, n: i32, active: usize, children: usize, seen: usize): i32 {
  for (let i = 0; i < n; i++) {
    let mm = <usize>load<u32>(mms + (<usize>i << 2));
    if (rm.validate(mmMap(mm)) != 0) return CHECK_TREE;
    for (let v = findVma(mm, 0); v != 0; v = vmaNext(mm, v)) {
      checkDetail = vmaStart(v);
      if (vmaMm(v) != mm || rm.find(mmMap(mm), vmaStart(v)) != <i32>v || vmaStart(v) >= vmaEnd(v)) return CHECK_OWNER;
      let av = vmaAnonVma(v);
      // A faulted VMA has a chain that contains its own anon_vma; an unfaulted one has none.
      if ((av == 0) != (vmaChain(v) == 0)) return CHECK_CHAIN;
      if (av == 0) continue;
      bump(active, av);
      let own = false;
      for (let c = vmaChain(v); c != 0; c = avcNextInVma(c)) {
        let a = avcAnonVma(c);
        if (a == av) own = true;
        if (avRoot(a) != avRoot(av)) return CHECK_ROOT;
        let listed = false;
        for (let d = avFirstAvc(a); d != 0 && !listed; d = avcNextInAnonVma(d)) listed = d == c;
        if (!listed) return CHECK_AVC_LISTED;
        if (rm.find(seen, a) < 0) {
          rm.insert(seen, a, <u64>a + 1, 1);
          if (avParent(a) != a) bump(children, avParent(a));
        }
      }
      if (!own) return CHECK_CHAIN;
    }
  }
  // Every anon_vma a VMA links to: its counters against the recount.
  let at: u64 = 0;
  while (true) {
    if (rm.findNext(seen, at) < 0) break;
    let a = <usize>load<u64>(rm.FOUND);
    at = <u64>a + 1;
    checkDetail = a;
    if (avActive(a) != countOf(active, a)) return CHECK_ACTIVE;
    let selfLink: u32 = avParent(a) == a ? 1 : 0;
    if (avChildren(a) != countOf(children, a) + selfLink) return CHECK_CHILDREN;
  }
  return CHECK_OK;
}
