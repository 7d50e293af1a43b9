// A maple-style range map: a B-tree of non-overlapping half-open page ranges
// [start, end) -> u32 value, in flat linear memory.
//
// Like the kernel's maple tree (alloc-range flavour) the internal nodes carry,
// per child, the lowest start, the highest end and the largest gap between two
// ranges inside the child (maple_arange_64's gap[]). That makes find_vma,
// vma_lookup and both directions of unmapped_area logarithmic. Unlike the maple
// tree, gaps need no entries: a leaf slot is one range, so a range costs ~20
// bytes of leaf plus its share of internal nodes. Like its NULL entries, a
// slot whose range went may stay as a hole (below) for the next range that
// comes there, so munmap then mmap, or a merge then a split, moves no slots.
// Also unlike it, the lowest start and the largest gap are kept lazily: a
// change marks them stale up its path, and a gap search brings the stale ones
// up to date first, so runs of MAP_FIXED, munmap and mprotect pay for no
// max-gap recount.
// The highest end is the descent's key and is always exact.
//
// Many maps live in one instance; a map handle is the offset of its record.
// Pages are u64. Each map keeps the path of its last walk in its record (node
// and slot per level, level 0 is the leaf), so updates can mark the path
// bottom-up without parent pointers, as a ma_state does; and, until the
// tree's internal keys or shape change, the pages whose descent would take
// that same path (the finger), so the next lookup near the last one skips
// the descent.

import { Pool, growPages } from "./mem";

/** Slots per node (leaf ranges or internal children). */
export const B: i32 = 16;
/** A non-root node with fewer entries than this is merged or refilled. */
const MIN_FILL: i32 = 5;
/** Deeper than any tree in 2 GiB: a height-h tree holds over 2 * MIN_FILL^(h-1) leaves. */
const MAX_HEIGHT: i32 = 16;

/** One past the largest page. */
export const PAGE_END: u64 = u64.MAX_VALUE;

import { EEXIST, EINVAL, ENOENT, ENOMEM } from "./errno";

// Node layouts keep what a descent reads together: the scan loads every key
// of a node at once (independent loads, one memory round trip), and the
// payload of the chosen slot is on the lines already fetched. Slots go in
// pairs whose two keys sit side by side, so the scan compares them two at a
// time (i64x2).
//
// Leaf record: count, holes, then B / 2 pairs of {end u64 x2, start u64 x2, value u32 x2}.
const L_PAIRS: usize = 8;
const L_PAIR: usize = 40;
const LEAF_SIZE: usize = L_PAIRS + L_PAIR * (<usize>B >> 1);
// Internal record: count, the stale mask, B / 2 pairs of {hi u64 x2, child
// u32 x2} that descents read, then lo[B] and gap[B] that only gap searches read.
const N_PAIRS: usize = 8;
const N_PAIR: usize = 24;
const N_LO: usize = N_PAIRS + N_PAIR * (<usize>B >> 1);
const N_GAP: usize = N_LO + 8 * <usize>B;
const NODE_SIZE: usize = N_GAP + 8 * <usize>B;
// Map record: root, height, count, the finger [lo, hi) (hi = 0: none), then
// the path as {node u32, slot i32} per level.
const M_ROOT: usize = 0;
const M_HEIGHT: usize = 4;
const M_COUNT: usize = 8;
const M_FINGER_LO: usize = 16;
const M_FINGER_HI: usize = 24;
const M_PATH: usize = 32;
const MAP_SIZE: usize = M_PATH + 8 * <usize>MAX_HEIGHT;

const leaves = new Pool(LEAF_SIZE);
const inners = new Pool(NODE_SIZE);
const maps = new Pool(MAP_SIZE);

// Keys of unused slots: at the top, so a scan can count all B slots.
const KEY_PAD: u64 = u64.MAX_VALUE;
// Keys (leaf ends, internal his) are stored with the sign bit flipped: the
// scan's i64x2 compares are signed, and flipped u64s compare signed as the
// u64s do unsigned.
const KEY_FLIP: u64 = 1 << 63;
const STORED_PAD: u64 = KEY_PAD ^ KEY_FLIP;

// The path in use: that of the map the current operation works on (a spare
// record's until the first).
let path: usize = memory.data(<i32>MAP_SIZE) + M_PATH;

/** Where the last found range is reported: start, end (u64). */
export const FOUND = memory.data(16);

// ---- field access -------------------------------------------------------

@inline function count(n: usize): i32 { return load<i32>(n); }
/** Where the pair holding leaf slot i starts. */
@inline function lPair(n: usize, i: i32): usize { return n + L_PAIRS + <usize>(i >> 1) * L_PAIR; }
// Byte offsets of slot i's key and value (leaf) or hi and child (internal
// node), by table: the pair and lane arithmetic is five instructions, a
// table load one.
const SLOT_AT = memory.data(16 * B);
for (let i = 0; i < B; i++) {
  let pair = <usize>(i >> 1);
  let lane = <usize>(i & 1);
  store<u32>(SLOT_AT + (<usize>i << 2), <u32>(L_PAIRS + pair * L_PAIR + (lane << 3)));
  store<u32>(SLOT_AT + (<usize>(B + i) << 2), <u32>(L_PAIRS + pair * L_PAIR + 32 + (lane << 2)));
  store<u32>(SLOT_AT + (<usize>(2 * B + i) << 2), <u32>(N_PAIRS + pair * N_PAIR + (lane << 3)));
  store<u32>(SLOT_AT + (<usize>(3 * B + i) << 2), <u32>(N_PAIRS + pair * N_PAIR + 16 + (lane << 2)));
}
/** Leaf slot i's end (its start is 16 bytes on). */
@inline function lKeyAt(n: usize, i: i32): usize { return n + load<u32>(SLOT_AT + (<usize>i << 2)); }
@inline function lValueAt(n: usize, i: i32): usize { return n + load<u32>(SLOT_AT + (<usize>i << 2), 4 * B); }
@inline function nKeyAt(n: usize, i: i32): usize { return n + load<u32>(SLOT_AT + (<usize>i << 2), 8 * B); }
@inline function nChildAt(n: usize, i: i32): usize { return n + load<u32>(SLOT_AT + (<usize>i << 2), 12 * B); }
/** The search key of slot i: a leaf's end, an internal node's hi. */
@inline function keyAt(n: usize, i: i32, level: i32): usize {
  return level == 0 ? lKeyAt(n, i) : nKeyAt(n, i);
}
/** Sets the count; slots it gives up get the KEY_PAD key (and no stale mark). */
function setCount(n: usize, c: i32, level: i32): void {
  if (level > 0) {
    dropFinger();
    setStale(n, stale(n) & ((1 << <u32>c) - 1));
  }
  for (let i = c, old = count(n); i < old; i++) store<u64>(keyAt(n, i, level), STORED_PAD);
  store<i32>(n, c);
}
/** A new empty node whose every key is KEY_PAD. */
function newNode(level: i32): usize {
  let n = level == 0 ? leaves.alloc() : inners.alloc();
  for (let i = 0; i < B; i++) store<u64>(keyAt(n, i, level), STORED_PAD);
  if (level > 0) setStale(n, 0);
  else setHoles(n, 0);
  return n;
}
@inline function lEnd(n: usize, i: i32): u64 { return load<u64>(lKeyAt(n, i)) ^ KEY_FLIP; }
@inline function lStart(n: usize, i: i32): u64 { return load<u64>(lKeyAt(n, i), 16); }
@inline function lValue(n: usize, i: i32): u32 { return load<u32>(lValueAt(n, i)); }
@inline function setEnd(n: usize, i: i32, e: u64): void {
  store<u64>(lKeyAt(n, i), e ^ KEY_FLIP);
}
@inline function setStart(n: usize, i: i32, s: u64): void {
  store<u64>(lKeyAt(n, i), s, 16);
}
@inline function setValue(n: usize, i: i32, v: u32): void { store<u32>(lValueAt(n, i), v); }
@inline function setLeaf(n: usize, i: i32, s: u64, e: u64, v: u32): void {
  let k = lKeyAt(n, i);
  store<u64>(k, e ^ KEY_FLIP);
  store<u64>(k, s, 16);
  store<u32>(lValueAt(n, i), v);
}

