// System and Process: simulated processes whose address spaces behave like
// Linux 6.18's. The state lives in the wasm core; these classes name the
// syscalls, check arguments and turn errno returns into VmalabErrors.

import { parseScenario } from "./scenario/parse.js";
import { runOps, type ScenarioRecord } from "./scenario/run.js";
import { anonVmaGraph, type AnonVmaGraph, lockChain, type LockChain } from "./anon-vma.js";
import { metrics, type Metrics } from "./metrics.js";
import { type MergePolicy, USER_POLICY_ID, userAction, userMergeableBridge } from "./policy.js";
import { checkPage, checkProcessId, checkRange, Core, ERRNO, fail, VmalabError } from "./wasm.js";
import { OP, type OpStream } from "./workload/stream.js";
import { ADVICE, type Advice, permsString, PROT, type Prot, VM, vmFlagsFromString, vmFlagsString } from "./vmflags.js";

export type { Advice, Prot };

/** What backs a mapping: private anonymous memory, a new shared anonymous (shmem) object, or a named file. */
export type Backing =
  | { kind: "anon" }
  | { kind: "shared-anon" }
  | { kind: "file"; name: string; pgoff: number; shared?: boolean };

export interface MmapOptions {
  noreserve?: boolean;
  populate?: boolean;
  growsdown?: boolean;
  /** MAP_STACK: since Linux 6.7 the VMA gets VM_NOHUGEPAGE. */
  stack?: boolean;
}

export interface MremapOptions {
  maymove?: boolean;
  /** MREMAP_FIXED (implies maymove): the new start page. */
  fixed?: number;
  dontunmap?: boolean;
}

/** One VMA as /proc/PID/smaps would describe it. */
export interface VmaInfo {
  start: number;
  end: number;
  pgoff: number;
  /** maps-style permissions, e.g. "rw-p". */
  perms: string;
  /** "anon", "shared-anon@PGOFF" or "file:NAME@PGOFF". */
  kind: string;
  /** Anonymous pages mapped (smaps Anonymous / 4 KiB). */
  anonPages: number;
  /** smaps VmFlags, e.g. "rd wr mr mw me ac". */
  flags: string;
  /** The raw vm_flags bits. */
  vmFlags: number;
  /** Id of the VMA's anon_vma, 0 while unfaulted. */
  anonVma: number;
  /** Length of the VMA's anon_vma_chain. */
  chainLength: number;
}

export interface SystemOptions {
  /**
   * The merge policy: "linux-6.18" (default, the kernel's), "linux-pre-6.16"
   * (the list_is_singular() refusal of unfaulted targets), "matena-2022"
   * (different anon_vmas merge when the absorbed one is an unshared root; its
   * folios move), "chain-union-2010" (merge whatever the anon_vmas; chains
   * union), "no-merge"; or a MergePolicy object (policy.ts) deciding from
   * JavaScript. "linux-6.1" and "linux-6.12" are the kernel's own rules on
   * that kernel line (the same as policy "linux-6.18" with `kernel` set).
   */
  policy?: string | MergePolicy;
  /**
   * The kernel line modelled, as of its current stable release: "6.1",
   * "6.12" or "6.18" (default). Every rule that changed between them follows
   * it (README: Kernel versions); the merge policies apply on top of it.
   */
  kernel?: KernelLine;
  /** vm.max_map_count (default 65530). */
  maxMapCount?: number;
  /** anon_vma reuse at fork, commit 7a3ef208e662 (default true). */
  forkReuse?: boolean;
  /**
   * The shared zero page (default true, as on x86-64). Without it a read
   * fault of private anonymous memory allocates an anonymous folio and
   * prepares the VMA's anon_vma, as on s390 guests and kernels booted
   * without the zero page.
   */
  zeroPage?: boolean;
  /**
   * vm.overcommit_memory (default "heuristic"). Under "never" MAP_NORESERVE
   * is not honoured (no VM_NORESERVE: such mappings are accounted); the
   * commit limit itself is not modelled.
   */
  overcommit?: "heuristic" | "always" | "never";
  /** mm->mmap_base in pages: where top-down placement of non-fixed mmaps starts (default DEFAULT_MMAP_BASE). */
  mmapBase?: number;
  /**
   * Bytes of linear memory the core may use (default and most: 2 GiB, as
   * handles are 31-bit offsets). An op that would need more fails with ENOMEM
   * and changes nothing.
   */
  memoryLimit?: number;
}

