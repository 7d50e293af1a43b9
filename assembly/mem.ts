// Flat-memory pools for fixed-size records.
//
// Records live in 64 KiB chunks taken straight from memory.grow, outside the
// AssemblyScript heap, and are addressed by their byte offset (a u32 handle).
// Freed records go on a free list threaded through their first word, so churn
// reuses memory instead of growing it.
//
// Mutations that may need records reserve them first (like the kernel's
// mas_preallocate / vma_iter_prealloc): once a reservation succeeded the
// mutation cannot fail half-way, so a failed op leaves no partial state.

const WASM_PAGE: usize = 65536;

// Bytes taken from memory.grow by all pools.
let grownBytes: usize = 0;
// Failure injection: the n-th next reservation fails (0 = off), or each one
// with a probability. Reservations inside an op that already reserved
// everything it needs are not counted: they cannot fail.
let failCountdown: i32 = 0;
let failRate: f64 = 0;
let failSeed: u64 = 0;
let inReservedOp = false;
// Strict accounting (tests): each pool keeps what the current op's
// reservations promised, and an allocation past it, or an inner reservation
// the op's own did not cover, counts as an overdraw: a reservation too small.
let strict = false;
let overdraws: u32 = 0;
const MAX_POOLS: i32 = 16;
const POOLS = memory.data(4 * MAX_POOLS);
let poolCount: i32 = 0;
// Added to every reservation's need: 0, or past any pool's size while
// reservations must take the slow path (an injection, or strict accounting).
// The fast path is then one comparison.
let slowBias: u64 = 0;
/**
 * Linear memory never grows past 2 GiB: handles are byte offsets, and range
 * maps return them as non-negative i32 values.
 */
export const MAX_WASM_PAGES: i32 = 32768;
// memory.grow stops at this many 64 KiB pages.
let pageLimit: i32 = MAX_WASM_PAGES;
/**
 * Pages under the cap that only unmapping may use: the kernel can always
 * unmap a whole VMA, so a run that has used up its memory can still tear down.
 */
const TEARDOWN_PAGES: i32 = 16;
let tearingDown = false;

/** Unmapping starts (it may use the teardown reserve) or ends. */
export function setTearingDown(on: bool): void {
  tearingDown = on;
}

/** The pages memory may grow to now: the cap, less the teardown reserve unless unmapping. */
@inline function growLimit(): i32 {
  return tearingDown ? pageLimit : max(0, pageLimit - TEARDOWN_PAGES);
}

/** An op reserved all it needs: its inner reservations cannot fail. */
export function beginReservedOp(): void {
  inReservedOp = true;
}
export function endReservedOp(): void {
  inReservedOp = false;
  if (strict) forgetPromises();
}

function forgetPromises(): void {
  for (let i = 0; i < poolCount; i++) changetype<Pool>(load<u32>(POOLS + (<usize>i << 2))).promised = 0;
}

/** Turns strict accounting on or off; returns the overdraws so far. */
export function strictReservations(on: bool): u32 {
  strict = on;
  forgetPromises();
  updateSlowReserve();
  return overdraws;
}

/** Makes the n-th next reservation fail (n >= 1); 0 turns injection off. */
export function injectReserveFailure(n: i32): void {
  failCountdown = n;
  updateSlowReserve();
}

/** Reservations the injection has failed so far. */
export let injectedFailures: u32 = 0;
/** Times linear memory could not grow (the cap, or the host, said no). */
export let growFailures: u32 = 0;

/** Makes each reservation fail with probability `rate` (0 turns it off), drawn from a seeded xorshift. */
export function injectFailureRate(rate: f64, seed: u32): void {
  failRate = rate;
  updateSlowReserve();
  failSeed = <u64>seed * 0x9E3779B97F4A7C15 | 1;
}

/** Caps linear memory at `pages` 64 KiB pages: growing past it fails as memory.grow would. Returns the old cap. */
export function setPageLimit(pages: i32): i32 {
  let old = pageLimit;
  pageLimit = min(pages, MAX_WASM_PAGES);
  return old;
}

@inline function updateSlowReserve(): void {
  slowBias = strict || failCountdown > 0 || failRate != 0 ? <u64>1 << 40 : 0;
}

/** Whether the injection makes this reservation fail. */
function injectedFailure(): bool {
  if (inReservedOp) return false;
  let fail = failCountdown > 0 && --failCountdown == 0;
  if (!fail && failRate != 0) {
    failSeed ^= failSeed << 13;
    failSeed ^= failSeed >> 7;
    failSeed ^= failSeed << 17;
    fail = <f64>(failSeed >> 11) * (1.0 / 9007199254740992.0) < failRate;
  }
  if (fail) injectedFailures++;
  updateSlowReserve();
  return fail;
}

/** Bytes of linear memory the pools have taken. */
export function poolBytes(): usize {
  return grownBytes;
}

