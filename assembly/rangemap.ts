// A maple-style range map: a B-tree of non-overlapping half-open page ranges
// [start, end) -> u32 value, in flat linear memory.
//
// Like the kernel's maple tree (alloc-range flavour) the internal nodes carry,
// per child, the lowest start, the highest end and the largest gap between two
// ranges inside the child (maple_arange_64's gap[]). That makes find_vma,
// vma_lookup and both directions of unmapped_area logarithmic. Unlike the maple
// tree, gaps are not stored as NULL entries: a leaf slot is one range, so a
// range costs ~20 bytes of leaf plus its share of internal nodes.
//
// Many maps live in one instance; a map handle is the offset of its record.
// Pages are u64. All walks keep their path in PATH_NODE/PATH_SLOT (level 0 is
// the leaf) so updates can refresh the annotations bottom-up without parent
// pointers, as a ma_state does.

import { Pool } from "./mem";

/** Slots per node (leaf ranges or internal children). */
export const B: i32 = 16;
/** A non-root node with fewer entries than this is merged or refilled. */
const MIN_FILL: i32 = 5;
const MAX_HEIGHT: i32 = 32;

/** One past the largest page. */
export const PAGE_END: u64 = u64.MAX_VALUE;

// Error codes returned to callers (negated kernel errno values).
export const EINVAL: i32 = -22;
export const EEXIST: i32 = -17;
export const ENOMEM: i32 = -12;
export const ENOENT: i32 = -2;

// Leaf record: count, then start[B], end[B], value[B].
const L_START: usize = 8;
const L_END: usize = L_START + 8 * <usize>B;
const L_VALUE: usize = L_END + 8 * <usize>B;
const LEAF_SIZE: usize = L_VALUE + 4 * <usize>B;
// Internal record: count, then per child lo[B], hi[B], gap[B], child[B].
const N_LO: usize = 8;
const N_HI: usize = N_LO + 8 * <usize>B;
const N_GAP: usize = N_HI + 8 * <usize>B;
const N_CHILD: usize = N_GAP + 8 * <usize>B;
const NODE_SIZE: usize = N_CHILD + 4 * <usize>B;
// Map record.
const M_ROOT: usize = 0;
const M_HEIGHT: usize = 4;
const M_COUNT: usize = 8;
const MAP_SIZE: usize = 16;

const leaves = new Pool(LEAF_SIZE);
const inners = new Pool(NODE_SIZE);
const maps = new Pool(MAP_SIZE);

// The walk path: node and slot per level, level 0 = leaf.
const PATH_NODE = memory.data(4 * MAX_HEIGHT);
const PATH_SLOT = memory.data(4 * MAX_HEIGHT);
// Staging area for a split: B + 1 entries of (key a, key b, key c, handle).
const STAGE_A = memory.data(8 * (B + 1));
const STAGE_B = memory.data(8 * (B + 1));
const STAGE_C = memory.data(8 * (B + 1));
const STAGE_V = memory.data(4 * (B + 1));

/** Where the last found range is reported: start, end (u64). */
export const FOUND = memory.data(16);

// ---- field access -------------------------------------------------------