/** Parses and runs a scenario on a new System. */
export function runScenario(text: string, opts: SystemOptions = {}, file?: string): ScenarioRecord[] {
  return System.createSync(opts).runScenario(text, file);
}

/** A typical x86-64 mmap_base (0x7ffff7a00000, below an 8 MiB stack and its gap), in pages. */
export const DEFAULT_MMAP_BASE = 0x7ffff7a00;

const MAP_SHARED = 0x01;
const MAP_PRIVATE = 0x02;
const MAP_FIXED = 0x10;
const MAP_GROWSDOWN = 0x100;
const MAP_NORESERVE = 0x4000;
const MAP_POPULATE = 0x8000;
const MAP_STACK = 0x20000;
const MREMAP_MAYMOVE = 1;
const MREMAP_FIXED = 2;
const MREMAP_DONTUNMAP = 4;
const VMA_F64S = 8;
/** Named files are 4 GiB, as in the reference kernel harness. */
const FILE_PAGES = (4 * 2 ** 30) / 4096;

/** The kernel lines modelled, and the core's id of each (assembly/kernel.ts). */
export const KERNEL_LINES = ["6.1", "6.12", "6.18"] as const;
export type KernelLine = (typeof KERNEL_LINES)[number];
const KERNEL_IDS: Record<KernelLine, number> = { "6.1": 601, "6.12": 612, "6.18": 618 };
/** The kernel line of a release or an image's name ("6.1.0-50-cloud-amd64", "vmlinuz-6.12.111+deb12": 6.1, 6.12), if vmalab models it. */
export function kernelLineOf(name: string | undefined): KernelLine | undefined {
  const m = /(\d+)\.(\d+)[.-]/.exec(name ?? "");
  const line = m ? `${m[1]}.${m[2]}` : "";
  return (KERNEL_LINES as readonly string[]).includes(line) ? (line as KernelLine) : undefined;
}

/** Policies that are the kernel's own rules on an older line: "linux-6.18" there. */
export const KERNEL_POLICIES: Record<string, KernelLine> = { "linux-6.1": "6.1", "linux-6.12": "6.12" };

/** The built-in merge policies, in the order of the core's POLICY_* ids. */
export const POLICIES = ["linux-6.18", "linux-pre-6.16", "matena-2022", "chain-union-2010", "no-merge"] as const;
export type PolicyName = (typeof POLICIES)[number];

/** What each code of the core's invariant check (assembly/check.ts) means. */
const CHECK_RULES: Record<number, string> = {
  1: "a VMA tree is unsound",
  2: "a VMA's range is wrong",
  3: "a faulted VMA's chain lacks its anon_vma (or an unfaulted one has a chain)",
  4: "an anon_vma_chain link is missing from its anon_vma",
  5: "a chain links anon_vmas of different roots",
  6: "num_active_vmas differs from its recount",
  7: "num_children differs from its recount",
  8: "a VMA is stored under the wrong range or mm",
  9: "an anon_vma's interval tree is unsound or files a link under a stale pgoff range",
  10: "an anon_vma's refcount differs from its recount",
  11: "a PTE lies outside every VMA",
  12: "an rmap walk misses a PTE that maps its folio",
  13: "a folio's mapcount differs from the PTEs that map it",
  14: "an anon_vma's folio count differs from its recount",
  15: "a record leaked (a folio, AVC or anon_vma nothing reaches)",
};

/** What an rmap walk found and what it cost. */
export interface RmapResult {
  /** (process, page) pairs whose PTE maps the folio, sorted. */
  mappings: [number, number][];
  /** Interval-tree nodes (AVCs) the walk looked at. */
  avcsVisited: number;
  /** VMAs whose pgoff range covers the folio: those rmap_one() visits. */
  vmasVisited: number;
}

