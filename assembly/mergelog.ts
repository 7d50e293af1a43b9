// The merge log behind `vmalab explain`: when on, every merge attempt that
// has an adjacent neighbour leaves a record of what was proposed (prev, the
// range and middle VMA, next, as they were) and how each side was decided.
// The API drains it after each op.

import { avId } from "./anon_vma";
import { growPages } from "./mem";
import { vmaAnonVma, vmaEnd, vmaFlags, vmaPgoff, vmaStart } from "./vma";

/** f64 fields per record (see logBegin for the layout). */
export const LOG_F64S: i32 = 24;
const LOG_CAPACITY: i32 = 4096;
const LOG_BYTES: usize = <usize>(LOG_F64S * LOG_CAPACITY) * 8;

/** Side results: the neighbour is not adjacent, or it could merge, else a REFUSE_ reason. */
export const SIDE_NOT_ADJACENT: i32 = -2;
export const SIDE_OK: i32 = -1;

let log: usize = 0;
let on = false;
let count: i32 = 0;
let dropped: u32 = 0;
let current: usize = 0;

/** Turns the log on (taking its buffer once) or off; false when there is no memory for it. */
export function mergeLogEnable(enable: bool): bool {
  if (enable && log == 0) {
    log = growPages(<i32>((LOG_BYTES + 65535) >> 16));
    if (log == 0) return false;
  }
  on = enable;
  count = 0;
  dropped = 0;
  return true;
}

@inline export function mergeLogOn(): bool { return on; }
export function mergeLogBuffer(): usize { return log; }
export function mergeLogCount(): i32 { return count; }
export function mergeLogDropped(): u32 { return dropped; }
/** Empties the log (after the API read it). */
export function mergeLogClear(): void {
  count = 0;
  dropped = 0;
}

function putVma(at: i32, v: usize): void {
  let p = current + (<usize>at << 3);
  if (v == 0) {
    for (let i = 0; i < 4; i++) store<f64>(p + (<usize>i << 3), -1);
    return;
  }
  store<f64>(p, <f64>vmaStart(v));
  store<f64>(p, <f64>vmaEnd(v), 8);
  store<f64>(p, vmaAnonVma(v) == 0 ? 0 : <f64>avId(vmaAnonVma(v)), 16);
  store<f64>(p, <f64>vmaPgoff(v), 24);
}

/**
 * Starts a record: 0 kind (0 new range, 1 existing range, 2 expand),
 * 1 result, 2 left side, 3 right side (filled by logEnd), 4-7 prev
 * (start, end, anon_vma id, pgoff; -1 when none), 8-11 the range, 12-15
 * middle, 16-19 next, 20 prev flags, 21 range flags, 22 next flags, 23 range
 * file. Flags and the file of a missing VMA are -1.
 */
export function logBegin(kind: i32, prev: usize, middle: usize, next: usize, start: u64, end: u64, anonVma: usize,
  pgoff: u64, flags: u64, file: u32): void {
  if (count == LOG_CAPACITY) {
    dropped++;
    current = 0;
    return;
  }
  current = log + <usize>(count * LOG_F64S) * 8;
  store<f64>(current, <f64>kind);
  putVma(4, prev);
  store<f64>(current, <f64>start, 64);
  store<f64>(current, <f64>end, 72);
  store<f64>(current, anonVma == 0 ? 0 : <f64>avId(anonVma), 80);
  store<f64>(current, <f64>pgoff, 88);
  putVma(12, middle);
  putVma(16, next);
  store<f64>(current, prev == 0 ? -1 : <f64>vmaFlags(prev), 160);
  store<f64>(current, <f64>flags, 168);
  store<f64>(current, next == 0 ? -1 : <f64>vmaFlags(next), 176);
  store<f64>(current, <f64>file, 184);
}

/** Ends the record: the merge kind (MERGE_*) or -1, and each side's result. */
export function logEnd(result: i32, left: i32, right: i32): void {
  if (current == 0) return;
  store<f64>(current, <f64>result, 8);
  store<f64>(current, <f64>left, 16);
  store<f64>(current, <f64>right, 24);
  // Attempts with no adjacent neighbour are not merges tried.
  if (left != SIDE_NOT_ADJACENT || right != SIDE_NOT_ADJACENT) count++;
  current = 0;
}