@inline function count(n: usize): i32 { return load<i32>(n); }
@inline function setCount(n: usize, c: i32): void { store<i32>(n, c); }
@inline function lStart(n: usize, i: i32): u64 { return load<u64>(n + L_START + (<usize>i << 3)); }
@inline function lEnd(n: usize, i: i32): u64 { return load<u64>(n + L_END + (<usize>i << 3)); }
@inline function lValue(n: usize, i: i32): u32 { return load<u32>(n + L_VALUE + (<usize>i << 2)); }
@inline function setLeaf(n: usize, i: i32, s: u64, e: u64, v: u32): void {
  store<u64>(n + L_START + (<usize>i << 3), s);
  store<u64>(n + L_END + (<usize>i << 3), e);
  store<u32>(n + L_VALUE + (<usize>i << 2), v);
}
@inline function nLo(n: usize, i: i32): u64 { return load<u64>(n + N_LO + (<usize>i << 3)); }
@inline function nHi(n: usize, i: i32): u64 { return load<u64>(n + N_HI + (<usize>i << 3)); }
@inline function nGap(n: usize, i: i32): u64 { return load<u64>(n + N_GAP + (<usize>i << 3)); }
@inline function nChild(n: usize, i: i32): usize { return <usize>load<u32>(n + N_CHILD + (<usize>i << 2)); }
@inline function setInner(n: usize, i: i32, lo: u64, hi: u64, gap: u64, child: usize): void {
  store<u64>(n + N_LO + (<usize>i << 3), lo);
  store<u64>(n + N_HI + (<usize>i << 3), hi);
  store<u64>(n + N_GAP + (<usize>i << 3), gap);
  store<u32>(n + N_CHILD + (<usize>i << 2), <u32>child);
}
@inline function pathNode(level: i32): usize { return <usize>load<u32>(PATH_NODE + (<usize>level << 2)); }
@inline function pathSlot(level: i32): i32 { return load<i32>(PATH_SLOT + (<usize>level << 2)); }
@inline function setPath(level: i32, n: usize, slot: i32): void {
  store<u32>(PATH_NODE + (<usize>level << 2), <u32>n);
  store<i32>(PATH_SLOT + (<usize>level << 2), slot);
}
@inline function root(m: usize): usize { return <usize>load<u32>(m + M_ROOT); }
@inline function height(m: usize): i32 { return load<i32>(m + M_HEIGHT); }

/** Number of keys in the sorted run at `base` (n of them) that are <= addr. */
@inline function rankAtOrBelow(base: usize, n: i32, addr: u64): i32 {
  let i = 0;
  while (i < n && load<u64>(base + (<usize>i << 3)) <= addr) i++;
  return i;
}

@inline function reportFound(s: u64, e: u64): void {
  store<u64>(FOUND, s);
  store<u64>(FOUND, e, 8);
}

// ---- node summaries (the gap annotations) --------------------------------

function leafMaxGap(n: usize): u64 {
  let g: u64 = 0;
  let c = count(n);
  for (let i = 1; i < c; i++) g = max(g, lStart(n, i) - lEnd(n, i - 1));
  return g;
}

function innerMaxGap(n: usize): u64 {
  let c = count(n);
  let g = nGap(n, 0);
  for (let i = 1; i < c; i++) g = max(g, max(nGap(n, i), nLo(n, i) - nHi(n, i - 1)));
  return g;
}

/** Writes the summary of `child` (a node at `level`) into slot i of `parent`. */
function summarize(parent: usize, i: i32, child: usize, level: i32): void {
  let c = count(child);
  if (level == 0) {
    setInner(parent, i, lStart(child, 0), lEnd(child, c - 1), leafMaxGap(child), child);
  } else {
    setInner(parent, i, nLo(child, 0), nHi(child, c - 1), innerMaxGap(child), child);
  }
}

/** Refreshes the annotations on the path above `level` up to the root. */
function refreshFrom(m: usize, level: i32): void {
  let h = height(m);
  for (let l = level; l < h; l++) summarize(pathNode(l + 1), pathSlot(l + 1), pathNode(l), l);
}

// ---- maps ----------------------------------------------------------------

/** A new empty map, or 0 when memory is exhausted. */
export function mapCreate(): usize {
  if (!maps.reserve(1)) return 0;
  if (!leaves.reserve(1)) return 0;
  let m = maps.alloc();
  store<u32>(m + M_ROOT, <u32>leaves.alloc());
  return m;
}

function freeSubtree(n: usize, level: i32): void {
  if (level == 0) {
    leaves.free(n);
    return;
  }
  for (let i = 0, c = count(n); i < c; i++) freeSubtree(nChild(n, i), level - 1);
  inners.free(n);
}

export function mapFree(m: usize): void {
  freeSubtree(root(m), height(m));
  maps.free(m);
}

export function mapSize(m: usize): u32 {
  return load<u32>(m + M_COUNT);
}

