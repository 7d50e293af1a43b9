// Loading the wasm core and crossing the boundary.
//
// Pages cross the boundary as JavaScript numbers: integers in [0, MAX_PAGE].
// 2^53 pages of 4 KiB is far beyond any address space (x86-64 user space is
// 2^35 pages with 5-level paging), and every such integer is exact in an f64.
// Inside the core pages are u64.

import { readFileSync } from "node:fs";

/** The largest page number (and range end) that crosses the boundary exactly. */
export const MAX_PAGE = 2 ** 53;

/** Kernel errno names the core reports (it returns them negated). */
export const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  17: "EEXIST",
  22: "EINVAL",
};

/** An error with the kernel's errno name in `code`. */
export class VmalabError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = "VmalabError";
  }
}

/** Throws the errno a core call returned (negative), with `what` as the message. */
export function fail(rc: number, what: string): never {
  throw new VmalabError(ERRNO[-rc] ?? `E${-rc}`, what);
}

/** Checks a page number coming from a caller. */
export function checkPage(x: number, what: string): number {
  if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > MAX_PAGE) {
    throw new VmalabError("EINVAL", `${what} must be an integer page number in [0, 2^53], got ${describe(x)}`);
  }
  return x;
}

/**
 * Checks a range [start, start + pages) coming from a caller: both ends in
 * [0, 2^53]. A range that ends past it fails with `errno`, what the syscall
 * says of a range past TASK_SIZE.
 */
export function checkRange(start: number, pages: number, errno: string, what: string): void {
  checkPage(start, "start");
  checkPage(pages, "pages");
  if (start > MAX_PAGE - pages) throw new VmalabError(errno, `${what}: [${start}, +${pages}) ends past page 2^53`);
}

/** The largest process id: ids cross the boundary as u32. */
export const MAX_PROCESS_ID = 2 ** 32 - 1;

/** Checks a process id coming from a caller: a whole number in [0, 2^32 - 1]. */
export function checkProcessId(id: number, what = "a process id"): number {
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_PROCESS_ID) {
    throw new VmalabError("EINVAL", `${what} must be a whole number from 0 to 4294967295, got ${describe(id)}`);
  }
  return id;
}

/** A value as an error message shows it: numbers as they are, the rest with their type. */
function describe(x: unknown): string {
  return typeof x === "number" ? String(x) : `${typeof x} ${JSON.stringify(x) ?? String(x)}`.slice(0, 80);
}

/** The raw exports of build/vmalab.wasm (see assembly/index.ts). */
export interface CoreExports {
  memory: WebAssembly.Memory;
  rangemap_create(): number;
  rangemap_free(m: number): void;
  rangemap_size(m: number): number;
  rangemap_insert(m: number, start: number, end: number, value: number): number;
  rangemap_erase(m: number, start: number, end: number): number;
  rangemap_update(m: number, addr: number, value: number): number;
  rangemap_find(m: number, addr: number): number;
  rangemap_find_next(m: number, addr: number): number;
  rangemap_lookup(m: number, addr: number): number;
  rangemap_next(m: number, addr: number): number;
  rangemap_prev(m: number, addr: number): number;
  rangemap_found_start(): number;
  rangemap_found_end(): number;
  rangemap_collect(m: number, lo: number, hi: number, out: number, max: number): number;
  rangemap_find_many(m: number, addrs: number, out: number, n: number): void;
  rangemap_gap(m: number, size: number, lo: number, hi: number, align: number, topdown: number): number;
  rangemap_validate(m: number): number;
  mm_create(id: number, mmapBase: number): number;
  mm_fork(parent: number, childId: number): number;
  mm_exit(mm: number): void;
  mm_map_count(mm: number): number;
  mm_mmap(mm: number, start: number, len: number, prot: number, flags: number, file: number, pgoff: number): number;
  mm_munmap(mm: number, start: number, len: number): number;
  mm_mprotect(mm: number, start: number, len: number, prot: number): number;
  mm_madvise(mm: number, start: number, len: number, advice: number): number;
  mm_mremap(mm: number, addr: number, oldLen: number, newLen: number, flags: number, newAddr: number): number;
  mm_touch(mm: number, start: number, n: number, write: number): number;
  mm_collect_vmas(mm: number, lo: number, hi: number, out: number, max: number): number;
  mm_collect_ranges(mm: number, lo: number, hi: number, out: number, max: number): number;
  mm_rmap_survey(mm: number, out: number): void;
  mm_rmap(mm: number, addr: number, out: number, max: number, skip: number): number;
  rmap_cost(kind: number): number;
  mm_lock_chain(mm: number, addr: number): number;
  lock_chain_roots(): number;
  lock_chain_root(): number;
  mm_vma_chain(mm: number, addr: number, out: number, max: number): number;
  sys_anon_vmas(restart: number, out: number, max: number): number;
  mm_set_close_hook(mm: number, addr: number, on: number): number;
  mm_set_vma_flags(mm: number, addr: number, set: number, clear: number): number;
  sys_check(mms: number, n: number): number;
  sys_check_detail(): number;
  sys_set_max_map_count(n: number): void;
  sys_set_object_size(id: number, pages: number): number;
  sys_set_fork_reuse(on: number): void;
  sys_set_zero_page(on: number): void;
  mm_restore_vma(m: number, start: number, len: number, vmFlags: number, file: number, pgoff: number): number;
  mm_restore_anon(m: number, start: number, len: number): number;
  sys_set_overcommit_never(on: number): void;
  sys_set_kernel(v: number): void;
  sys_set_policy(p: number, userAction: number): void;
  sys_stat(which: number): number;
  sys_peak_vmas(): number;
  sys_live_vmas(): number;
  sys_peak_anon(which: number): number;
  sys_merge_log(on: number): number;
  merge_log_buffer(): number;
  merge_log_count(): number;
  merge_log_dropped(): number;
  merge_log_clear(): void;
  stat_live(kind: number): number;
  scratch_buffer(): number;
  scratch_bytes(): number;
  mem_node_bytes(): number;
  mem_pool_bytes(): number;
  mem_page_table_bytes(): number;
  sys_run_batch(ops: number, n: number): number;
  mem_inject_reserve_failure(n: number): void;
  mem_injected_failures(): number;
  mem_grow_failures(): number;
  mem_inject_failure_rate(rate: number, seed: number): void;
  mem_strict_reservations(on: number): number;
  mem_set_page_limit(pages: number): void;
}

