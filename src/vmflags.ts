// The kernel's vm_flags bits (x86-64) and how /proc/PID/smaps names them,
// and the syscall encodings of protections and advice.

export const VM = {
  READ: 0x1,
  WRITE: 0x2,
  EXEC: 0x4,
  SHARED: 0x8,
  MAYREAD: 0x10,
  MAYWRITE: 0x20,
  MAYEXEC: 0x40,
  MAYSHARE: 0x80,
  GROWSDOWN: 0x100,
  PFNMAP: 0x400,
  LOCKED: 0x2000,
  IO: 0x4000,
  SEQ_READ: 0x8000,
  RAND_READ: 0x10000,
  DONTCOPY: 0x20000,
  DONTEXPAND: 0x40000,
  LOCKONFAULT: 0x80000,
  ACCOUNT: 0x100000,
  NORESERVE: 0x200000,
  HUGETLB: 0x400000,
  WIPEONFORK: 0x2000000,
  DONTDUMP: 0x4000000,
  SOFTDIRTY: 0x8000000,
  MIXEDMAP: 0x10000000,
  HUGEPAGE: 0x20000000,
  NOHUGEPAGE: 0x40000000,
  MERGEABLE: 0x80000000,
} as const;

/** smaps VmFlags mnemonics by bit, in the order show_smap_vma_flags() prints them. */
const MNEMONICS: [number, string][] = [
  [VM.READ, "rd"],
  [VM.WRITE, "wr"],
  [VM.EXEC, "ex"],
  [VM.SHARED, "sh"],
  [VM.MAYREAD, "mr"],
  [VM.MAYWRITE, "mw"],
  [VM.MAYEXEC, "me"],
  [VM.MAYSHARE, "ms"],
  [VM.GROWSDOWN, "gd"],
  [VM.PFNMAP, "pf"],
  [VM.LOCKED, "lo"],
  [VM.IO, "io"],
  [VM.SEQ_READ, "sr"],
  [VM.RAND_READ, "rr"],
  [VM.DONTCOPY, "dc"],
  [VM.DONTEXPAND, "de"],
  [VM.ACCOUNT, "ac"],
  [VM.NORESERVE, "nr"],
  [VM.HUGETLB, "ht"],
  [VM.WIPEONFORK, "wf"],
  [VM.DONTDUMP, "dd"],
  [VM.SOFTDIRTY, "sd"],
  [VM.MIXEDMAP, "mm"],
  [VM.HUGEPAGE, "hg"],
  [VM.NOHUGEPAGE, "nh"],
  [VM.MERGEABLE, "mg"],
];

/** The smaps VmFlags line for vm_flags (soft-dirty is not shown: the reference kernel does not track it). */
export function vmFlagsString(flags: number): string {
  let text = FLAG_STRINGS.get(flags);
  if (text === undefined) {
    const out: string[] = [];
    for (const [bit, name] of MNEMONICS) if (bit !== VM.SOFTDIRTY && flags & bit) out.push(name);
    text = out.join(" ");
    // A run has a few dozen distinct vm_flags values: each is spelled once.
    if (FLAG_STRINGS.size < 4096) FLAG_STRINGS.set(flags, text);
  }
  return text;
}

const FLAG_STRINGS = new Map<number, string>();

const BY_MNEMONIC = new Map(MNEMONICS.map(([bit, name]) => [name, bit]));

/** vm_flags from an smaps VmFlags list; mnemonics vmalab does not model are returned apart. */
export function vmFlagsFromString(text: string): { flags: number; unknown: string[] } {
  let flags = 0;
  const unknown: string[] = [];
  for (const name of text.split(/[\s,]+/).filter(Boolean)) {
    const bit = BY_MNEMONIC.get(name);
    if (bit === undefined) unknown.push(name);
    else flags += flags & bit ? 0 : bit; // bits above 2^31: no 32-bit bitwise or
  }
  return { flags, unknown };
}

/** The permission column of /proc/PID/maps: rwx and p (private) or s (may share). */
export function permsString(flags: number): string {
  return (
    (flags & VM.READ ? "r" : "-") +
    (flags & VM.WRITE ? "w" : "-") +
    (flags & VM.EXEC ? "x" : "-") +
    (flags & VM.MAYSHARE ? "s" : "p")
  );
}

export type Prot = "none" | "r" | "rw" | "rx" | "rwx";
export type Advice =
  | "normal"
  | "random"
  | "sequential"
  | "dontneed"
  | "dontfork"
  | "dofork"
  | "mergeable"
  | "unmergeable"
  | "hugepage"
  | "nohugepage"
  | "dontdump"
  | "dodump"
  | "wipeonfork"
  | "keeponfork";

/** PROT_* bits of each protection (PROT_WRITE implies PROT_READ here, as on x86). */
export const PROT: Record<Prot, number> = { none: 0, r: 1, rw: 3, rx: 5, rwx: 7 };
/** MADV_* values of each advice. */
export const ADVICE: Record<Advice, number> = {
  normal: 0,
  random: 1,
  sequential: 2,
  dontneed: 4,
  dontfork: 10,
  dofork: 11,
  mergeable: 12,
  unmergeable: 13,
  hugepage: 14,
  nohugepage: 15,
  dontdump: 16,
  dodump: 17,
  wipeonfork: 18,
  keeponfork: 19,
};