/** The mmap flags (MAP_*, without MAP_FIXED) for a backing and options. */
export function mmapFlags(backing: Backing, opts: MmapOptions): number {
  const shared = backing.kind === "shared-anon" || (backing.kind === "file" && backing.shared);
  let flags = shared ? MAP_SHARED : MAP_PRIVATE;
  if (opts.noreserve) flags |= MAP_NORESERVE;
  if (opts.populate) flags |= MAP_POPULATE;
  if (opts.growsdown) flags |= MAP_GROWSDOWN;
  if (opts.stack) flags |= MAP_STACK;
  return flags;
}

function checkProt(prot: Prot): void {
  if (typeof prot !== "string" || !Object.hasOwn(PROT, prot)) throw new VmalabError("EINVAL", `unknown protection '${String(prot)}' (none, r, rw, rx or rwx)`);
}

/** A backing as the scenario format has them: anon, shared-anon, or a named file from a page offset. */
function checkBacking(b: Backing): void {
  if (b === null || typeof b !== "object") throw new VmalabError("EINVAL", `a backing is an object such as { kind: "anon" }, got ${String(b)}`);
  if (b.kind === "anon" || b.kind === "shared-anon") return;
  if (b.kind !== "file") throw new VmalabError("EINVAL", `backing kind must be anon, shared-anon or file, got '${String((b as { kind: unknown }).kind)}'`);
  if (typeof b.name !== "string" || b.name === "" || /[\s@]/.test(b.name)) {
    throw new VmalabError("EINVAL", `a file backing needs a name (no spaces or '@'), got ${JSON.stringify(b.name)}`);
  }
  checkPage(b.pgoff, "pgoff");
}

/** The mremap flags (MREMAP_*) of the options; fixed implies maymove. */
export function mremapFlags(opts: MremapOptions): number {
  let flags = opts.maymove ? MREMAP_MAYMOVE : 0;
  if (opts.fixed !== undefined) flags |= MREMAP_FIXED | MREMAP_MAYMOVE;
  if (opts.dontunmap) flags |= MREMAP_DONTUNMAP;
  return flags;
}

/** A set of processes sharing files, anon_vma hierarchies and folios. */
export class System {
  /** @internal The wasm core this system runs in (its raw ABI is not part of the package's API). */
  readonly core: Core;
  readonly policy: string;
  readonly forkReuse: boolean;
  readonly zeroPage: boolean;
  /** The kernel line modelled. */
  readonly kernel: KernelLine;
  private readonly procs = new Map<number, Process>();
  /** Backing objects by id: named files (one open file description each) and shmem objects. */
  private readonly objects: { name: string; shmem: boolean }[] = [{ name: "", shmem: false }];
  private readonly fileIds = new Map<string, number>();
  private readonly mmapBase: number;

