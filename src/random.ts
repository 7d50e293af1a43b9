// A small seeded PRNG (sfc32 seeded through splitmix32): workloads, fuzzers
// and benchmarks must be reproducible from a seed.

export class Random {
  // The state lives in a typed array: 32-bit values in object fields would be
  // boxed on every step (most do not fit a small integer).
  private readonly s = new Uint32Array(4);

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < 4; i++) this.s[i] = next();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const st = this.s;
    const a = st[0], b = st[1], c = st[2], d = st[3];
    const t = (((a + b) >>> 0) + d) >>> 0;
    st[3] = d + 1;
    st[0] = b ^ (b >>> 9);
    st[1] = c + (c << 3);
    st[2] = (((c << 21) | (c >>> 11)) >>> 0) + t;
    return t;
  }

  /** A uniform float in [0, 1) with 53 random bits. */
  float(): number {
    return ((this.u32() >>> 5) * 67108864 + (this.u32() >>> 6)) / 9007199254740992;
  }

  /** A uniform integer in [0, n), for n up to 2^53. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** A uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}