/** One instance of the core: its own linear memory holding any number of maps. */
export class Core {
  readonly ex: CoreExports;
  /** Byte offset and size of the batch buffer. */
  readonly scratch: number;
  readonly scratchBytes: number;
  /**
   * The JavaScript half of a user merge policy (see assembly/policy.ts
   * userMergeable): called only while the core's policy is the user one.
   */
  userMergeable: (...facts: number[]) => number = () => {
    throw new Error("no user merge policy is set");
  };

  /** A fresh instance with its own memory (objects made on it never share state with others). */
  static create(): Core {
    return new Core(coreModule());
  }

  constructor(module: WebAssembly.Module) {
    let memory: WebAssembly.Memory | undefined;
    const instance = new WebAssembly.Instance(module, {
      env: {
        abort(msg: number, file: number, line: number, col: number) {
          const text = (p: number) => (memory ? readString(memory, p) : "?");
          throw new Error(`vmalab core aborted: ${text(msg)} at ${text(file)}:${line}:${col}`);
        },
        user_mergeable: (...facts: number[]) => this.userMergeable(...facts),
      },
    });
    this.ex = instance.exports as unknown as CoreExports;
    memory = this.ex.memory;
    this.scratch = this.ex.scratch_buffer();
    this.scratchBytes = this.ex.scratch_bytes();
  }

  /** Bytes in use by node records, bytes the pools took, and the whole linear memory. */
  memoryStats(): { nodeBytes: number; poolBytes: number; memoryBytes: number } {
    return {
      nodeBytes: this.ex.mem_node_bytes(),
      poolBytes: this.ex.mem_pool_bytes(),
      memoryBytes: this.ex.memory.buffer.byteLength,
    };
  }

  /** The linear memory's current buffer (it changes when memory grows). */
  get buffer(): ArrayBuffer {
    return this.ex.memory.buffer;
  }
}

/** Reads an AssemblyScript string (UTF-16, byte length at ptr - 4). */
function readString(memory: WebAssembly.Memory, ptr: number): string {
  if (!ptr) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

let compiled: WebAssembly.Module | undefined;
let shared: Core | undefined;

/** Uses an already compiled core (a browser fetches and compiles build/vmalab.wasm itself). */
export function useCoreModule(module: WebAssembly.Module): void {
  compiled = module;
}

/** The compiled core module, read and compiled once per process. */
export function coreModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(readFileSync(new URL("../build/vmalab.wasm", import.meta.url)));
  return compiled;
}

/** The core instance shared by objects created without one of their own. */
export function sharedCore(): Core {
  shared ??= new Core(coreModule());
  return shared;
}
