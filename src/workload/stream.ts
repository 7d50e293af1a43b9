// An op stream without an object per op: fixed 48-byte records (the layout
// of assembly/batch.ts) in a growable buffer, run by the System in batches,
// or written out as scenario text.

import { ADVICE, type Advice, PROT, type Prot } from "../vmflags.js";

const OP_WORDS = 12; // u32 words per record (6 f64)
export const OP = { mmap: 1, munmap: 2, mprotect: 3, madvise: 4, mremap: 5, touch: 6, fork: 7, exit: 8 } as const;
const NAMES = ["", "mmap", "munmap", "mprotect", "madvise", "mremap", "touch", "fork", "exit"];
const PROTS = Object.fromEntries(Object.entries(PROT).map(([k, v]) => [v, k])) as Record<number, Prot>;
const ADVICES = Object.fromEntries(Object.entries(ADVICE).map(([k, v]) => [v, k])) as Record<number, Advice>;

/** mmap flags a stream may carry (MAP_*). */
export const MAP = { SHARED: 0x01, PRIVATE: 0x02, GROWSDOWN: 0x100, NORESERVE: 0x4000, STACK: 0x20000 } as const;
/** mremap flags (MREMAP_*). */
export const MREMAP = { MAYMOVE: 1, FIXED: 2 } as const;

export class OpStream {
  private buf = new ArrayBuffer(48 * 1024);
  private u32 = new Uint32Array(this.buf);
  private f64 = new Float64Array(this.buf);
  length = 0;

  /** The records as bytes (48 per op), for the core. */
  bytes(): Uint8Array {
    return new Uint8Array(this.buf, 0, this.length * 48);
  }

  clear(): void {
    this.length = 0;
  }

  /** A stream with the same records (generators reuse theirs between batches). */
  clone(): OpStream {
    const c = new OpStream();
    c.buf = this.buf.slice(0, Math.max(48, this.length * 48));
    c.u32 = new Uint32Array(c.buf);
    c.f64 = new Float64Array(c.buf);
    c.length = this.length;
    return c;
  }

  private push(op: number, proc: number, arg: number, flags: number, start: number, pages: number, x = 0, y = 0): void {
    if ((this.length + 1) * 48 > this.buf.byteLength) {
      const bigger = new ArrayBuffer(this.buf.byteLength * 2);
      new Uint8Array(bigger).set(new Uint8Array(this.buf));
      this.buf = bigger;
      this.u32 = new Uint32Array(bigger);
      this.f64 = new Float64Array(bigger);
    }
    const w = this.length * OP_WORDS;
    const d = this.length * 6;
    this.u32[w] = op;
    this.u32[w + 1] = proc;
    this.u32[w + 2] = arg;
    this.u32[w + 3] = flags;
    this.f64[d + 2] = start;
    this.f64[d + 3] = pages;
    this.f64[d + 4] = x;
    this.f64[d + 5] = y;
    this.length++;
  }

  /** Private anonymous memory at a fixed place (flags: MAP_NORESERVE, MAP_STACK... ). */
  mmapAnon(proc: number, start: number, pages: number, prot: Prot, flags = 0): void {
    this.push(OP.mmap, proc, PROT[prot], MAP.PRIVATE | flags, start, pages, 0, start);
  }
  /** A file object (System.fileId) at a fixed place, from page `pgoff` of the file. */
  mmapFile(proc: number, start: number, pages: number, prot: Prot, file: number, pgoff: number, shared = false): void {
    this.push(OP.mmap, proc, PROT[prot], shared ? MAP.SHARED : MAP.PRIVATE, start, pages, file, pgoff);
  }
  munmap(proc: number, start: number, pages: number): void {
    this.push(OP.munmap, proc, 0, 0, start, pages);
  }
  mprotect(proc: number, start: number, pages: number, prot: Prot): void {
    this.push(OP.mprotect, proc, PROT[prot], 0, start, pages);
  }
  madvise(proc: number, start: number, pages: number, advice: Advice): void {
    this.push(OP.madvise, proc, ADVICE[advice], 0, start, pages);
  }
  /** mremap; with `fixed` the new start (MREMAP_FIXED|MREMAP_MAYMOVE), else MAYMOVE. */
  mremap(proc: number, start: number, oldPages: number, newPages: number, fixed?: number): void {
    const flags = MREMAP.MAYMOVE | (fixed === undefined ? 0 : MREMAP.FIXED);
    this.push(OP.mremap, proc, flags, 0, start, oldPages, newPages, fixed ?? 0);
  }
  touch(proc: number, start: number, pages: number, access: "r" | "w"): void {
    this.push(OP.touch, proc, access === "w" ? 1 : 0, 0, start, pages);
  }
  fork(proc: number, child: number): void {
    this.push(OP.fork, proc, 0, 0, 0, 0, child);
  }
  exit(proc: number): void {
    this.push(OP.exit, proc, 0, 0, 0, 0);
  }

  /** Op kind and process of record i (after a run, `result(i)` is its outcome). */
  op(i: number): number {
    return this.u32[i * OP_WORDS];
  }
  proc(i: number): number {
    return this.u32[i * OP_WORDS + 1];
  }
  child(i: number): number {
    return this.f64[i * 6 + 4];
  }

  /**
   * The ops as scenario lines, with `proc` lines where the
   * process changes. `fileName` names a file object.
   */
  toScenario(fileName: (file: number) => string, current = { proc: 0 }): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.length; i++) {
      const w = i * OP_WORDS;
      const d = i * 6;
      const [op, proc, arg, flags] = [this.u32[w], this.u32[w + 1], this.u32[w + 2], this.u32[w + 3]];
      const [start, pages, x, y] = [this.f64[d + 2], this.f64[d + 3], this.f64[d + 4], this.f64[d + 5]];
      if (proc !== current.proc) out.push(`proc ${proc}`);
      current.proc = proc;
      const name = NAMES[op];
      switch (op) {
        case OP.mmap: {
          const shared = (flags & MAP.SHARED) !== 0;
          const kind = x === 0 ? "anon" : `${shared ? "shared-" : ""}file:${fileName(x)}@${y}`;
          const extra = [(flags & MAP.NORESERVE) && "noreserve", (flags & MAP.GROWSDOWN) && "growsdown", (flags & MAP.STACK) && "stack"];
          out.push([name, start, pages, PROTS[arg], kind, ...extra.filter(Boolean)].join(" "));
          break;
        }
        case OP.mprotect:
          out.push(`${name} ${start} ${pages} ${PROTS[arg]}`);
          break;
        case OP.madvise:
          out.push(`${name} ${start} ${pages} ${ADVICES[arg]}`);
          break;
        case OP.mremap:
          out.push(`${name} ${start} ${pages} ${x}${arg & MREMAP.FIXED ? ` fixed=${y}` : " maymove"}`);
          break;
        case OP.touch:
          out.push(`${name} ${start} ${pages} ${arg ? "w" : "r"}`);
          break;
        case OP.fork:
          out.push(`fork ${x}`);
          break;
        case OP.exit:
          out.push("exit");
          break;
        default:
          out.push(`${name} ${start} ${pages}`);
      }
    }
    return out;
  }
}
