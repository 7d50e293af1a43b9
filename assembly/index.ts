// The wasm ABI. Pages cross the boundary as f64 (exact up to 2^53); inside
// they are u64. Handles are u32 offsets into linear memory. Errors are
// negated kernel errno values.

import * as rm from "./rangemap";
import { growPages, injectReserveFailure, poolBytes } from "./mem";

const NONE: f64 = -1;

@inline function page(x: f64): u64 {
  return <u64>x;
}

export function rangemap_create(): u32 {
  return <u32>rm.mapCreate();
}
export function rangemap_free(m: u32): void {
  rm.mapFree(m);
}
export function rangemap_size(m: u32): u32 {
  return rm.mapSize(m);
}
export function rangemap_insert(m: u32, start: f64, end: f64, value: u32): i32 {
  return rm.insert(m, page(start), page(end), value);
}
export function rangemap_erase(m: u32, start: f64, end: f64): i32 {
  return rm.erase(m, page(start), page(end));
}
export function rangemap_update(m: u32, addr: f64, value: u32): i32 {
  return rm.update(m, page(addr), value);
}
export function rangemap_find(m: u32, addr: f64): i32 {
  return rm.find(m, page(addr));
}
export function rangemap_find_next(m: u32, addr: f64): i32 {
  return rm.findNext(m, page(addr));
}
export function rangemap_lookup(m: u32, addr: f64): i32 {
  return rm.lookup(m, page(addr));
}
export function rangemap_next(m: u32, addr: f64): i32 {
  return rm.next(m, page(addr));
}
export function rangemap_prev(m: u32, addr: f64): i32 {
  return rm.prev(m, page(addr));
}
/** Start of the range the last find_next/lookup/next/prev reported. */
export function rangemap_found_start(): f64 {
  return <f64>load<u64>(rm.FOUND);
}
export function rangemap_found_end(): f64 {
  return <f64>load<u64>(rm.FOUND, 8);
}
export function rangemap_collect(m: u32, lo: f64, hi: f64, out: u32, max: i32): i32 {
  return rm.collect(m, page(lo), page(hi), out, max);
}
export function rangemap_find_many(m: u32, addrs: u32, out: u32, n: i32): void {
  rm.findMany(m, addrs, out, n);
}
/** Start page of the lowest (or highest) fitting gap, or -1. */
export function rangemap_gap(m: u32, size: f64, lo: f64, hi: f64, align: f64, topdown: bool): f64 {
  let x = rm.gap(m, page(size), page(lo), page(hi), page(align), topdown);
  return x == rm.PAGE_END ? NONE : <f64>x;
}
export function rangemap_validate(m: u32): i32 {
  return rm.validate(m);
}

/** The buffer batch calls read and write: SCRATCH_PAGES of 64 KiB, taken once. */
const SCRATCH_PAGES: i32 = 4;
const scratch = growPages(SCRATCH_PAGES);
export function scratch_buffer(): u32 {
  return <u32>scratch;
}
export function scratch_bytes(): u32 {
  return <u32>SCRATCH_PAGES << 16;
}

export function mem_node_bytes(): f64 {
  return <f64>rm.nodeBytes();
}
export function mem_pool_bytes(): f64 {
  return <f64>poolBytes();
}
export function mem_inject_reserve_failure(n: i32): void {
  injectReserveFailure(n);
}
