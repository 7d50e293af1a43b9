// RangeMap: the core's maple-style range tree as a standalone interval map.

import { checkPage, Core, fail, MAX_PAGE, sharedCore, VmalabError } from "./wasm.js";

/** One stored range [start, end) and its value. */
export interface RangeEntry {
  start: number;
  end: number;
  value: number;
}

/** Options of a gap search (unmapped_area / unmapped_area_topdown). */
export interface GapOptions {
  /** Lowest page the gap may use (default 0). */
  lo?: number;
  /** One past the highest page the gap may use (default MAX_PAGE). */
  hi?: number;
  /** The start is a multiple of this many pages (default 1). */
  align?: number;
  /** The highest fit instead of the lowest (default false). */
  topdown?: boolean;
}

const MAX_VALUE = 0x7fffffff;
const VALIDATOR_ERRORS: Record<number, string> = {
  1: "ranges out of order or overlapping",
  2: "a node is empty or overfull",
  3: "a gap annotation or child bound is stale",
  4: "the range count is wrong",
  5: "the tree is too deep",
};

/**
 * A map of non-overlapping half-open page ranges [start, end) to values
 * (integers in [0, 2^31)), stored in wasm linear memory as a B-tree with
 * maple-tree-style gap annotations. All operations are O(log n).
 *
 * Page numbers are integers in [0, MAX_PAGE] (2^53).
 */
export class RangeMap {
  private handle: number;

  private constructor(
    private readonly core: Core,
    handle: number,
  ) {
    this.handle = handle;
  }

  /** A new empty map. */
  static async create(core?: Core): Promise<RangeMap> {
    return RangeMap.createSync(core);
  }

  /** A new empty map, synchronously (the module is compiled on first use). */
  static createSync(core: Core = sharedCore()): RangeMap {
    const h = core.ex.rangemap_create();
    if (h === 0) throw new VmalabError("ENOMEM", "no memory for a new range map");
    return new RangeMap(core, h);
  }

  private get h(): number {
    if (this.handle === 0) throw new VmalabError("EINVAL", "range map used after free()");
    return this.handle;
  }

  /** Number of ranges stored. */
  get size(): number {
    return this.core.ex.rangemap_size(this.h);
  }

  /** Stores [start, end) -> value. Throws EEXIST (and changes nothing) if it overlaps a range. */
  insert(start: number, end: number, value: number): void {
    checkPage(start, "start");
    checkPage(end, "end");
    if (!Number.isInteger(value) || value < 0 || value > MAX_VALUE) {
      throw new VmalabError("EINVAL", `value must be an integer in [0, 2^31), got ${value}`);
    }
    if (start >= end) throw new VmalabError("EINVAL", `empty range [${start}, ${end})`);
    const rc = this.core.ex.rangemap_insert(this.h, start, end, value);
    if (rc !== 0) fail(rc, rc === -17 ? `[${start}, ${end}) overlaps a stored range` : `insert [${start}, ${end})`);
  }

  /**
   * Removes [start, end): ranges inside it go, ranges across its edges are
   * cut, a range covering it is split in two keeping its value.
   */
  erase(start: number, end: number): void {
    checkPage(start, "start");
    checkPage(end, "end");
    if (start >= end) throw new VmalabError("EINVAL", `empty range [${start}, ${end})`);
    const rc = this.core.ex.rangemap_erase(this.h, start, end);
    if (rc !== 0) fail(rc, `erase [${start}, ${end})`);
  }

  /** Sets the value of the range containing addr; throws ENOENT if addr is in a gap. */
  update(addr: number, value: number): void {
    checkPage(addr, "addr");
    if (!Number.isInteger(value) || value < 0 || value > MAX_VALUE) {
      throw new VmalabError("EINVAL", `value must be an integer in [0, 2^31), got ${value}`);
    }
    const rc = this.core.ex.rangemap_update(this.h, addr, value);
    if (rc !== 0) fail(rc, `no range contains page ${addr}`);
  }

  /** vma_lookup: the value of the range containing addr, or -1. */
  find(addr: number): number {
    checkPage(addr, "addr");
    return this.core.ex.rangemap_find(this.h, addr);
  }

  /** find_vma: the value of the first range ending above addr, or -1. */
  findNext(addr: number): number {
    checkPage(addr, "addr");
    return this.core.ex.rangemap_find_next(this.h, addr);
  }