/** Bytes of node records in use by all maps. */
export function nodeBytes(): usize {
  return <usize>leaves.live * LEAF_SIZE + <usize>inners.live * NODE_SIZE + <usize>maps.live * MAP_SIZE;
}

/** Reserves what one insertion may allocate: a leaf and one node per level plus a new root. */
@inline function reserveInsert(m: usize): bool {
  return leaves.reserve(1) && inners.reserve(<u32>height(m) + 1);
}

// ---- descent -------------------------------------------------------------

/**
 * Walks to the leaf position of the first range with end > addr (find_vma),
 * recording the path. Returns the slot in the leaf at level 0; it equals the
 * leaf's count only when no range ends above addr.
 */
function descend(m: usize, addr: u64): i32 {
  let n = root(m);
  for (let l = height(m); l > 0; l--) {
    let c = count(n);
    let i = rankAtOrBelow(n + N_HI, c, addr);
    if (i == c) i = c - 1;
    setPath(l, n, i);
    n = nChild(n, i);
  }
  let i = rankAtOrBelow(n + L_END, count(n), addr);
  setPath(0, n, i);
  return i;
}

/** Moves the path to the next leaf; false at the last leaf. */
function nextLeaf(m: usize): bool {
  let h = height(m);
  let l = 1;
  while (l <= h && pathSlot(l) + 1 >= count(pathNode(l))) l++;
  if (l > h) return false;
  let n = pathNode(l);
  let s = pathSlot(l) + 1;
  setPath(l, n, s);
  n = nChild(n, s);
  for (l--; l > 0; l--) {
    setPath(l, n, 0);
    n = nChild(n, 0);
  }
  setPath(0, n, 0);
  return true;
}

/** Moves the path to the previous leaf, at its last slot; false at the first leaf. */
function prevLeaf(m: usize): bool {
  let h = height(m);
  let l = 1;
  while (l <= h && pathSlot(l) == 0) l++;
  if (l > h) return false;
  let n = pathNode(l);
  let s = pathSlot(l) - 1;
  setPath(l, n, s);
  n = nChild(n, s);
  for (l--; l > 0; l--) {
    let c = count(n) - 1;
    setPath(l, n, c);
    n = nChild(n, c);
  }
  setPath(0, n, count(n) - 1);
  return true;
}

// ---- lookups ---------------------------------------------------------------

/** vma_lookup: the value of the range containing addr, or -1. */
export function find(m: usize, addr: u64): i32 {
  let n = root(m);
  for (let l = height(m); l > 0; l--) {
    let c = count(n);
    let i = rankAtOrBelow(n + N_HI, c, addr);
    if (i == c) return -1;
    n = nChild(n, i);
  }
  let i = rankAtOrBelow(n + L_END, count(n), addr);
  if (i == count(n) || lStart(n, i) > addr) return -1;
  return <i32>lValue(n, i);
}