  private constructor(opts: SystemOptions) {
    if (opts === null || typeof opts !== "object") throw new VmalabError("EINVAL", `System options are an object, got ${String(opts)}`);
    const asked = opts.policy ?? "linux-6.18";
    this.policy = typeof asked === "string" ? asked : asked.name;
    const lineOfPolicy = typeof asked === "string" ? KERNEL_POLICIES[asked] : undefined;
    const policy = lineOfPolicy ? "linux-6.18" : asked;
    if (typeof policy === "string" && !(POLICIES as readonly string[]).includes(policy)) {
      throw new VmalabError("EINVAL", `unknown policy '${policy}' (known: ${[...POLICIES, ...Object.keys(KERNEL_POLICIES)].join(", ")})`);
    }
    if (opts.kernel !== undefined && !(KERNEL_LINES as readonly string[]).includes(opts.kernel)) {
      throw new VmalabError("EINVAL", `kernel must be one of ${KERNEL_LINES.join(", ")}, got '${String(opts.kernel)}'`);
    }
    if (lineOfPolicy && opts.kernel !== undefined && opts.kernel !== lineOfPolicy) {
      throw new VmalabError("EINVAL", `policy '${asked}' is kernel ${lineOfPolicy}, not ${opts.kernel}`);
    }
    this.kernel = lineOfPolicy ?? opts.kernel ?? "6.18";
    this.mmapBase = checkPage(opts.mmapBase ?? DEFAULT_MMAP_BASE, "mmapBase");
    this.core = Core.create();
    const ex = this.core.ex;
    const maxMapCount = opts.maxMapCount ?? 65530;
    if (!(Number.isSafeInteger(maxMapCount) && maxMapCount >= 1 && maxMapCount < 2 ** 31)) {
      throw new VmalabError("EINVAL", `maxMapCount must be a whole number from 1 to 2^31 - 1, got ${maxMapCount}`);
    }
    ex.sys_set_max_map_count(maxMapCount);
    this.forkReuse = opts.forkReuse !== false;
    ex.sys_set_fork_reuse(this.forkReuse ? 1 : 0);
    this.zeroPage = opts.zeroPage !== false;
    ex.sys_set_zero_page(this.zeroPage ? 1 : 0);
    const overcommit = opts.overcommit ?? "heuristic";
    if (!["heuristic", "always", "never"].includes(overcommit)) {
      throw new VmalabError("EINVAL", `overcommit must be heuristic, always or never, got '${String(overcommit)}'`);
    }
    ex.sys_set_overcommit_never(overcommit === "never" ? 1 : 0);
    ex.sys_set_kernel(KERNEL_IDS[this.kernel]);
    if (typeof policy === "string") {
      ex.sys_set_policy(POLICIES.indexOf(policy as PolicyName), 0);
    } else {
      const action = userAction(policy);
      this.core.userMergeable = userMergeableBridge(policy, (file, pgoff) => this.kindOf(file, pgoff));
      ex.sys_set_policy(USER_POLICY_ID, action);
    }
    if (opts.memoryLimit !== undefined) {
      if (!(opts.memoryLimit >= 0)) throw new VmalabError("EINVAL", `memoryLimit must be a byte count, got ${opts.memoryLimit}`);
      ex.mem_set_page_limit(Math.min(2 ** 15, Math.floor(opts.memoryLimit / 65536)));
    }
    this.spawn(0);
  }

  static async create(opts: SystemOptions = {}): Promise<System> {
    return new System(opts);
  }

  static createSync(opts: SystemOptions = {}): System {
    return new System(opts);
  }

  /** The process with this id (process 0 exists from the start). */
  process(id: number): Process {
    const p = this.procs.get(checkProcessId(id));
    if (!p) throw new VmalabError("ESRCH", `no process ${id}`);
    return p;
  }

  /**
   * Runs a scenario on this system, from its current state,
   * with process 0 current; returns the records (failed ops, dumps, rmaps).
   */
  runScenario(text: string, file?: string): ScenarioRecord[] {
    return runOps(this, parseScenario(text, file));
  }

  /** Whether process `id` is alive. */
  hasProcess(id: number): boolean {
    return this.procs.has(id);
  }

  /** Live processes, by id. */
  processes(): Process[] {
    return [...this.procs.values()].sort((a, b) => a.id - b.id);
  }

  /** A new process with an empty address space (one that was forked and has exec'd). */
  spawnEmpty(id: number): Process {
    return this.spawn(id);
  }

  /** @internal */
  spawn(id: number, parent?: Process): Process {
    checkProcessId(id);
    if (this.procs.has(id)) throw new VmalabError("EEXIST", `process ${id} exists`);
    const mm = parent ? this.core.ex.mm_fork(parent.mm, id) : this.core.ex.mm_create(id, this.mmapBase);
    if (mm === 0) throw new VmalabError("ENOMEM", "no memory for a new address space");
    const p = new Process(this, id, mm);
    this.procs.set(id, p);
    return p;
  }

  /** @internal */
  reap(p: Process): void {
    this.procs.delete(p.id);
  }

