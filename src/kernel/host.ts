// The host profile: how the running kernel was built and booted, where that
// changes what a scenario does (the shared zero page, overcommit,
// vm.max_map_count) or what smaps shows (THP, the soft-dirty flag). A System
// takes the modelled ones as options; kernel-check and trace checks use them.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { release } from "node:os";
import { join } from "node:path";
import { parseScenario } from "../scenario/parse.js";
import type { DumpVma } from "../scenario/run.js";
import type { SystemOptions } from "../system.js";
import { cacheDir } from "../native.js";
import { helperBinary, KernelCheckError, runOnKernel } from "./helper.js";

export type ThpMode = "always" | "madvise" | "never";
export type Overcommit = "heuristic" | "always" | "never";

export interface HostProfile {
  /** uname -r. */
  kernel: string;
  /** A read fault of private anonymous memory maps the shared zero page (else it allocates a page). */
  zeroPage: boolean;
  /** /sys/kernel/mm/transparent_hugepage/enabled: where a fault may get a 2 MiB folio (not modelled). */
  thp: ThpMode;
  maxMapCount: number;
  /** vm.mmap_min_addr in bytes: the lowest address mmap gives. */
  mmapMinAddr: number;
  /** vm.overcommit_memory 0, 1, 2. */
  overcommit: Overcommit;
  /** CONFIG_MEM_SOFT_DIRTY: every new VMA shows `sd` in VmFlags. */
  softDirty: boolean;
}

const OVERCOMMIT: Overcommit[] = ["heuristic", "always", "never"];
/** Pages in a PMD-mapped THP on x86-64. */
const HPAGE_PAGES = 512;

function readSysctl(name: string): number {
  const path = `/proc/sys/${name.replace(/\./g, "/")}`;
  const n = Number(readFileSync(path, "utf8").trim());
  if (!Number.isSafeInteger(n)) throw new KernelCheckError(`${path}: not a number`);
  return n;
}

/** The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled ("never" where THP is not built in). */
function readThpMode(): ThpMode {
  const path = "/sys/kernel/mm/transparent_hugepage/enabled";
  if (!existsSync(path)) return "never";
  const m = /\[(always|madvise|never)\]/.exec(readFileSync(path, "utf8"));
  if (!m) throw new KernelCheckError(`${path}: no mode in brackets`);
  return m[1] as ThpMode;
}

/**
 * What only a real process shows: map a page, read it, read smaps. Cached
 * beside the helper per boot, as a reboot may change the command line.
 */
function probeFaults(): { zeroPage: boolean; softDirty: boolean } {
  const bootId = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  const key = createHash("sha256").update(`${bootId} ${helperBinary()}`).digest("hex").slice(0, 16);
  const file = join(cacheDir(), `host-${key}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")) as { zeroPage: boolean; softDirty: boolean };
  const records = runOnKernel(parseScenario("mmap 0 1 r anon\ntouch 0 1 r\ndump\n", "<host probe>"));
  const dump = records.find((r) => "vmas" in r);
  if (!dump || !("vmas" in dump) || dump.vmas.length !== 1) {
    throw new KernelCheckError(`the host probe read no mapping back: ${JSON.stringify(records)}`);
  }
  const [, , , , anonPages, flags] = dump.vmas[0];
  const found = { zeroPage: anonPages === 0, softDirty: flags.split(" ").includes("sd") };
  mkdirSync(cacheDir(), { recursive: true });
  writeFileSync(file, `${JSON.stringify(found)}\n`);
  return found;
}

/** Probes the host kernel (Linux only; the fault probe needs the C helper). */
export function probeHost(): HostProfile {
  const { zeroPage, softDirty } = probeFaults();
  return {
    kernel: release(),
    zeroPage,
    thp: readThpMode(),
    maxMapCount: readSysctl("vm.max_map_count"),
    mmapMinAddr: readSysctl("vm.mmap_min_addr"),
    overcommit: OVERCOMMIT[readSysctl("vm.overcommit_memory")] ?? "heuristic",
    softDirty,
  };
}

/** The System options that make the simulator behave as this host's kernel. */
export function hostOptions(h: HostProfile): SystemOptions {
  return { zeroPage: h.zeroPage, maxMapCount: h.maxMapCount, overcommit: h.overcommit };
}

/** The profile as a few lines: what differs from a default x86-64 host is what to read. */
export function formatHost(h: HostProfile): string {
  return [
    `host: Linux ${h.kernel}`,
    `  zero page: ${h.zeroPage ? "yes" : "no (read faults of private anonymous memory allocate pages; modelled)"}`,
    `  THP: ${h.thp}${h.thp === "never" ? "" : ` (not modelled: VMAs that may hold a huge page are named where results differ)`}`,
    `  vm.max_map_count: ${h.maxMapCount}; vm.mmap_min_addr: ${h.mmapMinAddr}; overcommit: ${h.overcommit}`,
    `  soft-dirty VmFlags (sd): ${h.softDirty ? "yes (ignored in comparisons)" : "no"}`,
  ].join("\n");
}

/**
 * The VMAs of a dump that may hold a PMD-mapped huge page under THP mode
 * `thp`: private anonymous, not `nh`, covering a whole 2 MiB-aligned run
 * (pages are counted from a 2 MiB-aligned base), and in madvise mode `hg`.
 */
export function thpCapable(vmas: DumpVma[], thp: ThpMode): DumpVma[] {
  if (thp === "never") return [];
  return vmas.filter(([start, end, perms, kind, , flags]) => {
    const f = flags.split(" ");
    if (kind !== "anon" || perms[3] !== "p" || f.includes("nh")) return false;
    if (thp === "madvise" && !f.includes("hg")) return false;
    const first = Math.ceil(start / HPAGE_PAGES) * HPAGE_PAGES;
    return first + HPAGE_PAGES <= end;
  });
}
