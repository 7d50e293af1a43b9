// The files vmalab reads and writes: one error path for all of them, naming
// the file and what went wrong (no stack trace, no Node error text alone).

import { closeSync, createReadStream, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";
import { createGunzip } from "node:zlib";
import { VmalabError } from "./wasm.js";

const WHY: Record<string, string> = {
  ENOENT: "no such file",
  EISDIR: "is a directory, not a file",
  EACCES: "permission denied",
  ENOTDIR: "a part of the path is not a directory",
  EIO: "an I/O error",
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

/**
 * A file's text in chunks as it is read, gunzipped when it is gzip (by its
 * magic bytes, whatever its name): memory does not grow with the file. A
 * gzip file that ends early (or breaks off) gives what could be read, `cut`.
 */
export async function streamText(path: string, onText: (text: string) => void): Promise<{ cut: boolean }> {
  const magic = Buffer.alloc(2);
  try {
    const fd = openSync(path, "r");
    try {
      readSync(fd, magic, 0, 2, 0);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    fileError(err, path, "cannot read");
  }
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  const source = gzip ? file.pipe(createGunzip({ chunkSize: 1 << 18 })) : file;
  if (gzip) file.once("error", (err) => source.destroy(err));
  const decoder = new StringDecoder("utf8");
  let reading = true; // an error while reading is the file's; one from onText is the caller's own
  try {
    for await (const chunk of source) {
      reading = false;
      onText(decoder.write(chunk as Buffer));
      reading = true;
    }
  } catch (err) {
    if (!reading) throw err;
    if (!gzip || !String((err as NodeJS.ErrnoException).code).startsWith("Z_")) fileError(err, path, "cannot read");
    onText(decoder.end());
    return { cut: true };
  }
  onText(decoder.end());
  return { cut: false };
}

/**
 * Lines of text that comes in chunks (the last line without its newline too,
 * unless the text was cut off there). A line longer than `maxLine` goes out
 * as its first maxLine + 1 characters (the reader says it is too long), the
 * rest of it is dropped: memory stays bounded whatever the input.
 */
export function lineSplitter(line: (l: string) => void, maxLine = 1 << 20): { push(chunk: string): void; end(cut: boolean): void } {
  let rest = "";
  let skipping = false; // inside an overlong line, already handed out
  return {
    push(chunk: string) {
      let pos = 0;
      let text = chunk;
      if (rest) {
        text = rest + chunk;
        rest = "";
      }
      for (let nl = text.indexOf("\n", pos); nl >= 0; nl = text.indexOf("\n", pos)) {
        if (!skipping) line(nl - pos > maxLine ? text.slice(pos, pos + maxLine + 1) : text.slice(pos, nl));
        skipping = false;
        pos = nl + 1;
      }
      rest = text.slice(pos);
      if (!skipping && rest.length > maxLine) {
        line(rest.slice(0, maxLine + 1));
        skipping = true;
      }
      if (skipping) rest = "";
    },
    end(cut: boolean) {
      if (rest && !cut && !skipping) line(rest);
      rest = "";
    },
  };
}

/** A file's lines as it is read (see streamText); a line cut off by the end of a broken gzip stream is left out. */
export async function streamLines(path: string, onLine: (line: string) => void, maxLine?: number): Promise<{ cut: boolean }> {
  const lines = lineSplitter(onLine, maxLine);
  const r = await streamText(path, (t) => lines.push(t));
  lines.end(r.cut);
  return r;
}

/** A file written as it goes (buffered), closed by `end`; errors name it. */
export function openOutput(path: string): { write(text: string): void; end(): void } {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    return fileError(err, path, "cannot write");
  }
  const out = buffered((text) => {
    try {
      writeSync(fd, text);
    } catch (err) {
      fileError(err, path, "cannot write");
    }
  });
  return {
    write: out.write,
    end() {
      out.flush();
      closeSync(fd);
    },
  };
}

/** Text handed to `sink` in pieces of 64 KiB or more rather than a call per line; `flush` hands on the rest. */
export function buffered(sink: (text: string) => void): { write(text: string): void; flush(): void } {
  let parts: string[] = [];
  let size = 0;
  const flush = () => {
    if (parts.length) sink(parts.join(""));
    parts = [];
    size = 0;
  };
  return {
    write(text: string) {
      parts.push(text);
      size += text.length;
      if (size >= 1 << 16) flush();
    },
    flush,
  };
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