  /** The range containing addr, or null. */
  at(addr: number): RangeEntry | null {
    checkPage(addr, "addr");
    return this.found(this.core.ex.rangemap_lookup(this.h, addr));
  }

  /** The first range ending above addr (find_vma), or null. */
  nextFrom(addr: number): RangeEntry | null {
    checkPage(addr, "addr");
    return this.found(this.core.ex.rangemap_find_next(this.h, addr));
  }

  /** The range after the range or gap at addr (first start > addr), or null. */
  next(addr: number): RangeEntry | null {
    checkPage(addr, "addr");
    return this.found(this.core.ex.rangemap_next(this.h, addr));
  }

  /** The range before the range or gap at addr (last end <= addr), or null. */
  prev(addr: number): RangeEntry | null {
    checkPage(addr, "addr");
    return this.found(this.core.ex.rangemap_prev(this.h, addr));
  }

  private found(value: number): RangeEntry | null {
    if (value < 0) return null;
    const ex = this.core.ex;
    return { start: ex.rangemap_found_start(), end: ex.rangemap_found_end(), value };
  }

  /** The ranges intersecting [lo, hi), in order. */
  entries(lo = 0, hi = MAX_PAGE): RangeEntry[] {
    checkPage(lo, "lo");
    checkPage(hi, "hi");
    const { ex, scratch, scratchBytes } = this.core;
    const max = Math.floor(scratchBytes / 24);
    const out: RangeEntry[] = [];
    for (;;) {
      const n = ex.rangemap_collect(this.h, lo, hi, scratch, max);
      const f = new Float64Array(this.core.buffer, scratch, n * 3);
      for (let i = 0; i < n * 3; i += 3) out.push({ start: f[i], end: f[i + 1], value: f[i + 2] });
      if (n < max) return out;
      lo = f[n * 3 - 2];
    }
  }

  /** vma_lookup for many pages at once: the value of the range containing each, or -1. */
  findMany(addrs: Float64Array | ArrayLike<number>): Int32Array {
    if (addrs === null || typeof addrs !== "object" || typeof addrs.length !== "number") {
      throw new VmalabError("EINVAL", `findMany takes an array of page numbers (a Float64Array is fastest), got ${String(addrs)}`);
    }
    const pages = addrs instanceof Float64Array ? addrs : Float64Array.from(addrs);
    const { ex, scratch, scratchBytes } = this.core;
    const h = this.h;
    const out = new Int32Array(pages.length);
    const batch = Math.floor(scratchBytes / 12);
    for (let k = 0; k < pages.length; k += batch) {
      const n = Math.min(batch, pages.length - k);
      const part = pages.subarray(k, k + n);
      for (let i = 0; i < n; i++) checkPage(part[i], "addr");
      new Float64Array(this.core.buffer, scratch, n).set(part);
      ex.rangemap_find_many(h, scratch, scratch + n * 8, n);
      // The call may grow memory (detaching old views): take a fresh one.
      out.set(new Int32Array(this.core.buffer, scratch + n * 8, n), k);
    }
    return out;
  }

  /**
   * The start of the lowest (or, with topdown, highest) free run of `size`
   * pages inside [lo, hi), aligned to `align` pages; -1 if there is none.
   * Gaps include the space before the first and after the last range.
   */
  gap(size: number, opts: GapOptions = {}): number {
    const { lo = 0, hi = MAX_PAGE, align = 1, topdown = false } = opts;
    checkPage(size, "size");
    checkPage(lo, "lo");
    checkPage(hi, "hi");
    checkPage(align, "align");
    if (size === 0 || align === 0) throw new VmalabError("EINVAL", "gap size and align must be at least 1");
    return this.core.ex.rangemap_gap(this.h, size, lo, hi, align, topdown ? 1 : 0);
  }

  /** Checks the tree's invariants; throws an Error naming the first broken one. */
  validate(): void {
    const rc = this.core.ex.rangemap_validate(this.h);
    if (rc !== 0) throw new Error(`range map invalid: ${VALIDATOR_ERRORS[rc] ?? rc}`);
  }

  /** Returns the map's nodes to the core's free lists; the map is unusable afterwards. */
  free(): void {
    if (this.handle !== 0) this.core.ex.rangemap_free(this.handle);
    this.handle = 0;
  }
}
