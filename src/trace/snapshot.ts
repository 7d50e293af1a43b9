// Snapshots of the kernel's own view of a traced process (written by
// native/snapshot-helper.c into a recording): right after each execve, the
// layout execve built; when each process is about to exit, what the replay
// must have reproduced. Pages throughout, as in scenarios.

import { quoted } from "../quote.js";
import { TraceSyntaxError } from "./events.js";

const PAGE = 4096;

export interface SnapshotVma {
  start: number;
  end: number;
  /** The maps permission column: rwx and p or s. */
  perms: string;
  /** The file offset in pages (0 for anonymous memory). */
  pgoff: number;
  /** The inode number: 0 for anonymous and special mappings. */
  inode: number;
  /** The path column: a file, [stack], [heap], [vdso], [vvar]... or "". */
  path: string;
  /** smaps Anonymous, in pages. */
  anonPages: number;
  /** smaps VmFlags. */
  vmFlags: string;
  /** Present anonymous pages as [start, pages] runs (exec snapshots only). */
  anon: [number, number][];
}

export interface Snapshot {
  when: "exec" | "exit";
  pid: number;
  /** The line of its `snapshot` line in the recording. */
  line: number;
  vmas: SnapshotVma[];
}

const HEAD = /^([0-9a-f]+)-([0-9a-f]+) ([r-][w-][x-][ps]) ([0-9a-f]+) [0-9a-f]+:[0-9a-f]+ (\d+)\s*(.*)$/;

/**
 * Whether a snapshot VMA is anonymous memory as a trace replay names it: no
 * file, the stack or heap, or shared anonymous memory (a shmem file smaps
 * names /dev/zero).
 */
export function isAnonymous(v: SnapshotVma): boolean {
  if (v.path === "/dev/zero (deleted)") return v.perms[3] === "s";
  return v.inode === 0 && (v.path === "" || v.path === "[stack]" || v.path === "[heap]");
}

/** Parses the snapshot lines of a recording; `first` is the file line of lines[0]. */
export function parseSnapshots(lines: string[], first: number): Snapshot[] {
  const out: Snapshot[] = [];
  let cur: Snapshot | null = null;
  lines.forEach((text, i) => {
    const line = first + i;
    const bad = (why: string): never => {
      throw new TraceSyntaxError(line, `snapshot: ${why}: ${quoted(text, 80)}`);
    };
    let m: RegExpExecArray | null;
    if ((m = /^snapshot (exec|exit) (\d+)$/.exec(text))) {
      if (cur) bad("a snapshot starts before the last one ended");
      cur = { when: m[1] as "exec" | "exit", pid: Number(m[2]), line, vmas: [] };
      return;
    }
    if (!cur) return bad("outside a snapshot");
    const vma = cur.vmas[cur.vmas.length - 1];
    if (text === "end") {
      out.push(cur);
      cur = null;
    } else if ((m = HEAD.exec(text))) {
      const [start, end, off] = [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[4], 16)];
      if (start % PAGE || end % PAGE || off % PAGE || start >= end) bad("not a page-aligned range");
      cur.vmas.push({
        start: start / PAGE,
        end: end / PAGE,
        perms: m[3],
        pgoff: off / PAGE,
        inode: Number(m[5]),
        path: m[6].trim(),
        anonPages: 0,
        vmFlags: "",
        anon: [],
      });
    } else if (!vma) {
      bad("a VMA's detail before any VMA");
    } else if ((m = /^Anonymous:\s+(\d+) kB$/.exec(text))) {
      vma.anonPages = Number(m[1]) / 4;
    } else if ((m = /^VmFlags:\s*(.*)$/.exec(text))) {
      vma.vmFlags = m[1].trim();
    } else if ((m = /^anon (.*)$/.exec(text))) {
      for (const run of m[1].split(" ")) {
        const r = /^([0-9a-f]+)-([0-9a-f]+)$/.exec(run) ?? bad("not a page run");
        const [s, e] = [parseInt(r[1], 16) / PAGE, parseInt(r[2], 16) / PAGE];
        if (!(s >= vma.start && e <= vma.end && s < e)) bad("a page run outside its VMA");
        vma.anon.push([s, e - s]);
      }
    } else {
      bad("not a snapshot line");
    }
  });
  if (cur) throw new TraceSyntaxError(first + lines.length, "snapshot: cut off before its end line");
  return out;
}