  /** @internal The object id of a named file (opened once per System; FILE_PAGES long). */
  fileId(name: string): number {
    let id = this.fileIds.get(name);
    if (id === undefined) {
      id = this.newObject(name, false, FILE_PAGES);
      this.fileIds.set(name, id);
    }
    return id;
  }

  /** @internal A new shmem object for a MAP_SHARED|MAP_ANONYMOUS mapping of `pages` pages. */
  shmemId(pages: number): number {
    return this.newObject("", true, pages);
  }

  private newObject(name: string, shmem: boolean, pages: number): number {
    const id = this.objects.length;
    const rc = this.core.ex.sys_set_object_size(id, pages);
    if (rc < 0) fail(rc, "no memory for a backing object");
    this.objects.push({ name, shmem });
    return id;
  }

  /** @internal How a VMA's backing is named in dumps. */
  kindOf(file: number, pgoff: number): string {
    if (file === 0) return "anon";
    const o = this.objects[file];
    return o.shmem ? `shared-anon@${pgoff}` : `file:${o.name}@${pgoff}`;
  }

  /**
   * Checks every process's VMA tree and the anon_vma graph: VMAs sorted and
   * non-overlapping, each faulted VMA's chain holding its own anon_vma, every
   * link listed in its anon_vma, num_active_vmas and num_children equal to
   * their recount. Throws naming the first broken rule.
   */
  checkInvariants(): void {
    const { ex, scratch } = this.core;
    const mms = this.processes().map((p) => p.mm);
    new Uint32Array(this.core.buffer, scratch, mms.length).set(mms);
    const rc = ex.sys_check(scratch, mms.length);
    if (rc !== 0) {
      const rule = CHECK_RULES[rc] ?? `rule ${rc}`;
      throw new Error(`invariant broken: ${rule} (at ${ex.sys_check_detail()})`);
    }
  }

  /**
   * Runs an op stream in batches inside the core (no JavaScript per op).
   * Failed ops are counted by errno, not thrown; forks and exits update the
   * process list.
   */
  runStream(stream: OpStream): { ops: number; failed: Record<string, number> } {
    const failed: Record<string, number> = {};
    this.runOps(stream, (_, r) => {
      const name = ERRNO[-r] ?? `E${-r}`;
      failed[name] = (failed[name] ?? 0) + 1;
    });
    return { ops: stream.length, failed };
  }

  /** Runs an op stream in batches inside the core, calling `failed` with the index and (negative) errno of each op that failed. */
  runOps(stream: OpStream, failed: (i: number, errno: number) => void): void {
    const { ex, scratch, scratchBytes } = this.core;
    const per = Math.floor(scratchBytes / 48);
    const all = stream.bytes();
    for (let first = 0; first < stream.length; first += per) {
      const n = Math.min(per, stream.length - first);
      new Uint8Array(this.core.buffer, scratch, n * 48).set(all.subarray(first * 48, (first + n) * 48));
      if (ex.sys_run_batch(scratch, n) === 0) continue;
      const results = new Int32Array(this.core.buffer, scratch, n * 12);
      for (let k = 0; k < n; k++) {
        const i = first + k;
        const r = results[k * 12 + 2];
        const op = stream.op(i);
        if (op === OP.fork && r > 0) {
          this.procs.set(stream.child(i), new Process(this, stream.child(i), r));
        } else if (op === OP.exit && r === 0) {
          this.procs.get(stream.proc(i))?.markExited();
        } else if (r < 0) failed(i, r);
      }
    }
  }

  /** rmap_walk_anon() for the anonymous page at `page` of process `proc` (no mappings if it holds none). */
  rmap(proc: number, page: number): RmapResult {
    return this.process(proc).rmap(page);
  }

  /** The anon_vma_chain walk of the VMA of `proc` containing `page`, and what shares its root's lock. */
  lockChain(proc: number, page: number): LockChain {
    return lockChain(this, proc, page);
  }

  /** Every live anon_vma, every faulted VMA, their AVC links and parent edges. */
  anonVmaGraph(): AnonVmaGraph {
    return anonVmaGraph(this);
  }

  /** The metrics of the system as it is now. */
  metrics(): Metrics {
    return metrics(this);
  }

