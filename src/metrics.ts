// The numbers that describe a system's state: VMAs, the anon_vma
// hierarchy and its lock sharing, folios, what rmap walks cost, memory.

import { type AnonVmaNode, anonVmaNodes } from "./anon-vma.js";
import type { System } from "./system.js";

export interface Spread {
  mean: number;
  p99: number;
  max: number;
}

/** Merges by kind; partial and full count existing-range merges again by what they took of the middle. */
export interface MergeCounts {
  newLeft: number;
  newRight: number;
  newBoth: number;
  existingLeft: number;
  existingRight: number;
  existingBoth: number;
  partial: number;
  full: number;
  /** mremap growing a VMA in place. */
  expand: number;
}

/** Refused merges by reason: each adjacent neighbour that did not merge counts once. */
export interface RefusalCounts {
  flags: number;
  file: number;
  pgoff: number;
  /** anon_vma: the anon_vma that would survive is a fork child's (the target's / the source's). */
  anonForkedTarget: number;
  anonForkedSource: number;
  /** anon_vma: both faulted, different anon_vmas. */
  anonDifferent: number;
  /** anon_vma: prev and next could each merge, but their anon_vmas differ. */
  anonPrevNext: number;
  closeHook: number;
  special: number;
  /** A split the op needed passed vm.max_map_count. */
  maxMapCount: number;
  /** The no-merge policy. */
  policy: number;
}

/** Merge kinds in the order of the core's MERGE_* codes. */
export const MERGE_KINDS: (keyof MergeCounts)[] = [
  "newLeft", "newRight", "newBoth", "existingLeft", "existingRight", "existingBoth", "partial", "full", "expand",
];
/** Refusal reasons in the order of the core's REFUSE_* codes. */
export const REFUSALS: (keyof RefusalCounts)[] = [
  "flags", "file", "pgoff", "anonForkedTarget", "anonForkedSource", "anonDifferent", "anonPrevNext", "closeHook",
  "special", "maxMapCount", "policy",
];
/** The kinds that count each merge once (partial and full count existing-range merges again). */
export const MERGES_DONE: (keyof MergeCounts)[] = ["newLeft", "newRight", "newBoth", "existingLeft", "existingRight", "existingBoth", "expand"];
/** The refusals whose reason is the anon_vma. */
export const ANON_REFUSALS: (keyof RefusalCounts)[] = ["anonForkedTarget", "anonForkedSource", "anonDifferent", "anonPrevNext"];

export interface Metrics {
  policy: string;
  forkReuse: boolean;
  zeroPage: boolean;
  processes: number;
  merges: MergeCounts;
  refusals: RefusalCounts;
  splits: number;
  /** What the policy's merges cost: folios whose mapping or index moved (matena-2022), links added to chains (chain-union-2010). */
  policyCost: { foliosMoved: number; chainLinksAdded: number };
  vmas: {
    total: number;
    /** The most VMAs alive at once, over all processes, since the start. */
    peak: number;
    /** VMAs with an anon_vma. */
    faulted: number;
    /** By process id. */
    perProcess: Record<number, number>;
  };
  anonVmas: number;
  /** anon_vmas that are roots of a hierarchy (each has its own lock). */
  roots: number;
  avcs: number;
  /** The most anon_vmas and anon_vma_chain links alive at once since the start. */
  peak: { anonVmas: number; avcs: number };
  /** anon_vma_chain length over faulted VMAs. */
  chainLength: Spread;
  /** Parent steps from an anon_vma to its root. */
  hierarchyDepth: Spread;
  /** Per root anon_vma: folios and VMAs under it, sharing its lock. */
  perRoot: { folios: Spread; vmas: Spread };
  folios: number;
  /** Over every rmap walk asked for so far. */
  rmap: { walks: number; avcsPerWalk: number; vmasPerWalk: number };
  memory: {
    /** All of the core's linear memory. */
    bytes: number;
    pageTableBytes: number;
    /** Linear memory divided by live VMAs. */
    bytesPerVma: number;
  };
}