// Holes: a leaf slot whose range was removed may stay as the empty range
// [e, e), e the end of the live range before it, instead of the slots above
// moving down. Descents never land on one (a key <= every address above e),
// and the gap arithmetic between neighbours sees no range there; walks step
// over them. Slot 0 is never a hole, so a leaf's lowest start stays its
// first slot's; trailing holes keep its highest end. The next range put
// there, a cut that needs slots beside it, or a leaf that runs full or
// underfull takes them back, so holes never cost a node.
@inline function holes(n: usize): i32 { return load<i32>(n, 4); }
@inline function setHoles(n: usize, k: i32): void { store<i32>(n, k, 4); }
@inline function isHole(n: usize, i: i32): bool { return lStart(n, i) == lEnd(n, i); }
/** Live ranges in leaf n. */
@inline function live(n: usize): i32 { return count(n) - holes(n); }
/** Whether slots [i, i + k) of leaf n are all holes. */
@inline function holesAt(n: usize, i: i32, k: i32): bool {
  return i + k <= count(n) && isHole(n, i) && (k == 1 || isHole(n, i + 1));
}
/** Makes slot i of leaf n a hole: empty at the end of slot i - 1. */
function holeAt(n: usize, i: i32): void {
  let e = lEnd(n, i - 1);
  setLeaf(n, i, e, e, 0);
}
/** After slot i's end changed: the holes right above it take the new end. */
@inline function fixHoles(n: usize, i: i32): void {
  for (let j = i + 1, c = count(n); j < c && isHole(n, j); j++) holeAt(n, j);
}
/** Drops leaf n's holes; returns where slot `at` (or the slot after the holes at `at`) went. */
function purge(n: usize, at: i32): i32 {
  if (holes(n) == 0) return at;
  let c = count(n);
  let k = 0;
  let moved = at;
  for (let i = 0; i < c; i++) {
    if (i == at) moved = k;
    if (isHole(n, i)) continue;
    if (k != i) copyLeafSlot(n, k, n, i);
    k++;
  }
  if (at >= c) moved = k;
  setHoles(n, 0);
  setCount(n, k, 0);
  return moved;
}

@inline function nHi(n: usize, i: i32): u64 { return load<u64>(nKeyAt(n, i)) ^ KEY_FLIP; }
@inline function nChild(n: usize, i: i32): usize { return <usize>load<u32>(nChildAt(n, i)); }
@inline function nLo(n: usize, i: i32): u64 { return load<u64>(n + N_LO + (<usize>i << 3)); }
@inline function nGap(n: usize, i: i32): u64 { return load<u64>(n + N_GAP + (<usize>i << 3)); }
/** Bit i set: slot i's lo and gap may be stale (its hi and child are always exact). */
@inline function stale(n: usize): u32 { return load<u32>(n, 4); }
@inline function setStale(n: usize, mask: u32): void { store<u32>(n, mask, 4); }
@inline function setHi(n: usize, i: i32, hi: u64): void {
  dropFinger();
  store<u64>(nKeyAt(n, i), hi ^ KEY_FLIP);
}
@inline function setLoGap(n: usize, i: i32, lo: u64, gap: u64): void {
  store<u64>(n + N_LO + (<usize>i << 3), lo);
  store<u64>(n + N_GAP + (<usize>i << 3), gap);
}
@inline function pathNode(level: i32): usize { return <usize>load<u32>(path + (<usize>level << 3)); }
@inline function pathSlot(level: i32): i32 { return load<i32>(path + (<usize>level << 3), 4); }
@inline function setPath(level: i32, n: usize, slot: i32): void {
  store<u32>(path + (<usize>level << 3), <u32>n);
  store<i32>(path + (<usize>level << 3), slot, 4);
}
/**
 * Any change to an internal node's keys or to the tree's shape, and any move
 * of the path that is not a walk, ends the finger of the map being changed
 * (the one whose path is in use). Changes inside leaves keep it: a descent
 * never reads them, and the finger's descents rank the leaf afresh.
 */
@inline function dropFinger(): void { store<u64>(path - M_PATH + M_FINGER_HI, 0); }
@inline function hasFinger(m: usize): bool { return load<u64>(m + M_FINGER_HI) != 0; }
@inline function root(m: usize): usize { return <usize>load<u32>(m + M_ROOT); }
@inline function height(m: usize): i32 { return load<i32>(m + M_HEIGHT); }

/**
 * Number of keys <= addr among the B keys of a node (B less those above), in
 * pairs `stride` bytes apart from `base` (sorted, unused slots KEY_PAD),
 * capped at `cap`: the slot of the first key above addr.
 * Branch-free, so all the loads go out together: one memory round trip per
 * node.
 */
@inline function rankAtOrBelow(base: usize, stride: usize, cap: i32, addr: u64): i32 {
  let a = i64x2.splat(<i64>(addr ^ KEY_FLIP));
  // Each lane counts -1 per key above addr (gt is one instruction, le three),
  // summed as a tree: a descent waits on this sum at every level.
  let r01 = i64x2.add(i64x2.gt_s(v128.load(base), a), i64x2.gt_s(v128.load(base + stride), a));
  let r23 = i64x2.add(i64x2.gt_s(v128.load(base + 2 * stride), a), i64x2.gt_s(v128.load(base + 3 * stride), a));
  let r45 = i64x2.add(i64x2.gt_s(v128.load(base + 4 * stride), a), i64x2.gt_s(v128.load(base + 5 * stride), a));
  let r67 = i64x2.add(i64x2.gt_s(v128.load(base + 6 * stride), a), i64x2.gt_s(v128.load(base + 7 * stride), a));
  let r = i64x2.add(i64x2.add(r01, r23), i64x2.add(r45, r67));
  return min(B + <i32>(i64x2.extract_lane(r, 0) + i64x2.extract_lane(r, 1)), cap);
}
/** The slot of the first range in leaf n ending above addr; the count if none. */
@inline function leafRank(n: usize, addr: u64): i32 { return rankAtOrBelow(n + L_PAIRS, L_PAIR, count(n), addr); }
/** The slot of the child of internal node n whose subtree a descent to addr takes (the last if none). */
@inline function childRank(n: usize, addr: u64): i32 { return rankAtOrBelow(n + N_PAIRS, N_PAIR, count(n) - 1, addr); }

