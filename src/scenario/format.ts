// An op as a scenario line: what parseScenario reads back as the same op.

import type { Backing } from "../system.js";
import type { Op } from "./parse.js";

/** A backing as a scenario KIND word. */
export function backingWord(b: Backing): string {
  if (b.kind !== "file") return b.kind;
  return `${b.shared ? "shared-" : ""}file:${b.name}@${b.pgoff}`;
}

export function formatOp(op: Op): string {
  switch (op.op) {
    case "mmap": {
      const o = op.opts;
      const words = [o.noreserve && "noreserve", o.populate && "populate", o.growsdown && "growsdown", o.stack && "stack"].filter(Boolean);
      return `mmap ${op.start} ${op.pages} ${op.prot} ${backingWord(op.backing)}${words.map((w) => ` ${w}`).join("")}`;
    }
    case "munmap":
      return `munmap ${op.start} ${op.pages}`;
    case "mprotect":
      return `mprotect ${op.start} ${op.pages} ${op.prot}`;
    case "madvise":
      return `madvise ${op.start} ${op.pages} ${op.advice}`;
    case "mremap": {
      const o = op.opts;
      const words = [o.maymove && "maymove", o.fixed !== undefined && `fixed=${o.fixed}`, o.dontunmap && "dontunmap"].filter(Boolean);
      return `mremap ${op.start} ${op.oldPages} ${op.newPages}${words.map((w) => ` ${w}`).join("")}`;
    }
    case "touch":
      return `touch ${op.start} ${op.pages} ${op.access}`;
    case "restore": {
      const anon = op.anon.length ? ` anon=${op.anon.map(([s, n]) => `${s}+${n}`).join(",")}` : "";
      return `restore ${op.start} ${op.pages} ${op.vmFlags.split(" ").filter(Boolean).join(",") || "-"} ${backingWord(op.backing)}${anon}`;
    }
    case "rmap":
      return `rmap ${op.page}`;
    case "fork":
    case "spawn":
      return `${op.op} ${op.child}`;
    case "proc":
      return `proc ${op.id}`;
    default:
      return op.op;
  }
}