  /**
   * Fault injection, like the kernel tests' fail_prealloc: the n-th next
   * allocation step of an op (each op reserves its records before it changes
   * anything, one pool at a time) fails, so the op returns ENOMEM and leaves
   * the system as it was. 0 turns it off.
   */
  failNthAllocation(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new VmalabError("EINVAL", `n must be a count, got ${n}`);
    this.core.ex.mem_inject_reserve_failure(n);
  }

  /** Fault injection: each allocation step fails with probability `rate` (0 turns it off), drawn from `seed`. */
  failAllocations(rate: number, seed = 1): void {
    if (!(rate >= 0 && rate <= 1)) throw new VmalabError("EINVAL", `rate must be in [0, 1], got ${rate}`);
    this.core.ex.mem_inject_failure_rate(rate, seed >>> 0);
  }

  /**
   * Testing aid: strict reservation accounting. While on, an op that
   * allocates a record its reservation did not promise counts an overdraw (a
   * reservation too small, which near a memory cap would fail half-way).
   * Returns the overdraws counted so far.
   */
  strictReservations(on: boolean): number {
    return this.core.ex.mem_strict_reservations(on ? 1 : 0);
  }

  /** Allocation steps the injection has failed so far. */
  get injectedFailures(): number {
    return this.core.ex.mem_injected_failures();
  }

  /** Live records in the core: a leak check after every process exited expects zeros. */
  liveObjects(): { anonVmas: number; avcs: number; vmas: number; folios: number } {
    const ex = this.core.ex;
    return { anonVmas: ex.stat_live(0), avcs: ex.stat_live(1), vmas: ex.stat_live(2), folios: ex.stat_live(3) };
  }
}

/**
 * A simulated process: its address space and the syscalls that change it.
 * Each syscall builds its error message only when the core reports an
 * errno: one built per call (a template string of numbers) took about a
 * third of a simulated mprotect's time.
 */
export class Process {
  private alive = true;

  /** @internal */
  constructor(
    readonly system: System,
    readonly id: number,
    /** @internal the core's mm handle */
    readonly mm: number,
  ) {}

  private get ex() {
    if (!this.alive) throw new VmalabError("ESRCH", `process ${this.id} has exited`);
    return this.system.core.ex;
  }

  /**
   * mmap of `pages` pages: at `start` (MAP_FIXED, replacing what is there),
   * or with `start` null where the kernel's top-down search from mmap_base
   * puts it. Returns the start page.
   */
  mmap(start: number | null, pages: number, prot: Prot, backing: Backing = { kind: "anon" }, opts: MmapOptions = {}): number {
    if (start !== null) checkRange(start, pages, "ENOMEM", "mmap");
    checkPage(pages, "pages");
    checkProt(prot);
    checkBacking(backing);
    let flags = mmapFlags(backing, opts ?? {});
    let file = 0;
    let pgoff = 0;
    if (backing.kind === "shared-anon") file = this.system.shmemId(pages);
    else if (backing.kind === "file") {
      file = this.system.fileId(backing.name);
      pgoff = backing.pgoff;
    }
    if (start !== null) flags |= MAP_FIXED;
    const r = this.ex.mm_mmap(this.mm, start ?? 0, pages, PROT[prot], flags, file, pgoff);
    if (r < 0) fail(r, `mmap ${start ?? "(anywhere)"} ${pages}`);
    return r;
  }