/** What shares a root anon_vma's lock, and what reclaim's rmap walks cost, at one moment of a run. */
export interface LockSharing {
  /** The op after which it was taken (-1: at the end), and the anon_vmas alive then. */
  op: number;
  anonVmas: number;
  /** Per root anon_vma: VMAs and folios under it, sharing its lock. */
  perRoot: { folios: Spread; vmas: Spread };
  /** rmap_walk_anon() of the first anonymous folio of every faulted VMA: walks, and AVCs and VMAs visited per walk. */
  rmap: { walks: number; avcsPerWalk: number; vmasPerWalk: number };
}

/** VMAs and folios under each root anon_vma of `nodes` (the live anon_vmas). */
function perRoot(nodes: AnonVmaNode[]): LockSharing["perRoot"] {
  const roots = new Map<number, { folios: number; vmas: number }>();
  for (const a of nodes) {
    const r = roots.get(a.root) ?? { folios: 0, vmas: 0 };
    r.folios += a.folios;
    r.vmas += a.activeVmas;
    roots.set(a.root, r);
  }
  return { folios: spread([...roots.values()].map((r) => r.folios)), vmas: spread([...roots.values()].map((r) => r.vmas)) };
}

/** Lock sharing and rmap cost now, after op `op` (see LockSharing). */
export function lockSharing(sys: System, op: number): LockSharing {
  const nodes = anonVmaNodes(sys);
  const { ex, scratch } = sys.core;
  let walks = 0;
  let avcs = 0;
  let vmas = 0;
  for (const p of sys.processes()) {
    ex.mm_rmap_survey(p.mm, scratch);
    const f = new Float64Array(sys.core.buffer, scratch, 3);
    walks += f[0];
    avcs += f[1];
    vmas += f[2];
  }
  return {
    op,
    anonVmas: nodes.length,
    perRoot: perRoot(nodes),
    rmap: { walks, avcsPerWalk: walks ? avcs / walks : 0, vmasPerWalk: walks ? vmas / walks : 0 },
  };
}

/** Mean, 99th percentile (nearest rank) and maximum; zeros for no values. */
export function spread(values: number[]): Spread {
  if (values.length === 0) return { mean: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const sum = sorted.reduce((s, x) => s + x, 0);
  return {
    mean: sum / sorted.length,
    p99: sorted[Math.ceil(0.99 * sorted.length) - 1],
    max: sorted[sorted.length - 1],
  };
}

export function metrics(sys: System): Metrics {
  const ex = sys.core.ex;
  const perProcess: Record<number, number> = {};
  const chains: number[] = [];
  let total = 0;
  for (const p of sys.processes()) {
    const vmas = p.vmas();
    perProcess[p.id] = vmas.length;
    total += vmas.length;
    for (const v of vmas) if (v.anonVma !== 0) chains.push(v.chainLength);
  }
  const nodes = anonVmaNodes(sys);
  const walks = ex.rmap_cost(2);
  const bytes = ex.memory.buffer.byteLength;
  const merges = Object.fromEntries(MERGE_KINDS.map((k, i) => [k, ex.sys_stat(i)])) as unknown as MergeCounts;
  const refusals = Object.fromEntries(REFUSALS.map((k, i) => [k, ex.sys_stat(100 + i)])) as unknown as RefusalCounts;
  return {
    policy: sys.policy,
    forkReuse: sys.forkReuse,
    zeroPage: sys.zeroPage,
    processes: sys.processes().length,
    merges,
    refusals,
    splits: ex.sys_stat(200),
    policyCost: { foliosMoved: ex.sys_stat(201), chainLinksAdded: ex.sys_stat(202) },
    vmas: { total, peak: ex.sys_peak_vmas(), faulted: chains.length, perProcess },
    anonVmas: nodes.length,
    roots: new Set(nodes.map((a) => a.root)).size,
    avcs: ex.stat_live(1),
    peak: { anonVmas: ex.sys_peak_anon(0), avcs: ex.sys_peak_anon(1) },
    chainLength: spread(chains),
    hierarchyDepth: spread(nodes.map((a) => a.depth)),
    perRoot: perRoot(nodes),
    folios: ex.stat_live(3),
    rmap: {
      walks,
      avcsPerWalk: walks === 0 ? 0 : ex.rmap_cost(3) / walks,
      vmasPerWalk: walks === 0 ? 0 : ex.rmap_cost(4) / walks,
    },
    memory: { bytes, pageTableBytes: ex.mem_page_table_bytes(), bytesPerVma: total === 0 ? 0 : bytes / total },
  };
}
