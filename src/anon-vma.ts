// Reading the anon_vma hierarchy out of the core: the graph reports draw, and
// the anon_vma_chain walk a lock takes. Not hot paths: they copy records out.

import type { System } from "./system.js";
import { fail } from "./wasm.js";

/** One live anon_vma. */
export interface AnonVmaNode {
  id: number;
  /** Parent's id (its own id for a root). */
  parent: number;
  root: number;
  /** anon_vmas whose parent this is. */
  children: number;
  /** num_active_vmas: VMAs whose anon_vma this is. */
  activeVmas: number;
  refcount: number;
  /** Folios whose mapping is this anon_vma. */
  folios: number;
  /** AVCs in its interval tree: VMAs that link to it. */
  avcs: number;
  /** Parent steps up to the root. */
  depth: number;
}

/** A faulted VMA: the process, its range and its own anon_vma. */
export interface VmaNode {
  proc: number;
  start: number;
  end: number;
  anonVma: number;
}

/** The anon_vma / AVC graph: nodes are anon_vmas and faulted VMAs; edges AVCs (VMA to anon_vma) and parents. */
export interface AnonVmaGraph {
  anonVmas: AnonVmaNode[];
  vmas: VmaNode[];
  /** One per anon_vma_chain link: VMA (by process and start) to anon_vma, newest link first. */
  avcs: { proc: number; start: number; anonVma: number }[];
  /** child -> parent, for every anon_vma that is not a root. */
  parents: { child: number; parent: number }[];
}

/** What locking one VMA's anon_vma hierarchy involves. */
export interface LockChain {
  /** Links on vma->anon_vma_chain: what anon_vma_clone / unlink_anon_vmas walk. */
  chainLength: number;
  /** Distinct root anon_vmas the chain reaches (1 under the kernel's rules). */
  distinctRoots: number;
  /** Id of the root whose lock is taken (0 for an unfaulted VMA). */
  lockedRoot: number;
  /** Folios and VMAs under that root: what shares the lock. */
  rootFolios: number;
  rootVmas: number;
}

const ANON_VMA_F64S = 9;

/** Every live anon_vma, in no particular order. */
export function anonVmaNodes(sys: System): AnonVmaNode[] {
  const { ex, scratch, scratchBytes } = sys.core;
  const max = Math.floor(scratchBytes / (ANON_VMA_F64S * 8));
  const out: AnonVmaNode[] = [];
  for (let restart = 1; ; restart = 0) {
    const n = ex.sys_anon_vmas(restart, scratch, max);
    const f = new Float64Array(sys.core.buffer, scratch, n * ANON_VMA_F64S);
    for (let i = 0; i < f.length; i += ANON_VMA_F64S) {
      const [id, parent, root, children, activeVmas, refcount, folios, avcs, depth] = f.subarray(i, i + ANON_VMA_F64S);
      out.push({ id, parent, root, children, activeVmas, refcount, folios, avcs, depth });
    }
    if (n < max) return out;
  }
}

/** The ids on the anon_vma_chain of the VMA of process `proc` containing `page`, newest first. */
export function vmaChain(sys: System, proc: number, page: number): number[] {
  const { ex, scratch, scratchBytes } = sys.core;
  const mm = sys.process(proc).mm;
  const max = Math.floor(scratchBytes / 8);
  const n = ex.mm_vma_chain(mm, page, scratch, max);
  return n < 0 ? [] : Array.from(new Float64Array(sys.core.buffer, scratch, Math.min(n, max)));
}

export function anonVmaGraph(sys: System): AnonVmaGraph {
  const anonVmas = anonVmaNodes(sys).sort((a, b) => a.id - b.id);
  const vmas: VmaNode[] = [];
  const avcs: AnonVmaGraph["avcs"] = [];
  for (const p of sys.processes()) {
    for (const v of p.vmas()) {
      if (v.anonVma === 0) continue;
      vmas.push({ proc: p.id, start: v.start, end: v.end, anonVma: v.anonVma });
      for (const id of vmaChain(sys, p.id, v.start)) avcs.push({ proc: p.id, start: v.start, anonVma: id });
    }
  }
  const parents = anonVmas.filter((a) => a.parent !== a.id).map((a) => ({ child: a.id, parent: a.parent }));
  return { anonVmas, vmas, avcs, parents };
}

export function lockChain(sys: System, proc: number, page: number): LockChain {
  const ex = sys.core.ex;
  const chainLength = ex.mm_lock_chain(sys.process(proc).mm, page);
  if (chainLength < 0) fail(chainLength, `no VMA at page ${page} of process ${proc}`);
  const distinctRoots = ex.lock_chain_roots();
  const lockedRoot = ex.lock_chain_root();
  let rootFolios = 0;
  let rootVmas = 0;
  if (lockedRoot !== 0) {
    for (const a of anonVmaNodes(sys)) {
      if (a.root !== lockedRoot) continue;
      rootFolios += a.folios;
      rootVmas += a.activeVmas;
    }
  }
  return { chainLength, distinctRoots, lockedRoot, rootFolios, rootVmas };
}