  /**
   * A VMA as a snapshot of the kernel's view shows it, inserted with exactly
   * these vm_flags (an smaps VmFlags list, mnemonics vmalab models) and not
   * merged, then the present anonymous pages `anon` ([start, pages] runs)
   * faulted as writes: how a trace replay starts from the layout execve built.
   */
  restore(start: number, pages: number, vmFlags: string, backing: Backing, anon: [number, number][] = []): void {
    checkRange(start, pages, "ENOMEM", "restore");
    checkBacking(backing);
    const { flags, unknown } = vmFlagsFromString(vmFlags);
    if (unknown.length) throw new VmalabError("EINVAL", `VmFlags vmalab does not model: ${unknown.join(" ")}`);
    for (const [at, n] of anon) {
      if (!(Number.isSafeInteger(at) && Number.isSafeInteger(n) && n > 0 && at >= start && at + n <= start + pages)) {
        throw new VmalabError("EINVAL", `anonymous pages [${at}, +${n}) are not inside the VMA [${start}, ${start + pages})`);
      }
    }
    let file = 0;
    let pgoff = start;
    if (backing.kind === "shared-anon") {
      file = this.system.shmemId(pages);
      pgoff = 0;
    } else if (backing.kind === "file") {
      file = this.system.fileId(backing.name);
      pgoff = checkPage(backing.pgoff, "pgoff");
    }
    let r = this.ex.mm_restore_vma(this.mm, start, pages, flags, file, pgoff);
    if (r < 0) fail(r, `restore ${start} ${pages}`);
    for (const [at, n] of anon) {
      r = this.ex.mm_restore_anon(this.mm, at, n);
      if (r < 0) {
        this.ex.mm_munmap(this.mm, start, pages); // nothing half restored
        fail(r, `restore anon ${at} ${n}`);
      }
    }
  }

  munmap(start: number, pages: number): void {
    checkRange(start, pages, "EINVAL", "munmap");
    if (pages === 0) throw new VmalabError("EINVAL", "munmap of 0 pages");
    const r = this.ex.mm_munmap(this.mm, start, pages);
    if (r < 0) fail(r, `munmap ${start} ${pages}`);
  }

  mprotect(start: number, pages: number, prot: Prot): void {
    checkRange(start, pages, "ENOMEM", "mprotect");
    checkProt(prot);
    const r = this.ex.mm_mprotect(this.mm, start, pages, PROT[prot]);
    if (r < 0) fail(r, `mprotect ${start} ${pages}`);
  }

  madvise(start: number, pages: number, advice: Advice): void {
    checkRange(start, pages, "ENOMEM", "madvise");
    if (typeof advice !== "string" || !Object.hasOwn(ADVICE, advice)) throw new VmalabError("EINVAL", `unknown advice '${String(advice)}'`);
    const r = this.ex.mm_madvise(this.mm, start, pages, ADVICE[advice]);
    if (r < 0) fail(r, `madvise ${start} ${pages} ${advice}`);
  }

  /** mremap; returns the new start page. */
  mremap(start: number, oldPages: number, newPages: number, opts: MremapOptions = {}): number {
    checkRange(start, oldPages, "EFAULT", "mremap");
    checkPage(newPages, "newPages");
    const fixed = opts?.fixed;
    if (fixed !== undefined) checkRange(fixed, newPages, "EINVAL", "mremap to");
    const to = fixed ?? 0;
    const r = this.ex.mm_mremap(this.mm, start, oldPages, newPages, mremapFlags(opts ?? {}), to);
    if (r < 0) fail(r, `mremap ${start} ${oldPages} ${newPages}`);
    return r;
  }

  /** Faults `pages` pages from `start` in order, reading or writing; EFAULT at the first inaccessible one. */
  touch(start: number, pages: number, access: "r" | "w"): void {
    checkRange(start, pages, "EFAULT", "touch");
    if (access !== "r" && access !== "w") throw new VmalabError("EINVAL", `touch access must be 'r' or 'w', got ${JSON.stringify(access)}`);
    const r = this.ex.mm_touch(this.mm, start, pages, access === "w" ? 1 : 0);
    if (r < 0) fail(r, `touch ${start} ${pages} ${access}`);
  }

  /** fork(): a child process with the given id. */
  fork(childId: number): Process {
    this.ex;
    return this.system.spawn(childId, this);
  }

  exit(): void {
    this.ex.mm_exit(this.mm);
    this.markExited();
  }

  /** @internal The core has freed this process's mm. */
  markExited(): void {
    this.alive = false;
    this.system.reap(this);
  }

  /** execve(): the process keeps its id and gets a new, empty address space; returns it (this one is gone). */
  exec(): Process {
    this.exit();
    return this.system.spawn(this.id);
  }