@inline function reportFound(s: u64, e: u64): void {
  store<u64>(FOUND, s);
  store<u64>(FOUND, e, 8);
}

// ---- node summaries (the gap annotations) --------------------------------

function leafMaxGap(n: usize): u64 {
  let g: u64 = 0;
  let end = lEnd(n, 0);
  for (let i = 1, c = count(n); i < c; i++) {
    g = max(g, lStart(n, i) - end);
    end = lEnd(n, i);
  }
  return g;
}

function innerMaxGap(n: usize): u64 {
  let g = nGap(n, 0);
  let hi = nHi(n, 0);
  for (let i = 1, c = count(n); i < c; i++) {
    g = max(g, max(nGap(n, i), nLo(n, i) - hi));
    hi = nHi(n, i);
  }
  return g;
}

/**
 * Points slot i of `parent` at `child` (a node at `level`): its hi exact, its
 * lo and gap marked stale. The caller marks the path above (refreshFrom).
 */
function summarize(parent: usize, i: i32, child: usize, level: i32): void {
  setHi(parent, i, highest(child, level));
  store<u32>(nChildAt(parent, i), <u32>child);
  setStale(parent, stale(parent) | (1 << <u32>i));
}

/** The first page a node at `level` covers, and one past its last. */
@inline function lowest(n: usize, level: i32): u64 { return level == 0 ? lStart(n, 0) : nLo(n, 0); }
@inline function highest(n: usize, level: i32): u64 {
  return level == 0 ? lEnd(n, count(n) - 1) : nHi(n, count(n) - 1);
}
@inline function maxGap(n: usize, level: i32): u64 { return level == 0 ? leafMaxGap(n) : innerMaxGap(n); }

/**
 * After the entries of the path's node at `level` changed: keeps the his
 * above it exact (descents read them) and marks the slots above it stale, up
 * to the first node that already had a stale slot (its own slot above is
 * marked). Gap searches bring stale slots up to date first (cleanMap), so a
 * run of changes without a search pays for no max-gap recount. From level 0
 * the path still stands, so a finger that a hi ended is set again.
 */
function refreshFrom(m: usize, level: i32): void {
  let h = height(m);
  let child = pathNode(level);
  let hiMoved = true;
  let mark = true;
  for (let l = level; l < h && (hiMoved || mark); l++) {
    let p = pathNode(l + 1);
    let i = pathSlot(l + 1);
    if (hiMoved) {
      let hi = highest(child, l);
      hiMoved = hi != nHi(p, i);
      if (hiMoved) setHi(p, i, hi);
    }
    if (mark) {
      let was = stale(p);
      setStale(p, was | (1 << i));
      mark = was == 0;
    }
    child = p;
  }
  if (level == 0 && !hasFinger(m)) setFinger(m);
}

/** Brings every stale lo and gap of m up to date. */
function cleanMap(m: usize): void {
  let h = height(m);
  if (h > 0) cleanNode(root(m), h);
}

function cleanNode(n: usize, level: i32): void {
  let mask = stale(n);
  if (mask == 0) return;
  setStale(n, 0);
  do {
    let i = <i32>ctz(mask);
    mask &= mask - 1;
    let child = nChild(n, i);
    if (level > 1) cleanNode(child, level - 1);
    setLoGap(n, i, lowest(child, level - 1), maxGap(child, level - 1));
  } while (mask != 0);
}

// ---- maps ----------------------------------------------------------------