/** find_vma: the value of the first range with end > addr, or -1. Reports its bounds in FOUND. */
export function findNext(m: usize, addr: u64): i32 {
  let n = root(m);
  for (let l = height(m); l > 0; l--) {
    let c = count(n);
    let i = rankAtOrBelow(n + N_HI, c, addr);
    if (i == c) return -1;
    n = nChild(n, i);
  }
  let i = rankAtOrBelow(n + L_END, count(n), addr);
  if (i == count(n)) return -1;
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

/** The range containing addr (value, bounds in FOUND), or -1. */
export function lookup(m: usize, addr: u64): i32 {
  let v = findNext(m, addr);
  if (v < 0 || load<u64>(FOUND) > addr) return -1;
  return v;
}

/** The first range starting above addr (the one after the range or gap at addr), or -1. */
export function next(m: usize, addr: u64): i32 {
  let i = descend(m, addr);
  let n = pathNode(0);
  if (i == count(n)) return -1;
  if (lStart(n, i) <= addr) {
    if (i + 1 < count(n)) i++;
    else if (nextLeaf(m)) { n = pathNode(0); i = 0; }
    else return -1;
  }
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

/** The last range ending at or below addr (the one before the range or gap at addr), or -1. */
export function prev(m: usize, addr: u64): i32 {
  let i = descend(m, addr);
  let n = pathNode(0);
  if (i == 0) {
    if (!prevLeaf(m)) return -1;
    n = pathNode(0);
    i = count(n);
  }
  if (i == 0) return -1;
  i--;
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

/**
 * Writes up to `max` ranges intersecting [lo, hi) as (start, end, value) f64
 * triples at `out`; returns how many. Continue from the last end for more.
 */
export function collect(m: usize, lo: u64, hi: u64, out: usize, max: i32): i32 {
  if (lo >= hi) return 0;
  let i = descend(m, lo);
  let n = pathNode(0);
  let k = 0;
  if (i == count(n)) return 0;
  while (k < max) {
    let s = lStart(n, i);
    if (s >= hi) break;
    let p = out + <usize>k * 24;
    store<f64>(p, <f64>s);
    store<f64>(p, <f64>lEnd(n, i), 8);
    store<f64>(p, <f64>lValue(n, i), 16);
    k++;
    if (++i == count(n)) {
      if (!nextLeaf(m)) break;
      n = pathNode(0);
      i = 0;
    }
  }
  return k;
}

/** vma_lookup for a batch: values (or -1) of the ranges containing each f64 page. */
export function findMany(m: usize, addrs: usize, out: usize, n: i32): void {
  for (let k = 0; k < n; k++) {
    let a = <u64>load<f64>(addrs + (<usize>k << 3));
    store<i32>(out + (<usize>k << 2), find(m, a));
  }
}

// ---- insertion -------------------------------------------------------------

/**
 * Where to cut an overfull node of B + 1 entries in which the new one sits at
 * `at`: appending (ascending mmaps) keeps the left node full, prepending
 * (top-down mmaps) keeps the right node full, anything else splits evenly.
 */
@inline function splitPoint(at: i32): i32 {
  if (at == B) return B;
  if (at == 0) return 1;
  return (B + 1) >> 1;
}

/** Inserts a range at slot `at` of the path's leaf; splits and refreshes upwards. */
function leafInsert(m: usize, at: i32, s: u64, e: u64, v: u32): void {
  let n = pathNode(0);
  let c = count(n);
  if (c < B) {
    let tail = <usize>(c - at);
    memory.copy(n + L_START + ((<usize>at + 1) << 3), n + L_START + (<usize>at << 3), tail << 3);
    memory.copy(n + L_END + ((<usize>at + 1) << 3), n + L_END + (<usize>at << 3), tail << 3);
    memory.copy(n + L_VALUE + ((<usize>at + 1) << 2), n + L_VALUE + (<usize>at << 2), tail << 2);
    setLeaf(n, at, s, e, v);
    setCount(n, c + 1);
    refreshFrom(m, 0);
    return;
  }
  // Stage the B + 1 entries, then deal them out to n and a new right sibling.
  for (let i = 0, j = 0; i <= B; i++) {
    if (i == at) {
      store<u64>(STAGE_A + (<usize>i << 3), s);
      store<u64>(STAGE_B + (<usize>i << 3), e);
      store<u32>(STAGE_V + (<usize>i << 2), v);
    } else {
      store<u64>(STAGE_A + (<usize>i << 3), lStart(n, j));
      store<u64>(STAGE_B + (<usize>i << 3), lEnd(n, j));
      store<u32>(STAGE_V + (<usize>i << 2), lValue(n, j));
      j++;
    }
  }
  let cut = splitPoint(at);
  let r = leaves.alloc();
  for (let i = 0; i <= B; i++) {
    let a = load<u64>(STAGE_A + (<usize>i << 3));
    let b = load<u64>(STAGE_B + (<usize>i << 3));
    let val = load<u32>(STAGE_V + (<usize>i << 2));
    if (i < cut) setLeaf(n, i, a, b, val);
    else setLeaf(r, i - cut, a, b, val);
  }
  setCount(n, cut);
  setCount(r, B + 1 - cut);
  insertSibling(m, 0, r);
}

/**
 * The node at path level `level` was split and `sib` holds its upper part:
 * adds sib after it in the parent (splitting the parent in turn) and refreshes
 * the annotations up to the root.
 */
function insertSibling(m: usize, level: i32, sib: usize): void {
  while (true) {
    let h = height(m);
    let left = pathNode(level);
    if (level == h) {
      // The root split: grow the tree by one level.
      let r = inners.alloc();
      summarize(r, 0, left, level);
      summarize(r, 1, sib, level);
      setCount(r, 2);
      store<u32>(m + M_ROOT, <u32>r);
      store<i32>(m + M_HEIGHT, h + 1);
      return;
    }
    let p = pathNode(level + 1);
    let slot = pathSlot(level + 1);
    summarize(p, slot, left, level);
    let c = count(p);
    let at = slot + 1;
    if (c < B) {
      let tail = <usize>(c - at);
      memory.copy(p + N_LO + ((<usize>at + 1) << 3), p + N_LO + (<usize>at << 3), tail << 3);
      memory.copy(p + N_HI + ((<usize>at + 1) << 3), p + N_HI + (<usize>at << 3), tail << 3);
      memory.copy(p + N_GAP + ((<usize>at + 1) << 3), p + N_GAP + (<usize>at << 3), tail << 3);
      memory.copy(p + N_CHILD + ((<usize>at + 1) << 2), p + N_CHILD + (<usize>at << 2), tail << 2);
      setCount(p, c + 1);
      summarize(p, at, sib, level);
      refreshFrom(m, level + 1);
      return;
    }
    // Parent full: stage B + 1 children and split it too.
    for (let i = 0, j = 0; i <= B; i++) {
      if (i == at) {
        store<u32>(STAGE_V + (<usize>i << 2), <u32>sib);
      } else {
        store<u64>(STAGE_A + (<usize>i << 3), nLo(p, j));
        store<u64>(STAGE_B + (<usize>i << 3), nHi(p, j));
        store<u64>(STAGE_C + (<usize>i << 3), nGap(p, j));
        store<u32>(STAGE_V + (<usize>i << 2), <u32>nChild(p, j));
        j++;
      }
    }
    let cut = splitPoint(at);
    let r = inners.alloc();
    for (let i = 0; i <= B; i++) {
      let child = <usize>load<u32>(STAGE_V + (<usize>i << 2));
      let dst = i < cut ? p : r;
      let k = i < cut ? i : i - cut;
      if (i == at) summarize(dst, k, sib, level);
      else {
        setInner(dst, k, load<u64>(STAGE_A + (<usize>i << 3)), load<u64>(STAGE_B + (<usize>i << 3)),
          load<u64>(STAGE_C + (<usize>i << 3)), child);
      }
    }
    setCount(p, cut);
    setCount(r, B + 1 - cut);
    level++;
    sib = r;
  }
}

/** Inserts [s, e) -> v. 0, or EINVAL (empty range), EEXIST (overlap), ENOMEM. */
export function insert(m: usize, s: u64, e: u64, v: u32): i32 {
  if (s >= e) return EINVAL;
  if (!reserveInsert(m)) return ENOMEM;
  let at = descend(m, s);
  let n = pathNode(0);
  if (at < count(n) && lStart(n, at) < e) return EEXIST;
  leafInsert(m, at, s, e, v);
  store<u32>(m + M_COUNT, mapSize(m) + 1);
  return 0;
}

// ---- removal ---------------------------------------------------------------

/** Removes slot `at` of the path's leaf, rebalancing underfull nodes. */
function leafRemove(m: usize, at: i32): void {
  let n = pathNode(0);
  let c = count(n);
  let tail = <usize>(c - at - 1);
  memory.copy(n + L_START + (<usize>at << 3), n + L_START + ((<usize>at + 1) << 3), tail << 3);
  memory.copy(n + L_END + (<usize>at << 3), n + L_END + ((<usize>at + 1) << 3), tail << 3);
  memory.copy(n + L_VALUE + (<usize>at << 2), n + L_VALUE + ((<usize>at + 1) << 2), tail << 2);
  setCount(n, c - 1);
  store<u32>(m + M_COUNT, mapSize(m) - 1);
  rebalance(m, 0);
}

/** Moves `k` entries of node `src` from slot `from` to slot `to` of `dst` (same level). */
function moveEntries(dst: usize, to: i32, src: usize, from: i32, k: i32, level: i32): void {
  let n = <usize>k;
  if (level == 0) {
    memory.copy(dst + L_START + (<usize>to << 3), src + L_START + (<usize>from << 3), n << 3);
    memory.copy(dst + L_END + (<usize>to << 3), src + L_END + (<usize>from << 3), n << 3);
    memory.copy(dst + L_VALUE + (<usize>to << 2), src + L_VALUE + (<usize>from << 2), n << 2);
  } else {
    memory.copy(dst + N_LO + (<usize>to << 3), src + N_LO + (<usize>from << 3), n << 3);
    memory.copy(dst + N_HI + (<usize>to << 3), src + N_HI + (<usize>from << 3), n << 3);
    memory.copy(dst + N_GAP + (<usize>to << 3), src + N_GAP + (<usize>from << 3), n << 3);
    memory.copy(dst + N_CHILD + (<usize>to << 2), src + N_CHILD + (<usize>from << 2), n << 2);
  }
}

/**
 * The node at path level `level` lost an entry: merge it with a sibling or
 * borrow from one when it fell under MIN_FILL, then refresh the path above.
 */
function rebalance(m: usize, level: i32): void {
  while (true) {
    let h = height(m);
    let n = pathNode(level);
    if (level == h) {
      // Root: drop levels that have a single child.
      while (height(m) > 0 && count(root(m)) == 1) {
        let old = root(m);
        store<u32>(m + M_ROOT, <u32>nChild(old, 0));
        store<i32>(m + M_HEIGHT, height(m) - 1);
        inners.free(old);
      }
      return;
    }
    let p = pathNode(level + 1);
    let slot = pathSlot(level + 1);
    let c = count(n);
    if (c >= MIN_FILL) {
      refreshFrom(m, level);
      return;
    }
    if (count(p) == 1) {
      // An only child (left by a lopsided split): settle it one level up.
      if (c == 0) {
        if (level == 0) leaves.free(n);
        else inners.free(n);
        setCount(p, 0);
      } else {
        summarize(p, 0, n, level);
      }
      level++;
      continue;
    }
    // Pair n with a sibling: (left, right) = (n, next) or (prev, n).
    let li = slot > 0 ? slot - 1 : slot;
    let left = nChild(p, li);
    let right = nChild(p, li + 1);
    let lc = count(left);
    let rc = count(right);
    if (lc + rc <= B) {
      // Merge right into left and drop right from the parent.
      moveEntries(left, lc, right, 0, rc, level);
      setCount(left, lc + rc);
      if (level == 0) leaves.free(right);
      else inners.free(right);
      let pc = count(p);
      let at = li + 1;
      let tail = <usize>(pc - at - 1);
      memory.copy(p + N_LO + (<usize>at << 3), p + N_LO + ((<usize>at + 1) << 3), tail << 3);
      memory.copy(p + N_HI + (<usize>at << 3), p + N_HI + ((<usize>at + 1) << 3), tail << 3);
      memory.copy(p + N_GAP + (<usize>at << 3), p + N_GAP + ((<usize>at + 1) << 3), tail << 3);
      memory.copy(p + N_CHILD + (<usize>at << 2), p + N_CHILD + ((<usize>at + 1) << 2), tail << 2);
      setCount(p, pc - 1);
      summarize(p, li, left, level);
      setPath(level + 1, p, li);
      level++;
      continue;
    }
    // Borrow: share the entries of both evenly.
    let want = (lc + rc) >> 1;
    if (lc > want) {
      let k = lc - want;
      moveEntries(right, k, right, 0, rc, level);
      moveEntries(right, 0, left, want, k, level);
    } else {
      let k = want - lc;
      moveEntries(left, lc, right, 0, k, level);
      moveEntries(right, 0, right, k, rc - k, level);
    }
    setCount(left, want);
    setCount(right, lc + rc - want);
    summarize(p, li, left, level);
    summarize(p, li + 1, right, level);
    refreshFrom(m, level + 1);
    return;
  }
}

/**
 * Removes [s, e) from the map, like storing NULL over it in the maple tree:
 * ranges inside go, ranges across an edge are cut, a range covering the whole
 * span is split in two with the same value. Returns 0, EINVAL or ENOMEM.
 */
export function erase(m: usize, s: u64, e: u64): i32 {
  if (s >= e) return EINVAL;
  if (!reserveInsert(m)) return ENOMEM;
  while (true) {
    let at = descend(m, s);
    let n = pathNode(0);
    if (at == count(n)) return 0;
    let rs = lStart(n, at);
    let re = lEnd(n, at);
    if (rs >= e) return 0;
    let v = lValue(n, at);
    if (rs < s) {
      // Keep the head [rs, s); a tail beyond e goes back in as its own range.
      store<u64>(n + L_END + (<usize>at << 3), s);
      refreshFrom(m, 0);
      if (re > e) {
        descend(m, e);
        leafInsert(m, pathSlot(0), e, re, v);
        store<u32>(m + M_COUNT, mapSize(m) + 1);
        return 0;
      }
      continue;
    }
    if (re > e) {
      store<u64>(n + L_START + (<usize>at << 3), e);
      refreshFrom(m, 0);
      return 0;
    }
    leafRemove(m, at);
  }
  return 0;
}

/** Sets the value of the range containing addr. 0, or ENOENT when addr is in a gap. */
export function update(m: usize, addr: u64, v: u32): i32 {
  let at = descend(m, addr);
  let n = pathNode(0);
  if (at == count(n) || lStart(n, at) > addr) return ENOENT;
  store<u32>(n + L_VALUE + (<usize>at << 2), v);
  return 0;
}

// ---- gap search ------------------------------------------------------------

/** Lowest aligned start of `size` pages inside gap [gs, ge) clipped to [lo, hi), or PAGE_END. */
@inline function fitLow(gs: u64, ge: u64, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let a = max(gs, lo);
  let b = min(ge, hi);
  if (a >= b) return PAGE_END;
  let r = a % align;
  if (r != 0) {
    if (align - r > b - a) return PAGE_END;
    a += align - r;
  }
  return b - a >= size ? a : PAGE_END;
}

/** Highest aligned start of `size` pages inside gap [gs, ge) clipped to [lo, hi), or PAGE_END. */
@inline function fitHigh(gs: u64, ge: u64, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let a = max(gs, lo);
  let b = min(ge, hi);
  if (a >= b || b - a < size) return PAGE_END;
  let x = b - size;
  x -= x % align;
  return x >= a ? x : PAGE_END;
}

/** Lowest fit among the gaps between ranges inside the subtree `n` at `level`. */
function lowestIn(n: usize, level: i32, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let c = count(n);
  if (level == 0) {
    for (let i = 1; i < c; i++) {
      let gs = lEnd(n, i - 1);
      if (gs >= hi) break;
      let x = fitLow(gs, lStart(n, i), lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    return PAGE_END;
  }
  for (let i = 0; i < c; i++) {
    if (i > 0) {
      let gs = nHi(n, i - 1);
      if (gs >= hi) break;
      let x = fitLow(gs, nLo(n, i), lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    if (nLo(n, i) >= hi) break;
    if (nGap(n, i) >= size && nHi(n, i) > lo) {
      let x = lowestIn(nChild(n, i), level - 1, lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
  }
  return PAGE_END;
}

/** Highest fit among the gaps between ranges inside the subtree `n` at `level`. */
function highestIn(n: usize, level: i32, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let c = count(n);
  if (level == 0) {
    for (let i = c - 1; i > 0; i--) {
      let ge = lStart(n, i);
      if (ge <= lo) break;
      let x = fitHigh(lEnd(n, i - 1), ge, lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    return PAGE_END;
  }
  for (let i = c - 1; i >= 0; i--) {
    if (nHi(n, i) <= lo) break;
    if (nGap(n, i) >= size && nLo(n, i) < hi) {
      let x = highestIn(nChild(n, i), level - 1, lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    if (i > 0) {
      let x = fitHigh(nHi(n, i - 1), nLo(n, i), lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
  }
  return PAGE_END;
}

/** First page and one past the last page covered by the map's ranges (0, 0 if empty). */
@inline function span(m: usize, wantLast: bool): u64 {
  let r = root(m);
  let c = count(r);
  if (c == 0) return 0;
  if (height(m) == 0) return wantLast ? lEnd(r, c - 1) : lStart(r, 0);
  return wantLast ? nHi(r, c - 1) : nLo(r, 0);
}

/**
 * unmapped_area / unmapped_area_topdown: the lowest (or highest) start of a
 * free run of `size` pages within [lo, hi), aligned to `align` pages, or
 * PAGE_END when there is none. Gaps include the space before the first and
 * after the last range.
 */
export function gap(m: usize, size: u64, lo: u64, hi: u64, align: u64, topdown: bool): u64 {
  if (size == 0 || align == 0 || lo >= hi) return PAGE_END;
  let r = root(m);
  if (count(r) == 0) return topdown ? fitHigh(0, PAGE_END, lo, hi, size, align) : fitLow(0, PAGE_END, lo, hi, size, align);
  let first = span(m, false);
  let last = span(m, true);
  let h = height(m);
  if (topdown) {
    let x = fitHigh(last, PAGE_END, lo, hi, size, align);
    if (x == PAGE_END) x = highestIn(r, h, lo, hi, size, align);
    if (x == PAGE_END) x = fitHigh(0, first, lo, hi, size, align);
    return x;
  }
  let x = fitLow(0, first, lo, hi, size, align);
  if (x == PAGE_END) x = lowestIn(r, h, lo, hi, size, align);
  if (x == PAGE_END) x = fitLow(last, PAGE_END, lo, hi, size, align);
  return x;
}

// ---- validation ------------------------------------------------------------

// Validator results: 0 = sound.
export const BAD_ORDER: i32 = 1;
export const BAD_FILL: i32 = 2;
export const BAD_SUMMARY: i32 = 3;
export const BAD_COUNT: i32 = 4;
export const BAD_DEPTH: i32 = 5;

let seenRanges: u32 = 0;
let lastEnd: u64 = 0;

function validateNode(n: usize, level: i32, isRoot: bool): i32 {
  let c = count(n);
  // Lopsided splits may leave a single entry; only the empty node is wrong.
  if (c > B || (!isRoot && c < 1) || (isRoot && level > 0 && c < 2)) return BAD_FILL;
  if (level == 0) {
    for (let i = 0; i < c; i++) {
      let s = lStart(n, i);
      let e = lEnd(n, i);
      if (s >= e || (seenRanges > 0 && s < lastEnd)) return BAD_ORDER;
      lastEnd = e;
      seenRanges++;
    }
    return 0;
  }
  for (let i = 0; i < c; i++) {
    let child = nChild(n, i);
    let err = validateNode(child, level - 1, false);
    if (err != 0) return err;
    let cc = count(child);
    let lo = level == 1 ? lStart(child, 0) : nLo(child, 0);
    let hi = level == 1 ? lEnd(child, cc - 1) : nHi(child, cc - 1);
    let g = level == 1 ? leafMaxGap(child) : innerMaxGap(child);
    if (nLo(n, i) != lo || nHi(n, i) != hi || nGap(n, i) != g) return BAD_SUMMARY;
  }
  return 0;
}

/** Checks ordering, non-overlap, node fill, annotations and the range count. */
export function validate(m: usize): i32 {
  seenRanges = 0;
  lastEnd = 0;
  let h = height(m);
  if (h < 0 || h >= MAX_HEIGHT) return BAD_DEPTH;
  let err = validateNode(root(m), h, true);
  if (err != 0) return err;
  return seenRanges == mapSize(m) ? 0 : BAD_COUNT;
}