let heapClaimed = false;

/** `pages` fresh 64 KiB pages of linear memory, or 0. */
export function growPages(pages: i32): usize {
  // The runtime's allocator takes all memory present when it starts: start it
  // first so it never mistakes pool pages for its own.
  if (!heapClaimed) {
    heap.free(heap.alloc(16));
    heapClaimed = true;
  }
  let before = memory.size() + pages > growLimit() ? -1 : memory.grow(pages);
  if (before < 0) {
    growFailures++;
    return 0;
  }
  grownBytes += <usize>pages * WASM_PAGE;
  return <usize>before * WASM_PAGE;
}

// V8 compiles memory.fill and memory.copy into calls out to the runtime;
// records are small enough for plain (v128) stores to be much cheaper.

/** Zeroes the `n` bytes (a multiple of 4) at p. */
@inline export function zeroBytes(p: usize, n: usize): void {
  if (n > 512) {
    memory.fill(p, 0, n);
    return;
  }
  let o: usize = 0;
  for (; o + 16 <= n; o += 16) v128.store(p + o, i64x2.splat(0));
  for (; o < n; o += 4) store<u32>(p + o, 0);
}

/** Copies `n` bytes (a multiple of 4) from src to dst; the two do not overlap. */
@inline export function copyBytes(dst: usize, src: usize, n: usize): void {
  let o: usize = 0;
  for (; o + 16 <= n; o += 16) v128.store(dst + o, v128.load(src + o));
  for (; o < n; o += 4) store<u32>(dst + o, load<u32>(src + o));
}

/**
 * A pool of records of one size. Handles are byte offsets; 0 is never one.
 * Unmanaged: pools live for the whole run, and code holding one then needs
 * no shadow-stack bookkeeping for the collector.
 */
@unmanaged
export class Pool {
  freeHead: usize = 0;
  /** Records that can be taken without growing: the free list's and the bump tail's. */
  avail: u32 = 0;
  live: u32 = 0;
  /** The most records live at once. */
  peak: u32 = 0;
  // The unused tail of the newest chunk: where it starts, how many records it holds.
  bumpNext: usize = 0;
  bumpLeft: u32 = 0;
  /** Allocations the current op's reservations promised and it has not made (strict accounting). */
  promised: u32 = 0;

  constructor(public recordSize: usize) {
    assert(poolCount < MAX_POOLS);
    store<u32>(POOLS + (<usize>poolCount << 2), <u32>changetype<usize>(this));
    poolCount++;
  }

  /** Makes sure `n` allocations will succeed. */
  @inline reserve(n: u32): bool {
    if (<u64>this.avail >= <u64>n + slowBias) return true;
    return this.reserveSlow(n);
  }

  private reserveSlow(n: u32): bool {
    if (strict) {
      if (!inReservedOp) this.promised = max(this.promised, n);
      else if (n > this.promised) overdraws++;
    }
    if (injectedFailure()) return false;
    if (this.avail >= n) return true;
    let perChunk = <u32>(WASM_PAGE / this.recordSize);
    // Refuse what memory could never hold before growing any of it.
    let missing = n - this.avail;
    if (<u64>memory.size() + (<u64>missing + perChunk - 1) / perChunk > <u64>growLimit()) {
      growFailures++;
      return false;
    }
    while (this.avail < n) {
      // Spill the old chunk's tail onto the free list, then start a new chunk.
      for (; this.bumpLeft > 0; this.bumpLeft--) {
        this.pushFree(this.bumpNext);
        this.bumpNext += this.recordSize;
      }
      let chunk = growPages(1);
      if (chunk == 0) return false;
      this.bumpNext = chunk;
      this.bumpLeft = perChunk;
      this.avail += perChunk;
    }
    return true;
  }

  /** Takes a record; call only after a successful reserve(). Contents are zero. */
  @inline alloc(): usize {
    let p = this.allocUnzeroed();
    zeroBytes(p, this.recordSize);
    return p;
  }

  /** alloc() for a caller that writes the whole record: contents are left as they were. */
  @inline allocUnzeroed(): usize {
    let p: usize;
    if (this.freeHead != 0) {
      p = this.freeHead;
      this.freeHead = load<u32>(p);
    } else {
      assert(this.bumpLeft > 0, "pool: alloc without reserve");
      p = this.bumpNext;
      this.bumpNext += this.recordSize;
      this.bumpLeft--;
    }
    this.avail--;
    if (strict) {
      if (this.promised == 0) overdraws++;
      else this.promised--;
    }
    if (++this.live > this.peak) this.peak = this.live;
    return p;
  }

  @inline free(p: usize): void {
    this.pushFree(p);
    this.avail++;
    this.live--;
  }

  @inline private pushFree(p: usize): void {
    store<u32>(p, <u32>this.freeHead);
    this.freeHead = p;
  }
}
