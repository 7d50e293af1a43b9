// The files vmalab reads and writes: one error path for all of them, naming
// the file and what went wrong (no stack trace, no Node error text alone).

import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { VmalabError } from "./wasm.js";

const WHY: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, not a file",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a directory",
  EIO: "the file cannot be read (an I/O error)",
  EINVAL: "the file cannot be read",
  ENAMETOOLONG: "the name is too long",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
};

function fileError(err: unknown, path: string, what: string): never {
  const code = (err as NodeJS.ErrnoException).code ?? "EIO";
  throw new VmalabError(code, `${path}: ${what}: ${WHY[code] ?? (err as Error).message}`);
}

/** A file's bytes; a clear error naming it when it cannot be read. */
export function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    return fileError(err, path, "cannot read");
  }
}

/** A text file's contents (see readBytes). */
export function readInput(path: string): string {
  return readBytes(path).toString("utf8");
}

/** Checks that `path` can be written (creating it empty) before a long run writes it. */
export function checkOutput(path: string): void {
  try {
    closeSync(openSync(path, "w"));
  } catch (err) {
    fileError(err, path, "cannot write");
  }
}

/** Writes a file; a clear error naming it when it cannot be written. */
export function writeOutput(path: string, data: string | Uint8Array): void {
  try {
    writeFileSync(path, data);
  } catch (err) {
    fileError(err, path, "cannot write");
  }
}
