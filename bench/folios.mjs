// Folios, rmap walks and anon_vma lock chains at scale:
// - memory: bytes per resident folio and per mapped page, from the growth of
//   wasm memory (touch N pages, then fork so every page is mapped twice);
// - rmap walks over a fork server (a parent, many children, some COW broken):
//   VMAs visited per second;
// - lock-chain traversal on a deep fork chain whose parents exit, with the
//   anon_vma reuse of commit 7a3ef208e662 off and on.

import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { Bench } from "tinybench";
import { System } from "../dist/index.js";

const BASE = 0x10000;

function memoryPerFolio(n) {
  const sys = System.createSync();
  const ex = sys.core.ex;
  const p = sys.process(0);
  p.mmap(BASE, n, "rw");
  const m0 = ex.memory.buffer.byteLength;
  const t0 = performance.now();
  p.touch(BASE, n, "w");
  const faultSeconds = (performance.now() - t0) / 1000;
  const m1 = ex.memory.buffer.byteLength;
  const child = p.fork(1);
  const m2 = ex.memory.buffer.byteLength;
  // The fork adds a mapping of every page and no folio.
  const perMappedPage = (m2 - m1) / n;
  const perFolio = (m1 - m0) / n - perMappedPage;
  const folios = sys.liveObjects().folios;
  // Copy-on-write: the child writes a tenth of the shared pages.
  const cow = Math.floor(n / 10);
  const t1 = performance.now();
  child.touch(BASE, cow, "w");
  const cowSeconds = (performance.now() - t1) / 1000;
  // Rates per fault: the kernel writes at most 2.5 x 10^5 pages (1 GiB of this machine's memory).
  const kernel = kernelFaults(Math.min(n, 250_000));
  return {
    folios,
    bytesPerFolio: perFolio,
    bytesPerMappedPage: perMappedPage,
    faultsPerSecond: n / faultSeconds,
    cowFaultsPerSecond: cow / cowSeconds,
    kernelFaultsPerSecond: kernel.faults,
    kernelCowFaultsPerSecond: kernel.cow,
  };
}

/** Write and COW faults per second in the real kernel (bench/kernel-faults.c) over n pages. */
function kernelFaults(n) {
  const dir = new URL("./results/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const bin = `${dir}kernel-faults`;
  const cc = spawnSync(process.env.CC ?? "cc", ["-O2", "-o", bin, new URL("./kernel-faults.c", import.meta.url).pathname], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`compiling bench/kernel-faults.c failed: ${cc.stderr ?? cc.error}`);
  const r = spawnSync(bin, [String(n)], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`kernel-faults failed (exit ${r.status})`);
  return JSON.parse(r.stdout);
}

/** A parent with `pages` written pages and `children` children; child k writes every 10th page from k % 10. */
function forkServer(pages, children) {
  const sys = System.createSync({ maxMapCount: 1 << 30 });
  const parent = sys.process(0);
  parent.mmap(BASE, pages, "rw");
  parent.touch(BASE, pages, "w");
  for (let k = 1; k <= children; k++) {
    const c = parent.fork(k);
    for (let i = k % 10; i < pages; i += 10) c.touch(BASE + i, 1, "w");
  }
  return sys;
}

async function rmapWalks({ pages, children, time }) {
  const sys = forkServer(pages, children);
  const ex = sys.core.ex;
  const { scratch, scratchBytes } = sys.core;
  const parent = sys.process(0).mm;
  const child = sys.process(1).mm;
  const max = Math.floor(scratchBytes / 16);
  let vmas = 0;
  let walks = 0;
  let mappings = 0;
  // Each task walks every folio of a kind once per iteration; the count of VMAs visited is the walk's own.
  const walkAll = (mm, out) => () => {
    for (let i = 0; i < pages; i++) {
      mappings += ex.mm_rmap(mm, BASE + i, scratch, out, 0);
      vmas += ex.rmap_cost(1);
      walks++;
    }
  };
  const bench = new Bench({ name: "rmap walks", time, warmupTime: Math.min(time, 200) });
  const tasks = [
    ["parent's folios (shared with the children that kept them)", walkAll(parent, 0)],
    ["parent's folios, mappings copied out", walkAll(parent, max)],
    ["child 1's pages (its COW copies and the parent's folios)", walkAll(child, 0)],
  ];
  const rows = [];
  for (const [name, fn] of tasks) {
    vmas = walks = mappings = 0;
    fn(); // one pass to count what a pass visits
    const perPass = { vmas, walks, mappings };
    bench.add(name, fn);
    rows.push({ name, ...perPass });
  }
  bench.addEventListener("cycle", (e) => process.stderr.write(`  ${bench.name}: ${e.task.name}\n`));
  await bench.run();
  sys.checkInvariants();
  return {
    pages,
    children,
    folios: sys.liveObjects().folios,
    rows: rows.map((r, i) => {
      const seconds = bench.tasks[i].result.latency.p50 / 1000;
      return { ...r, msPerPass: seconds * 1000, vmasPerSecond: r.vmas / seconds, nsPerWalk: (seconds / r.walks) * 1e9 };
    }),
  };
}

/** A fork chain of `depth` generations: each child faults its page, its parent exits (7a3ef208e662's case). */
async function lockChains({ depth, time }) {
  const out = [];
  for (const forkReuse of [false, true]) {
    const sys = System.createSync({ forkReuse });
    let p = sys.process(0);
    p.mmap(BASE, 16, "rw");
    p.touch(BASE, 16, "w");
    const t0 = performance.now();
    for (let id = 1; id <= depth; id++) {
      const next = p.fork(id);
      p.exit();
      next.touch(BASE, 1, "w");
      p = next;
    }
    const buildSeconds = (performance.now() - t0) / 1000;
    const ex = sys.core.ex;
    const mm = p.mm;
    const bench = new Bench({ name: "lock chain", time, warmupTime: Math.min(time, 200) });
    bench.add("walk", () => ex.mm_lock_chain(mm, BASE));
    await bench.run();
    const chain = sys.lockChain(depth, BASE);
    const m = sys.metrics();
    sys.checkInvariants();
    out.push({
      forkReuse,
      depth,
      chainLength: chain.chainLength,
      anonVmas: m.anonVmas,
      hierarchyDepth: m.hierarchyDepth.max,
      nsPerChainWalk: bench.tasks[0].result.latency.p50 * 1e6,
      usPerGeneration: (buildSeconds / depth) * 1e6,
    });
  }
  return out;
}

export async function benchFolios({ quick, time }) {
  const memory = memoryPerFolio(quick ? 1_000_000 : 10_000_000);
  const rmap = await rmapWalks({ pages: quick ? 2_000 : 10_000, children: quick ? 200 : 1_000, time });
  const chains = await lockChains({ depth: quick ? 200 : 1_000, time });
  return { memory, rmap, chains };
}
