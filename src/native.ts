// The C helpers the package ships as source (native/NAME.c), compiled with
// the system C compiler on first use and cached per user, keyed by the
// source's hash.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export class NativeHelperError extends Error {}

/** Where compiled helpers and what they found are kept, per user. */
export function cacheDir(): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "vmalab");
}

/**
 * The path of helper `name` compiled for this machine (with `linkStatic`, a
 * static binary that runs in a bare initramfs); `what` names the command
 * that needs it in errors.
 */
export function nativeBinary(name: string, what: string, linkStatic = false): string {
  if (process.platform !== "linux") throw new NativeHelperError(`${what} needs Linux (this is ${process.platform})`);
  const source = new URL(`../native/${name}.c`, import.meta.url);
  const text = readFileSync(source);
  const hash = createHash("sha256").update(text).digest("hex").slice(0, 16);
  const dir = cacheDir();
  const bin = join(dir, `${name}${linkStatic ? "-static" : ""}-${hash}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const cc = process.env.CC ?? "cc";
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync(cc, ["-O2", "-Wall", ...(linkStatic ? ["-static"] : []), "-o", tmp, source.pathname], { encoding: "utf8" });
  if (r.error) throw new NativeHelperError(`${what} needs a C compiler: running '${cc}' failed (${r.error.message}); install gcc or set CC`);
  if (r.status !== 0) throw new NativeHelperError(`compiling ${name}.c with '${cc}' failed:\n${r.stderr}`);
  renameSync(tmp, bin);
  return bin;
}
