// Seeded scenario generator: families of op streams that stress merging, to
// be run through kernel-check. Same family and seed, same scenario.

import { Random } from "../random.js";
import { ADVICE, PROT } from "../vmflags.js";

export const FAMILIES = ["random", "arena", "jit", "fork", "mremap", "file", "madvise", "forkmerge", "splitfault"] as const;
export type Family = (typeof FAMILIES)[number];

const PROTS = Object.keys(PROT);
const ADVICES = Object.keys(ADVICE);
type Kind = "mmap" | "munmap" | "mprotect" | "madvise" | "mremap" | "touch" | "fork" | "proc" | "exit" | "rmap" | "dump";

/** Relative weights of each op kind per family. */
const WEIGHTS: Record<Family, Partial<Record<Kind, number>>> = {
  random: { mmap: 3, munmap: 1, mprotect: 3, madvise: 2, mremap: 1, touch: 3, fork: 1, proc: 1, exit: 0.2, rmap: 1, dump: 0.5 },
  arena: { mprotect: 6, touch: 4, madvise: 2, munmap: 0.5, mmap: 0.5, dump: 0.3 },
  jit: { mprotect: 6, touch: 4, mmap: 0.5, dump: 0.3 },
  fork: { mmap: 2, touch: 3, fork: 2, proc: 2, mprotect: 2, exit: 0.3, rmap: 1, dump: 0.5 },
  mremap: { mremap: 6, mmap: 1, touch: 2, mprotect: 1, fork: 0.3, dump: 0.3 },
  file: { mmap: 5, mprotect: 2, touch: 2, munmap: 1, madvise: 1, fork: 0.3, dump: 0.5 },
  madvise: { madvise: 6, touch: 2, mprotect: 1, fork: 0.3, dump: 0.3 },
  forkmerge: { mmap: 2, touch: 3, fork: 1.5, proc: 1.5, mprotect: 3, rmap: 0.5, dump: 0.3 },
  splitfault: { mprotect: 5, touch: 3, fork: 0.5, proc: 0.5, madvise: 1, dump: 0.3 },
};

