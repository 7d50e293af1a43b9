// Small statistics shared by the benchmarks.

/** The median of a few numbers (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
