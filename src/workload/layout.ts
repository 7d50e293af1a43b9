// A synthetic address-space layout for the range map: ranges of 1..512 pages
// separated by gaps of 0..64 pages, a quarter of the gaps zero (adjacent,
// unmerged VMAs), placed bottom-up from page `base`.

import { Random } from "../random.js";

export interface Layout {
  starts: Float64Array;
  ends: Float64Array;
}

export function rangeLayout(n: number, seed: number, base = 0x10000): Layout {
  const rnd = new Random(seed);
  const starts = new Float64Array(n);
  const ends = new Float64Array(n);
  let at = base;
  for (let i = 0; i < n; i++) {
    at += rnd.chance(0.25) ? 0 : rnd.range(1, 64);
    starts[i] = at;
    at += rnd.range(1, 512);
    ends[i] = at;
  }
  return { starts, ends };
}

/** Query pages: half inside ranges, half in gaps (or past the end when a range has no gap before it). */
export function layoutQueries(layout: Layout, count: number, seed: number): Float64Array {
  const rnd = new Random(seed);
  const { starts, ends } = layout;
  const q = new Float64Array(count);
  for (let k = 0; k < count; k++) {
    const i = rnd.int(starts.length);
    if (k & 1) {
      const gapStart = i === 0 ? 0 : ends[i - 1];
      const gap = starts[i] - gapStart;
      q[k] = gap > 0 ? gapStart + rnd.int(gap) : ends[ends.length - 1] + rnd.int(1 << 20);
    } else {
      q[k] = starts[i] + rnd.int(ends[i] - starts[i]);
    }
  }
  return q;
}