/** A scenario of about `length` ops in the given family. */
export function generateScenario(family: Family, seed: number, length = 40): string {
  const rnd = new Random(seed * 977 + FAMILIES.indexOf(family));
  const arena = 320;
  const lines = [`# family: ${family} seed: ${seed}`];
  const procs = [0];
  let current = 0;
  let nextChild = 1;
  // Ranges this scenario mapped, to aim ops at (and around) them.
  const regions: [number, number][] = [];
  const weights = WEIGHTS[family];
  const kinds = Object.keys(weights) as Kind[];
  const total = kinds.reduce((a, k) => a + (weights[k] ?? 0), 0);

  const pickKind = (): Kind => {
    let x = rnd.float() * total;
    for (const k of kinds) {
      x -= weights[k] ?? 0;
      if (x < 0) return k;
    }
    return kinds[0];
  };
  /** A span inside or across a mapped region (sometimes anywhere). */
  const span = (maxLen = 24): [number, number] => {
    if (regions.length === 0 || rnd.chance(0.1)) return [rnd.int(arena - 40), rnd.range(1, maxLen)];
    const [s, n] = rnd.pick(regions);
    const at = s + rnd.int(n);
    const len = rnd.chance(0.3) ? s + n - at : rnd.range(1, Math.min(maxLen, n + 4));
    return [at, len];
  };
  const mmapLine = (start: number, n: number, prot: string): string => {
    let kind = "anon";
    if (family === "file" ? rnd.chance(0.8) : rnd.chance(0.1)) {
      const shared = rnd.chance(0.3) ? "shared-" : "";
      kind = `${shared}file:f${rnd.int(2)}@${rnd.chance(0.5) ? start : rnd.int(64)}`;
    } else if (rnd.chance(0.05)) kind = "shared-anon";
    const flags = [rnd.chance(0.5) ? "noreserve" : "", rnd.chance(0.08) ? "populate" : ""].filter(Boolean);
    regions.push([start, n]);
    return ["mmap", start, n, prot, kind, ...flags].join(" ");
  };

  // Families with a set shape start with it.
  if (family === "arena") lines.push(mmapLine(rnd.range(8, 60), rnd.range(120, 220), "none") + " noreserve");
  if (family === "jit" || family === "splitfault" || family === "madvise" || family === "forkmerge") {
    lines.push(mmapLine(rnd.range(8, 200), rnd.range(16, 90), "rw"));
  }
  if (family === "mremap") lines.push(mmapLine(rnd.range(100, 240), rnd.range(2, 12), "rw"));
  // Everyone else starts from a few mappings, some of them faulted.
  for (let k = regions.length ? 0 : rnd.range(1, 3); k > 0; k--) {
    const start = regions.length && rnd.chance(0.5) ? regions[regions.length - 1][0] + regions[regions.length - 1][1] : rnd.int(arena - 60);
    lines.push(mmapLine(start, rnd.range(4, 40), rnd.pick(["rw", "rw", "r", "rx"])));
    const [s, n] = regions[regions.length - 1];
    if (rnd.chance(0.7)) lines.push(`touch ${s + rnd.int(n)} ${rnd.range(1, 4)} w`);
  }

  for (let i = 0; i < length; i++) {
    const kind = pickKind();
    switch (kind) {
      case "mmap": {
        // Often right next to an existing region: the merge cases.
        let start = rnd.int(arena - 40);
        if (regions.length && rnd.chance(0.6)) {
          const [s, n] = rnd.pick(regions);
          start = rnd.chance(0.5) ? s + n : Math.max(0, s - rnd.range(1, 8));
        }
        lines.push(mmapLine(start, rnd.range(1, 24), rnd.pick(PROTS)));
        break;
      }
      case "munmap": {
        const [s, n] = span();
        lines.push(`munmap ${s} ${n}`);
        break;
      }
      case "mprotect": {
        const [s, n] = span();
        lines.push(`mprotect ${s} ${n} ${rnd.pick(family === "jit" ? ["rw", "rx", "r"] : PROTS)}`);
        break;
      }
      case "madvise": {
        const [s, n] = span();
        lines.push(`madvise ${s} ${n} ${rnd.pick(ADVICES)}`);
        break;
      }
      case "mremap": {
        if (regions.length === 0) break;
        const [s, n] = rnd.pick(regions);
        const newLen = Math.max(1, n + rnd.range(-3, 10));
        if (rnd.chance(0.4)) {
          const to = rnd.int(arena - 40);
          const dontunmap = newLen === n && rnd.chance(0.2) ? " dontunmap" : "";
          lines.push(`mremap ${s} ${n} ${newLen} fixed=${to}${dontunmap}`);
          regions.push([to, newLen]);
        } else {
          lines.push(`mremap ${s} ${n} ${newLen}`);
          regions.push([s, newLen]);
        }
        break;
      }
      case "touch": {
        const [s, n] = span(8);
        lines.push(`touch ${s} ${n} ${rnd.chance(0.7) ? "w" : "r"}`);
        break;
      }
      case "fork":
        if (procs.length >= 5) break;
        lines.push(`fork ${nextChild}`);
        procs.push(nextChild++);
        break;
      case "proc":
        current = rnd.pick(procs);
        lines.push(`proc ${current}`);
        break;
      case "exit":
        if (procs.length < 2) break;
        lines.push("exit");
        procs.splice(procs.indexOf(current), 1);
        current = procs[0];
        lines.push(`proc ${current}`);
        break;
      case "rmap": {
        const [s] = span(1);
        lines.push(`rmap ${s}`);
        break;
      }
      case "dump":
        lines.push("dump");
        break;
    }
  }
  if (family === "splitfault" && regions.length) {
    const [s, n] = regions[0];
    lines.push(`mprotect ${s} ${n} rw`);
  }
  for (const p of procs) lines.push(`proc ${p}`, "dump");
  return lines.join("\n") + "\n";
}
