// The reference model for the range map's differential tests: a sorted array
// searched linearly, too simple to be wrong.

import type { RangeEntry } from "../../src/rangemap.js";

export class RefMap {
  ranges: RangeEntry[] = [];

  /** True if inserted, false if it overlaps. */
  insert(start: number, end: number, value: number): boolean {
    if (this.ranges.some((r) => r.start < end && start < r.end)) return false;
    this.ranges.push({ start, end, value });
    this.ranges.sort((x, y) => x.start - y.start);
    return true;
  }

  erase(start: number, end: number): void {
    const out: RangeEntry[] = [];
    for (const r of this.ranges) {
      if (r.end <= start || r.start >= end) out.push(r);
      else {
        if (r.start < start) out.push({ start: r.start, end: start, value: r.value });
        if (r.end > end) out.push({ start: end, end: r.end, value: r.value });
      }
    }
    this.ranges = out;
  }

  at(addr: number): RangeEntry | null {
    return this.ranges.find((r) => r.start <= addr && addr < r.end) ?? null;
  }
  nextFrom(addr: number): RangeEntry | null {
    return this.ranges.find((r) => r.end > addr) ?? null;
  }
  next(addr: number): RangeEntry | null {
    return this.ranges.find((r) => r.start > addr) ?? null;
  }
  prev(addr: number): RangeEntry | null {
    return this.ranges.findLast((r) => r.end <= addr) ?? null;
  }
  entries(lo: number, hi: number): RangeEntry[] {
    return this.ranges.filter((r) => r.end > lo && r.start < hi);
  }

  /** Every gap, including before the first and after the last range, up to `top`. */
  private gaps(top: number): [number, number][] {
    const out: [number, number][] = [];
    let prevEnd = 0;
    for (const r of this.ranges) {
      if (r.start > prevEnd) out.push([prevEnd, r.start]);
      prevEnd = r.end;
    }
    if (top > prevEnd) out.push([prevEnd, top]);
    return out;
  }

  gap(size: number, lo: number, hi: number, align: number, topdown: boolean, top: number): number {
    const fits: number[] = [];
    for (const [gs, ge] of this.gaps(top)) {
      const a = Math.max(gs, lo);
      const b = Math.min(ge, hi);
      if (b - a < size) continue;
      if (topdown) {
        const x = Math.floor((b - size) / align) * align;
        if (x >= a) fits.push(x);
      } else {
        const x = Math.ceil(a / align) * align;
        if (x + size <= b) fits.push(x);
      }
    }
    if (fits.length === 0) return -1;
    return topdown ? fits[fits.length - 1] : fits[0];
  }
}