  get mapCount(): number {
    return this.ex.mm_map_count(this.mm);
  }

  /** The VMAs intersecting [lo, hi), in address order. */
  /** The [start, end) of each VMA overlapping [lo, hi) (pages), in order: what vmas() says of the layout, without the rest. */
  ranges(lo = 0, hi = 2 ** 53): [number, number][] {
    const ex = this.ex;
    const { scratch, scratchBytes } = this.system.core;
    const max = Math.floor(scratchBytes / 16);
    const out: [number, number][] = [];
    for (;;) {
      const n = ex.mm_collect_ranges(this.mm, lo, hi, scratch, max);
      const f = new Float64Array(this.system.core.buffer, scratch, n * 2);
      for (let i = 0; i < n * 2; i += 2) out.push([f[i], f[i + 1]]);
      if (n < max) return out;
      lo = out[out.length - 1][1];
    }
  }

  vmas(lo = 0, hi = 2 ** 53): VmaInfo[] {
    const ex = this.ex;
    const { scratch, scratchBytes } = this.system.core;
    const max = Math.floor(scratchBytes / (VMA_F64S * 8));
    const out: VmaInfo[] = [];
    for (;;) {
      const n = ex.mm_collect_vmas(this.mm, lo, hi, scratch, max);
      const f = new Float64Array(this.system.core.buffer, scratch, n * VMA_F64S);
      for (let i = 0; i < n * VMA_F64S; i += VMA_F64S) {
        const [start, end, pgoff, vmFlags, file, anonPages, anonVma, chainLength] = f.subarray(i, i + VMA_F64S);
        out.push({
          start,
          end,
          pgoff,
          perms: permsString(vmFlags),
          kind: this.system.kindOf(file, pgoff),
          anonPages,
          flags: vmFlagsString(vmFlags),
          vmFlags,
          anonVma,
          chainLength,
        });
      }
      if (n < max) return out;
      lo = out[out.length - 1].end;
    }
  }

  /** rmap_walk_anon() for the anonymous page at `page`: who maps the same folio, and the walk's cost. */
  rmap(page: number): RmapResult {
    checkPage(page, "page");
    const ex = this.ex;
    const { scratch, scratchBytes } = this.system.core;
    const max = Math.floor(scratchBytes / 16);
    const mappings: [number, number][] = [];
    for (let skip = 0; ; skip += max) {
      const n = ex.mm_rmap(this.mm, page, scratch, max, skip);
      if (n < 0) return { mappings, avcsVisited: 0, vmasVisited: 0 };
      const f = new Float64Array(this.system.core.buffer, scratch, 2 * Math.min(max, n - skip));
      for (let i = 0; i < f.length; i += 2) mappings.push([f[i], f[i + 1]]);
      if (n - skip <= max) break;
    }
    mappings.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return { mappings, avcsVisited: ex.rmap_cost(0), vmasVisited: ex.rmap_cost(1) };
  }

  /** Marks the VMA containing `page` as having a vm_ops->close hook (drivers do; userland cannot). */
  setCloseHook(page: number, on = true): void {
    const rc = this.ex.mm_set_close_hook(this.mm, checkPage(page, "page"), on ? 1 : 0);
    if (rc < 0) fail(rc, `no VMA at page ${page}`);
  }

  /** Sets or clears VM_SPECIAL bits (VM_IO, VM_DONTEXPAND, VM_PFNMAP, VM_MIXEDMAP) of the VMA containing `page`. */
  setSpecial(page: number, bits: number, on = true): void {
    const special = VM.IO | VM.DONTEXPAND | VM.PFNMAP | VM.MIXEDMAP;
    if (bits & ~special) throw new VmalabError("EINVAL", "only VM_SPECIAL bits can be set this way");
    const rc = this.ex.mm_set_vma_flags(this.mm, checkPage(page, "page"), on ? bits : 0, on ? 0 : bits);
    if (rc < 0) fail(rc, `no VMA at page ${page}`);
  }

}