/** A new empty map, or 0 when memory is exhausted. */
export function mapCreate(): usize {
  if (!maps.reserve(1)) return 0;
  if (!leaves.reserve(1)) return 0;
  let m = maps.alloc();
  store<u32>(m + M_ROOT, <u32>newNode(0));
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

/** Reserves what `inserts` insertions into map m may allocate. */
@inline export function reserveNodes(m: usize, inserts: u32): bool {
  return leaves.reserve(inserts) && inners.reserve(inserts * (<u32>height(m) + 2));
}

/** Reserves what one insertion may allocate: a leaf and one node per level plus a new root. */
@inline function reserveInsert(m: usize): bool {
  return leaves.reserve(1) && inners.reserve(<u32>height(m) + 1);
}

// ---- descent -------------------------------------------------------------

/**
 * Walks to the leaf position of the first range with end > addr (find_vma),
 * recording the path. Returns the slot in the leaf at level 0; it equals the
 * leaf's count only when no range ends above addr. Inside the finger only
 * the leaf is searched.
 */
@inline function descend(m: usize, addr: u64): i32 {
  path = m + M_PATH;
  if (inFinger(m, addr)) {
    let i = leafRank(pathNode(0), addr);
    store<i32>(path, i, 4);
    return i;
  }
  return descendFromRoot(m, addr);
}

/** descend() outside the finger. */
function descendFromRoot(m: usize, addr: u64): i32 {
  // The finger, gathered on the way down (setFinger() would walk the path again).
  let lo: u64 = 0;
  let hi: u64 = PAGE_END;
  let n = root(m);
  for (let l = height(m); l > 0; l--) {
    let i = childRank(n, addr);
    lo = fingerLo(n, i, lo);
    hi = fingerHi(n, i, hi);
    setPath(l, n, i);
    n = nChild(n, i);
  }
  store<u64>(m + M_FINGER_LO, lo);
  store<u64>(m + M_FINGER_HI, hi);
  let i = leafRank(n, addr);
  setPath(0, n, i);
  return i;
}

/** Whether a descent to addr would take m's recorded path (its leaf is the one). */
@inline function inFinger(m: usize, addr: u64): bool {
  return addr >= load<u64>(m + M_FINGER_LO) && addr < load<u64>(m + M_FINGER_HI);
}

// The finger is the pages whose descent takes the path's leaf: at each
// level, from the hi of the slot before the path's (if any) up to the hi of
// the path's slot (unless it is the last, which takes everything above).
// Selects, not branches: the slot is random.
@inline function fingerLo(n: usize, i: i32, lo: u64): u64 { return select(nHi(n, max(i - 1, 0)), lo, i > 0); }
@inline function fingerHi(n: usize, i: i32, hi: u64): u64 { return select(nHi(n, i), hi, i < count(n) - 1); }

/** Sets the finger from the path. */
function setFinger(m: usize): void {
  let lo: u64 = 0;
  let hi: u64 = PAGE_END;
  for (let l = height(m); l > 0; l--) {
    lo = fingerLo(pathNode(l), pathSlot(l), lo);
    hi = fingerHi(pathNode(l), pathSlot(l), hi);
  }
  store<u64>(m + M_FINGER_LO, lo);
  store<u64>(m + M_FINGER_HI, hi);
}

/** Moves the path to the next leaf; false at the last leaf. */
function nextLeaf(m: usize): bool {
  path = m + M_PATH;
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
  setFinger(m);
  return true;
}

/** Moves the path to the previous leaf, at its last slot; false at the first leaf. */
function prevLeaf(m: usize): bool {
  path = m + M_PATH;
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
  setFinger(m);
  return true;
}

// ---- lookups ---------------------------------------------------------------

/** vma_lookup: the value of the range containing addr, or -1. */
export function find(m: usize, addr: u64): i32 {
  let i = descend(m, addr);
  return containing(pathNode(0), i, addr);
}

/** find_vma: the value of the first range with end > addr, or -1. Reports its bounds in FOUND. */
export function findNext(m: usize, addr: u64): i32 {
  let i = descend(m, addr);
  return reported(pathNode(0), i);
}

/** The value of slot i of leaf n if its range contains addr, else -1. */
@inline function containing(n: usize, i: i32, addr: u64): i32 {
  return i == count(n) || lStart(n, i) > addr ? -1 : <i32>lValue(n, i);
}

/** The value of slot i of leaf n, its bounds in FOUND; -1 past the leaf's last slot. */
@inline function reported(n: usize, i: i32): i32 {
  if (i == count(n)) return -1;
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

// Lookups from outside (the RangeMap API) rarely come near each other: they
// descend without recording a path, which costs a random lookup a third of
// its time, and use the finger only when one is there.
let peekSlot: i32 = 0;

/** The leaf holding the first range with end > addr; its slot in peekSlot (the leaf's count if none). */
function peek(m: usize, addr: u64): usize {
  if (inFinger(m, addr)) {
    let leaf = <usize>load<u32>(m + M_PATH);
    peekSlot = leafRank(leaf, addr);
    return leaf;
  }
  let n = root(m);
  for (let l = height(m); l > 0; l--) n = nChild(n, childRank(n, addr));
  peekSlot = leafRank(n, addr);
  return n;
}

/** find() for callers outside the core. */
export function peekFind(m: usize, addr: u64): i32 {
  let n = peek(m, addr);
  return containing(n, peekSlot, addr);
}

/** findNext() for callers outside the core. */
export function peekFindNext(m: usize, addr: u64): i32 {
  let n = peek(m, addr);
  return reported(n, peekSlot);
}

/** The range containing addr (value, bounds in FOUND), or -1. */
export function lookup(m: usize, addr: u64): i32 {
  let v = peekFindNext(m, addr);
  if (v < 0 || load<u64>(FOUND) > addr) return -1;
  return v;
}

/** The first range starting above addr (the one after the range or gap at addr), or -1. */
export function next(m: usize, addr: u64): i32 {
  let i = descend(m, addr);
  let n = pathNode(0);
  if (i == count(n)) return -1;
  if (lStart(n, i) <= addr) {
    i = slotAfter(m, i);
    if (i < 0) return -1;
    n = pathNode(0);
  }
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

/** The range after slot i of the path's leaf, moving the path to the next leaf if need be: its slot, or -1. */
@inline function slotAfter(m: usize, i: i32): i32 {
  let n = pathNode(0);
  do {
    if (++i == count(n)) return nextLeaf(m) ? 0 : -1;
  } while (isHole(n, i));
  return i;
}

/** The last range below slot i (> 0) of leaf n: slot 0 is never a hole. */
@inline function liveBelow(n: usize, i: i32): i32 {
  do i--; while (isHole(n, i));
  return i;
}

/** The last range ending at or below addr (the one before the range or gap at addr), or -1. */
export function prev(m: usize, addr: u64): i32 {
  descend(m, addr);
  return pathPrev(m);
}

/**
 * The range before the slot m's last descent ended at (vma_prev() after
 * vma_find()), or -1. Moves the path only when that is another leaf.
 */
export function pathPrev(m: usize): i32 {
  path = m + M_PATH;
  let n = pathNode(0);
  let i = pathSlot(0);
  if (i == 0) {
    if (!prevLeaf(m)) return -1;
    n = pathNode(0);
    i = count(n);
  }
  if (i == 0) return -1;
  i = liveBelow(n, i);
  reportFound(lStart(n, i), lEnd(n, i));
  return <i32>lValue(n, i);
}

// A walk over the ranges in address order that keeps its place on the walk
// path: no other call on any map may come between its steps.
let walkSlot: i32 = 0;

/**
 * Starts a walk at the last range ending at or below addr (the one before
 * the range or gap at addr), or at the first range when there is none.
 * False when the map is empty.
 */
export function walkFrom(m: usize, addr: u64): bool {
  let i = descend(m, addr);
  if (i > 0) {
    walkSlot = liveBelow(pathNode(0), i);
    return true;
  }
  if (prevLeaf(m)) {
    walkSlot = liveBelow(pathNode(0), count(pathNode(0)));
    return true;
  }
  descend(m, 0);
  walkSlot = 0;
  return count(pathNode(0)) > 0;
}

/** Moves the walk to the next range; false after the last. */
export function walkNext(m: usize): bool {
  path = m + M_PATH;
  walkSlot = slotAfter(m, walkSlot);
  return walkSlot >= 0;
}

/** The start of the range the walk is at. */
export function walkStart(): u64 { return lStart(pathNode(0), walkSlot); }

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
    i = slotAfter(m, i);
    if (i < 0) break;
    n = pathNode(0);
  }
  return k;
}

/** Queries a batch walks in lockstep: their cache misses overlap. */
const LANES: i32 = 16;
const LANE_NODE = memory.data(4 * LANES);

// A batch over a big map is sorted first (LSD radix sort of the pages, keeping
// each query's index): lanes then sweep the tree in address order, sharing
// upper nodes and TLB entries. A map that fits the caches gains nothing from it.
const SORT_MAX: i32 = 16384;
const RADIX_BITS: u64 = 11;
const RADIX: i32 = 1 << 11;
const RADIX_COUNTS = memory.data(4 * RADIX);
let sortArea: usize = 0;

/** Sorts the n (<= SORT_MAX) pages at addrs; returns the query indices (u32) in page order. */
function sortBatch(addrs: usize, n: i32): usize {
  if (sortArea == 0) sortArea = growPages(<i32>((<usize>SORT_MAX * 24 + 65535) >> 16));
  let keys = sortArea;
  let keys2 = keys + (<usize>SORT_MAX << 3);
  let idx = keys2 + (<usize>SORT_MAX << 3);
  let idx2 = idx + (<usize>SORT_MAX << 2);
  let top: u64 = 0;
  for (let i = 0; i < n; i++) {
    let k = <u64>load<f64>(addrs + (<usize>i << 3));
    store<u64>(keys + (<usize>i << 3), k);
    store<u32>(idx + (<usize>i << 2), <u32>i);
    top |= k;
  }
  for (let shift: u64 = 0; shift < 64 && (top >> shift) != 0; shift += RADIX_BITS) {
    memory.fill(RADIX_COUNTS, 0, <usize>RADIX << 2);
    for (let i = 0; i < n; i++) {
      let d = <usize>((load<u64>(keys + (<usize>i << 3)) >> shift) & <u64>(RADIX - 1));
      store<u32>(RADIX_COUNTS + (d << 2), load<u32>(RADIX_COUNTS + (d << 2)) + 1);
    }
    let sum: u32 = 0;
    for (let d = 0; d < RADIX; d++) {
      let c = load<u32>(RADIX_COUNTS + (<usize>d << 2));
      store<u32>(RADIX_COUNTS + (<usize>d << 2), sum);
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      let k = load<u64>(keys + (<usize>i << 3));
      let d = <usize>((k >> shift) & <u64>(RADIX - 1));
      let at = <usize>load<u32>(RADIX_COUNTS + (d << 2));
      store<u32>(RADIX_COUNTS + (d << 2), <u32>at + 1);
      store<u64>(keys2 + (at << 3), k);
      store<u32>(idx2 + (at << 2), load<u32>(idx + (<usize>i << 2)));
    }
    let t = keys;
    keys = keys2;
    keys2 = t;
    t = idx;
    idx = idx2;
    idx2 = t;
  }
  return idx;
}

/** Maps at least this big (several MiB of leaves, past the caches) get their batches sorted. */
const SORT_FROM_SIZE: u32 = 1 << 17;
const IDENTITY = memory.data(4 * SORT_MAX);
let identityReady = false;

/** vma_lookup for a batch: values (or -1) of the ranges containing each f64 page. */
export function findMany(m: usize, addrs: usize, out: usize, n: i32): void {
  let sort = mapSize(m) >= SORT_FROM_SIZE;
  if (!sort && !identityReady) {
    for (let i = 0; i < SORT_MAX; i++) store<u32>(IDENTITY + (<usize>i << 2), <u32>i);
    identityReady = true;
  }
  for (let base = 0; base < n; base += SORT_MAX) {
    let count = min(SORT_MAX, n - base);
    let a = addrs + (<usize>base << 3);
    let o = out + (<usize>base << 2);
    findSorted(m, a, o, sort ? sortBatch(a, count) : IDENTITY, count);
  }
}

/** Looks up the pages at addrs in the order `order` gives (query indices), LANES at a time in lockstep. */
function findSorted(m: usize, addrs: usize, out: usize, order: usize, n: i32): void {
  let h = height(m);
  let k = 0;
  for (; k + LANES <= n; k += LANES) {
    for (let j = 0; j < LANES; j++) store<u32>(LANE_NODE + (<usize>j << 2), <u32>root(m));
    // One level for every lane before the next level: the lanes' loads are
    // independent, so their misses are served together.
    for (let l = h; l > 0; l--) {
      for (let j = 0; j < LANES; j++) {
        let p = LANE_NODE + (<usize>j << 2);
        let node = <usize>load<u32>(p);
        let q = <usize>load<u32>(order + (<usize>(k + j) << 2));
        let a = <u64>load<f64>(addrs + (q << 3));
        let i = childRank(node, a);
        store<u32>(p, <u32>nChild(node, i));
      }
    }
    for (let j = 0; j < LANES; j++) {
      let leaf = <usize>load<u32>(LANE_NODE + (<usize>j << 2));
      let q = <usize>load<u32>(order + (<usize>(k + j) << 2));
      let a = <u64>load<f64>(addrs + (q << 3));
      let i = leafRank(leaf, a);
      let v = i < count(leaf) && lStart(leaf, i) <= a ? <i32>lValue(leaf, i) : -1;
      store<i32>(out + (q << 2), v);
    }
  }
  for (; k < n; k++) {
    let q = <usize>load<u32>(order + (<usize>k << 2));
    store<i32>(out + (q << 2), peekFind(m, <u64>load<f64>(addrs + (q << 3))));
  }
}

// ---- insertion -------------------------------------------------------------

/** True when the path above `level` runs along the tree's right (or left) edge. */
function pathAtEdge(m: usize, level: i32, right: bool): bool {
  for (let l = level + 1, h = height(m); l <= h; l++) {
    let edge = right ? count(pathNode(l)) - 1 : 0;
    if (pathSlot(l) != edge) return false;
  }
  return true;
}

/**
 * Where to cut an overfull node of B + 1 entries in which the new one sits at
 * `at`. Appending past the last range of the whole map (ascending mmaps)
 * keeps the left node full, prepending before the first keeps the right node
 * full; anything else splits evenly, so random inserts cannot leave a trail
 * of nearly empty nodes.
 */
function splitPoint(m: usize, at: i32, level: i32): i32 {
  if (at == B && pathAtEdge(m, level, true)) return B;
  if (at == 0 && pathAtEdge(m, level, false)) return 1;
  return (B + 1) >> 1;
}

/** Leaf slot a of dst <- slot b of src. */
@inline function copyLeafSlot(dst: usize, a: i32, src: usize, b: i32): void {
  let ka = lKeyAt(dst, a);
  let kb = lKeyAt(src, b);
  store<u64>(ka, load<u64>(kb));
  store<u64>(ka, load<u64>(kb, 16), 16);
  store<u32>(lValueAt(dst, a), load<u32>(lValueAt(src, b)));
}

/**
 * Leaf pair at pa <- the two slots of the pairs from pb on that it covers:
 * pair pb itself, or with `odd` lane 1 of pb and lane 0 of the pair after.
 */
@inline function copyLeafPair(pa: usize, pb: usize, odd: bool): void {
  let e = v128.load(pb);
  let s = v128.load(pb, 16);
  let v = load<u64>(pb, 32);
  if (odd) {
    e = i8x16.shuffle(e, v128.load(pb, L_PAIR), 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
    s = i8x16.shuffle(s, v128.load(pb, L_PAIR + 16), 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
    v = (v >> 32) | (load<u64>(pb, L_PAIR + 32) << 32);
  }
  v128.store(pa, e);
  v128.store(pa, s, 16);
  store<u64>(pa, v, 32);
}

/**
 * Leaf slots [from, from + k) of src to [to, to + k) of dst (may overlap):
 * whole destination pairs at a time, a lone slot at either end. An odd
 * shift takes each pair from two source pairs.
 */
function moveLeafSlots(dst: usize, to: i32, src: usize, from: i32, k: i32): void {
  if (k <= 0) return;
  let end = to + k;
  let head = (to & 1) != 0;
  let tail = (end & 1) != 0;
  let pairs = (end - <i32>tail - to - <i32>head) >> 1;
  let delta = to - from;
  let odd = (delta & 1) != 0;
  let pa = lPair(dst, to + <i32>head);
  let pb = lPair(src, to + <i32>head - delta);
  // Top down when moving up in place, so no source slot is written before it is read.
  if (dst == src && delta > 0) {
    if (tail) copyLeafSlot(dst, end - 1, src, end - 1 - delta);
    for (let j = pairs - 1; j >= 0; j--) copyLeafPair(pa + <usize>j * L_PAIR, pb + <usize>j * L_PAIR, odd);
    if (head) copyLeafSlot(dst, to, src, from);
    return;
  }
  if (head) copyLeafSlot(dst, to, src, from);
  for (let j = 0; j < pairs; j++) copyLeafPair(pa + <usize>j * L_PAIR, pb + <usize>j * L_PAIR, odd);
  if (tail) copyLeafSlot(dst, end - 1, src, end - 1 - delta);
}

/** Moves `k` entries of `src` from slot `from` to slot `to` of `dst` (nodes of one level; may overlap). */
function moveEntries(dst: usize, to: i32, src: usize, from: i32, k: i32, level: i32): void {
  if (level == 0) {
    moveLeafSlots(dst, to, src, from, k);
    return;
  }
  dropFinger();
  // Slot by slot (pairs interleave fields), in the order that overlap allows.
  let up = dst == src && to > from;
  let step = up ? -1 : 1;
  let a = up ? to + k - 1 : to;
  let b = up ? from + k - 1 : from;
  for (let j = 0; j < k; j++, a += step, b += step) {
    store<u64>(nKeyAt(dst, a), load<u64>(nKeyAt(src, b)));
    store<u32>(nChildAt(dst, a), load<u32>(nChildAt(src, b)));
    setLoGap(dst, a, nLo(src, b), nGap(src, b));
  }
  // Stale marks go with their entries; the slots left behind are given up or written over.
  let span: u32 = (1 << <u32>k) - 1;
  let moved = (stale(src) >> <u32>from) & span;
  setStale(dst, (stale(dst) & ~(span << <u32>to)) | (moved << <u32>to));
}

// What openSlot() did: the split-off right sibling (0 if none), and the
// index of the opened slot in the node it returned.
let splitSibling: usize = 0;
let openAt: i32 = 0;

/**
 * Opens slot `at` of node `n` (at `level`) for one more entry. A full node
 * splits first, its upper part moving to a new right sibling. Returns the
 * node holding the open slot.
 */
function openSlot(m: usize, n: usize, at: i32, level: i32): usize {
  let c = count(n);
  splitSibling = 0;
  if (c < B) {
    moveEntries(n, at + 1, n, at, c - at, level);
    setCount(n, c + 1, level);
    openAt = at;
    return n;
  }
  let r = newNode(level);
  splitSibling = r;
  // Of the B + 1 entries, n keeps `cut` and r takes the rest.
  let cut = splitPoint(m, at, level);
  if (at < cut) {
    moveEntries(r, 0, n, cut - 1, B - cut + 1, level);
    moveEntries(n, at + 1, n, at, cut - 1 - at, level);
    openAt = at;
  } else {
    moveEntries(r, 0, n, cut, at - cut, level);
    moveEntries(r, at - cut + 1, n, at, B - at, level);
    openAt = at - cut;
  }
  setCount(n, cut, level);
  setCount(r, B + 1 - cut, level);
  return at < cut ? n : r;
}

/**
 * A range that belongs at the very start (end) of a full leaf can as well go
 * at the end (start) of the previous (next) leaf: if that leaf has room, move
 * the path there instead of splitting. Keeps leaves full under top-down mmaps.
 */
function spillToSibling(m: usize, at: i32): bool {
  let p = pathNode(1);
  let j = pathSlot(1);
  if (at == 0 && j > 0) {
    let left = nChild(p, j - 1);
    if (count(left) == B) return false;
    dropFinger();
    setPath(1, p, j - 1);
    setPath(0, left, count(left));
    return true;
  }
  if (at == B && j + 1 < count(p)) {
    let right = nChild(p, j + 1);
    if (count(right) == B) return false;
    dropFinger();
    setPath(1, p, j + 1);
    setPath(0, right, 0);
    return true;
  }
  return false;
}

/** Inserts a range at slot `at` of the path's leaf; splits and refreshes upwards. */
function leafInsert(m: usize, at: i32, s: u64, e: u64, v: u32): void {
  let n = pathNode(0);
  if (holes(n) > 0) {
    // A hole where the range goes takes it.
    let h = at > 0 && isHole(n, at - 1) ? at - 1 : at < count(n) && isHole(n, at) ? at : -1;
    if (h >= 0) {
      setLeaf(n, h, s, e, v);
      setHoles(n, holes(n) - 1);
      fixHoles(n, h);
      refreshFrom(m, 0);
      return;
    }
    if (count(n) == B) at = purge(n, at);
  }
  if (count(n) == B && height(m) > 0 && spillToSibling(m, at)) {
    // The path now leads to the sibling that took the entry.
    n = pathNode(0);
    at = pathSlot(0);
  }
  n = openSlot(m, n, at, 0);
  setLeaf(n, openAt, s, e, v);
  if (splitSibling == 0) refreshFrom(m, 0);
  else insertSibling(m, 0, splitSibling);
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
      let r = newNode(level + 1);
      summarize(r, 0, left, level);
      summarize(r, 1, sib, level);
      setCount(r, 2, level + 1);
      store<u32>(m + M_ROOT, <u32>r);
      store<i32>(m + M_HEIGHT, h + 1);
      return;
    }
    let p = pathNode(level + 1);
    let slot = pathSlot(level + 1);
    summarize(p, slot, left, level);
    let dst = openSlot(m, p, slot + 1, level + 1);
    summarize(dst, openAt, sib, level);
    if (splitSibling == 0) {
      refreshFrom(m, level + 1);
      return;
    }
    level++;
    sib = splitSibling;
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
  store<u32>(m + M_COUNT, mapSize(m) - 1);
  if (at > 0 && (live(n) > MIN_FILL || height(m) == 0)) {
    holeAt(n, at);
    setHoles(n, holes(n) + 1);
    fixHoles(n, at);
    refreshFrom(m, 0);
    return;
  }
  at = purge(n, at);
  let c = count(n);
  moveEntries(n, at, n, at + 1, c - at - 1, 0);
  setCount(n, c - 1, 0);
  rebalance(m, 0);
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
    if ((level == 0 ? live(n) : count(n)) >= MIN_FILL) {
      refreshFrom(m, level);
      return;
    }
    if (level == 0) purge(n, 0);
    let c = count(n);
    if (count(p) == 1) {
      // An only child (left by a lopsided split): settle it one level up.
      if (c == 0) {
        if (level == 0) leaves.free(n);
        else inners.free(n);
        setCount(p, 0, level + 1);
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
    // Entries move between the two: the sibling's holes go first (n's went above).
    if (level == 0) purge(n == left ? right : left, 0);
    let lc = count(left);
    let rc = count(right);
    if (lc + rc <= B) {
      // Merge right into left and drop right from the parent.
      moveEntries(left, lc, right, 0, rc, level);
      setCount(left, lc + rc, level);
      if (level == 0) leaves.free(right);
      else inners.free(right);
      let pc = count(p);
      moveEntries(p, li + 1, p, li + 2, pc - li - 2, level + 1);
      setCount(p, pc - 1, level + 1);
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
    setCount(left, want, level);
    setCount(right, lc + rc - want, level);
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
  while (true) {
    let at = descend(m, s);
    let n = pathNode(0);
    if (at == count(n)) return 0;
    let rs = lStart(n, at);
    let re = lEnd(n, at);
    if (rs >= e) return 0;
    let v = lValue(n, at);
    if (rs < s) {
      // Only cutting a hole in one range adds one: erasing never needs memory otherwise.
      if (re > e && !reserveInsert(m)) return ENOMEM;
      // Keep the head [rs, s); a tail beyond e goes back in as its own range.
      setEnd(n, at, s);
      fixHoles(n, at);
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
      setStart(n, at, e);
      refreshFrom(m, 0);
      return 0;
    }
    leafRemove(m, at);
    if (re == e) return 0;
  }
  return 0;
}

/**
 * Maps [s, e) to v, overwriting whatever was there, exactly as erase(s, e)
 * then insert(s, e, v) would (vma_iter_store), but on one descent when it can.
 * Returns 0, EINVAL or ENOMEM.
 */
export function storeRange(m: usize, s: u64, e: u64, v: u32): i32 {
  if (s >= e) return EINVAL;
  let at = descend(m, s);
  let n = pathNode(0);
  let c = count(n);
  if (at < c && lStart(n, at) >= s && lEnd(n, at) <= e) {
    // The ranges inside [s, e), none across its edges, all in this leaf (a
    // VMA growing over what it merged with): they become one, on one descent.
    let tiled = lStart(n, at) == s;
    let j = at + 1;
    for (; j < c && lEnd(n, j) <= e; j++) tiled = tiled && lStart(n, j) == lEnd(n, j - 1);
    if (j < c ? lStart(n, j) >= e : lEnd(n, c - 1) == e) {
      tiled = tiled && lEnd(n, j - 1) == e;
      setLeaf(n, at, s, e, v);
      // The ranges it took in become holes.
      let gone = 0;
      for (let k = at + 1; k < j; k++) {
        gone += <i32>!isHole(n, k);
        holeAt(n, k);
      }
      if (gone > 0) {
        setHoles(n, holes(n) + gone);
        store<u32>(m + M_COUNT, mapSize(m) - <u32>gone);
      }
      // Same pages covered, no node changed shape: no annotation moves.
      if (!tiled || (live(n) < MIN_FILL && height(m) > 0)) rebalance(m, 0);
      return 0;
    }
  }
  // Nothing there (the ranges before `at` end at or below s): insert on this path.
  if (at == c || lStart(n, at) >= e) {
    if (!reserveInsert(m)) return ENOMEM;
    leafInsert(m, at, s, e, v);
    store<u32>(m + M_COUNT, mapSize(m) + 1);
    return 0;
  }
  let rc = erase(m, s, e);
  return rc != 0 ? rc : insert(m, s, e, v);
}

/**
 * Splits the range containing addr at addr: the part below addr (newBelow)
 * or from addr up becomes a range of its own with value v, the rest keeps its
 * value. One descent. Returns 0, ENOENT (no range strictly around addr) or ENOMEM.
 */
export function splitAt(m: usize, addr: u64, v: u32, newBelow: bool): i32 {
  if (!reserveInsert(m)) return ENOMEM;
  let at = descend(m, addr);
  let n = pathNode(0);
  if (at == count(n) || lStart(n, at) >= addr) return ENOENT;
  let s = lStart(n, at);
  let e = lEnd(n, at);
  let old = lValue(n, at);
  let room = roomAfter(n, at, 1);
  if (room >= 0) {
    at = room;
    cutSlot(m, n, at, 1);
    setLeaf(n, at, s, addr, newBelow ? v : old);
    setLeaf(n, at + 1, addr, e, newBelow ? old : v);
    return 0;
  }
  // Shrink the old range and mark its leaf's path first (its hi may move):
  // the insertion may spill into a sibling and mark only that one's path.
  if (newBelow) setStart(n, at, addr);
  else setEnd(n, at, addr);
  refreshFrom(m, 0);
  leafInsert(m, newBelow ? at : at + 1, newBelow ? s : addr, newBelow ? addr : e, v);
  store<u32>(m + M_COUNT, mapSize(m) + 1);
  return 0;
}

/**
 * Cuts the range around [lo, hi) (which it strictly contains) in three: the
 * part below lo takes vBelow, the part from hi up vAbove, [lo, hi) keeps the
 * value. One descent and one move when the leaf has room for both. Returns
 * 0, ENOENT (no such range) or ENOMEM.
 */
export function splitAround(m: usize, lo: u64, hi: u64, vBelow: u32, vAbove: u32): i32 {
  let at = descend(m, lo);
  let n = pathNode(0);
  if (at == count(n) || lStart(n, at) >= lo || lEnd(n, at) <= hi) return ENOENT;
  at = roomAfter(n, at, 2);
  if (at < 0) {
    let rc = splitAt(m, lo, vBelow, true);
    return rc != 0 ? rc : splitAt(m, hi, vAbove, false);
  }
  let s = lStart(n, at);
  let e = lEnd(n, at);
  let old = lValue(n, at);
  cutSlot(m, n, at, 2);
  setLeaf(n, at, s, lo, vBelow);
  setLeaf(n, at + 1, lo, hi, old);
  setLeaf(n, at + 2, hi, e, vAbove);
  return 0;
}

/**
 * Where slot `at` of leaf n is once there is room for k more slots after it
 * (holes right after it, or free slots, dropping the leaf's holes if that
 * makes them); -1 if the leaf is too full.
 */
function roomAfter(n: usize, at: i32, k: i32): i32 {
  if (count(n) + k <= B || holesAt(n, at + 1, k)) return at;
  if (holes(n) == 0) return -1;
  at = purge(n, at);
  setPath(0, n, at);
  return count(n) + k <= B ? at : -1;
}

/**
 * Makes room in leaf n (roomAfter() found it) for slot `at`'s range to
 * become k + 1 ranges, written by the caller into slots at..at + k. The same
 * pages stay covered, so nothing above the leaf changes: holes right after
 * the range take the pieces, else the slots above move up.
 */
@inline function cutSlot(m: usize, n: usize, at: i32, k: i32): void {
  store<u32>(m + M_COUNT, mapSize(m) + <u32>k);
  if (holesAt(n, at + 1, k)) {
    setHoles(n, holes(n) - k);
    return;
  }
  let c = count(n);
  moveEntries(n, at + 1 + k, n, at + 1, c - at - 1, 0);
  setCount(n, c + k, 0);
}

/** Sets the value of the range containing addr. 0, or ENOENT when addr is in a gap. */
export function update(m: usize, addr: u64, v: u32): i32 {
  let at = descend(m, addr);
  let n = pathNode(0);
  if (at == count(n) || lStart(n, at) > addr) return ENOENT;
  setValue(n, at, v);
  return 0;
}

// ---- gap search ------------------------------------------------------------

/** Lowest aligned start of `size` pages inside gap [gs, ge) clipped to [lo, hi), or PAGE_END. */
@inline function fitLow(gs: u64, ge: u64, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let a = max(gs, lo);
  let b = min(ge, hi);
  if (a >= b) return PAGE_END;
  let r = align == 1 ? 0 : a % align;
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
  if (align != 1) x -= x % align;
  return x >= a ? x : PAGE_END;
}

/** Lowest fit among the gaps between ranges inside the subtree `n` at `level`. */
function lowestIn(n: usize, level: i32, lo: u64, hi: u64, size: u64, align: u64): u64 {
  let c = count(n);
  // Gaps wholly below lo are skipped by rank: start at the gap before the
  // first entry that ends above lo.
  if (level == 0) {
    for (let i = max(1, leafRank(n, lo)); i < c; i++) {
      let gs = lEnd(n, i - 1);
      if (gs >= hi) break;
      let x = fitLow(gs, lStart(n, i), lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    return PAGE_END;
  }
  for (let i = childRank(n, lo); i < c; i++) {
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
  // Likewise from the top: start at the first entry that ends at or above hi.
  if (level == 0) {
    for (let i = min(leafRank(n, hi - 1), c - 1); i > 0; i--) {
      let ge = lStart(n, i);
      if (ge <= lo) break;
      let x = fitHigh(lEnd(n, i - 1), ge, lo, hi, size, align);
      if (x != PAGE_END) return x;
    }
    return PAGE_END;
  }
  for (let i = childRank(n, hi - 1); i >= 0; i--) {
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
  if (count(r) == 0) return 0;
  return wantLast ? highest(r, height(m)) : lowest(r, height(m));
}

/** The end of the last range before the path's leaf, 0 before the first leaf. */
function endBeforeLeaf(m: usize): u64 {
  for (let l = 1, h = height(m); l <= h; l++) {
    let slot = pathSlot(l);
    if (slot > 0) return nHi(pathNode(l), slot - 1);
  }
  return 0;
}

/** Whether the last lowestNear/highestNear call settled the search (else: search the tree). */
let nearDecided = false;

/** Leaves a near search walks before it hands over to the annotated tree search. */
const NEAR_LEAVES: i32 = 4;

/**
 * The lowest fit found by walking the gaps in address order from the one at
 * lo, through lo's leaf and the next few. Undecided when those run out.
 */
function lowestNear(m: usize, lo: u64, hi: u64, size: u64, align: u64): u64 {
  nearDecided = true;
  let i = descend(m, lo);
  let n = pathNode(0);
  let gs = i > 0 ? lEnd(n, i - 1) : endBeforeLeaf(m);
  for (let leaf = 0; leaf < NEAR_LEAVES; leaf++) {
    for (let c = count(n); i < c; i++) {
      if (gs >= hi) return PAGE_END;
      let x = fitLow(gs, lStart(n, i), lo, hi, size, align);
      if (x != PAGE_END) return x;
      gs = lEnd(n, i);
    }
    if (gs >= hi) return PAGE_END;
    if (!nextLeaf(m)) return fitLow(gs, PAGE_END, lo, hi, size, align);
    n = pathNode(0);
    i = 0;
  }
  nearDecided = false;
  return PAGE_END;
}

/** The highest fit found by walking the gaps down from the one at hi - 1, through hi's leaf and the few before. */
function highestNear(m: usize, lo: u64, hi: u64, size: u64, align: u64): u64 {
  nearDecided = true;
  let i = descend(m, hi - 1);
  let n = pathNode(0);
  // The gap under consideration is [end of range i - 1, ge).
  let ge = i < count(n) ? lStart(n, i) : PAGE_END;
  for (let leaf = 0; leaf < NEAR_LEAVES; leaf++) {
    for (; ; i--) {
      if (ge <= lo) return PAGE_END;
      let gs = i > 0 ? lEnd(n, i - 1) : endBeforeLeaf(m);
      let x = fitHigh(gs, ge, lo, hi, size, align);
      if (x != PAGE_END) return x;
      if (i == 0) break;
      ge = lStart(n, i - 1);
    }
    // The gap below this leaf's first range was just tried; go on in the previous leaf.
    if (!prevLeaf(m)) return PAGE_END;
    n = pathNode(0);
    i = count(n) - 1;
    ge = lStart(n, i);
  }
  nearDecided = false;
  return PAGE_END;
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
  // Most searches end in the leaf where they start: try it on a plain descent first.
  let near = topdown ? highestNear(m, lo, hi, size, align) : lowestNear(m, lo, hi, size, align);
  if (nearDecided) return near;
  cleanMap(m);
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
  for (let i = c; i < B; i++) if (load<u64>(keyAt(n, i, level)) != STORED_PAD) return BAD_FILL;
  if (level == 0) {
    let h = 0;
    for (let i = 0; i < c; i++) {
      let s = lStart(n, i);
      let e = lEnd(n, i);
      if (s == e) {
        // A hole: never first, and empty at the end of the range before it.
        if (i == 0 || s != lastEnd) return BAD_ORDER;
        h++;
        continue;
      }
      if (s > e || (seenRanges > 0 && s < lastEnd)) return BAD_ORDER;
      lastEnd = e;
      seenRanges++;
    }
    return h == holes(n) ? 0 : BAD_FILL;
  }
  let mask = stale(n);
  if (mask >> <u32>c != 0) return BAD_SUMMARY;
  for (let i = 0; i < c; i++) {
    let child = nChild(n, i);
    let err = validateNode(child, level - 1, false);
    if (err != 0) return err;
    let l = level - 1;
    if (nHi(n, i) != highest(child, l)) return BAD_SUMMARY;
    // A stale slot's lo and gap may be anything; a slot whose subtree has a
    // stale slot must itself be marked, or cleanMap would not reach it.
    if ((mask & (1 << i)) != 0) continue;
    if (l > 0 && stale(child) != 0) return BAD_SUMMARY;
    if (nLo(n, i) != lowest(child, l) || nGap(n, i) != maxGap(child, l)) return BAD_SUMMARY;
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
