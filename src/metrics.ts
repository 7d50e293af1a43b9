// The design.md §7 numbers that describe a system's state: VMAs, the anon_vma
// hierarchy and its lock sharing, folios, what rmap walks cost, memory.

import { anonVmaNodes } from "./anon-vma.js";
import type { System } from "./system.js";

export interface Spread {
  mean: number;
  p99: number;
  max: number;
}

export interface Metrics {
  processes: number;
  vmas: {
    total: number;
    /** VMAs with an anon_vma. */
    faulted: number;
    /** By process id. */
    perProcess: Record<number, number>;
  };
  anonVmas: number;
  /** anon_vmas that are roots of a hierarchy (each has its own lock). */
  roots: number;
  avcs: number;
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
  const perRoot = new Map<number, { folios: number; vmas: number }>();
  for (const a of nodes) {
    const r = perRoot.get(a.root) ?? { folios: 0, vmas: 0 };
    r.folios += a.folios;
    r.vmas += a.activeVmas;
    perRoot.set(a.root, r);
  }
  const walks = ex.rmap_cost(2);
  const bytes = ex.memory.buffer.byteLength;
  return {
    processes: sys.processes().length,
    vmas: { total, faulted: chains.length, perProcess },
    anonVmas: nodes.length,
    roots: perRoot.size,
    avcs: ex.stat_live(1),
    chainLength: spread(chains),
    hierarchyDepth: spread(nodes.map((a) => a.depth)),
    perRoot: {
      folios: spread([...perRoot.values()].map((r) => r.folios)),
      vmas: spread([...perRoot.values()].map((r) => r.vmas)),
    },
    folios: ex.stat_live(3),
    rmap: {
      walks,
      avcsPerWalk: walks === 0 ? 0 : ex.rmap_cost(3) / walks,
      vmasPerWalk: walks === 0 ? 0 : ex.rmap_cost(4) / walks,
    },
    memory: { bytes, pageTableBytes: ex.mem_page_table_bytes(), bytesPerVma: total === 0 ? 0 : bytes / total },
  };
}
