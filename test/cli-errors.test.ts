import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { System } from "../src/index.js";
import { tempDir } from "./support/temp.js";

const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
const vmalab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
const COMMANDS = ["scenario", "kernel-check", "host", "compare", "explain", "record", "corpus", "trace", "workload", "playground", "generate", "demo"];
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at /);

describe("the command line as a user meets it", () => {
  test("every subcommand answers --help and -h with its own usage, exit 0", () => {
    for (const c of COMMANDS) {
      for (const flag of ["--help", "-h"]) {
        const r = vmalab(c, flag);
        expect(r.status, `${c} ${flag}: ${r.stderr}`).toBe(0);
        expect(r.stdout.startsWith(`  vmalab ${c}`), `${c} ${flag}`).toBe(true);
        expect(r.stdout).not.toContain("vmalab --version");
      }
    }
  });

  test("an unknown option gets that subcommand's usage, exit 2", () => {
    const r = vmalab("trace", "--bogus", "x");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vmalab: Unknown option '--bogus'/);
    expect(r.stderr).toContain("  vmalab trace FILE");
    expect(r.stderr).not.toContain("vmalab workload NAME");
  });

  test("a file that cannot be read is named, with why", () => {
    const dir = tempDir("vmalab-cli-");
    for (const [args, code, why] of [
      [["scenario", dir], "EISDIR", "is a directory"],
      [["scenario", join(dir, "none.txt")], "ENOENT", "no such file"],
      [["compare", "--scenario", dir], "EISDIR", "is a directory"],
      [["trace", join(dir, "none.trace")], "ENOENT", "no such file"],
      [["explain", dir], "EISDIR", "is a directory"],
    ] as const) {
      const r = vmalab(...args);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(`vmalab: ${code}: `);
      expect(r.stderr).toContain(why);
      noStack(r.stderr);
    }
  });

  test("an output that cannot be written is said before the run, not after it", () => {
    const r = vmalab("workload", "mixed", "--ops", "10", "--quiet", "--scenario-out", "/nonexistent/dir/x.txt");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("vmalab: ENOENT: /nonexistent/dir/x.txt: cannot write: no such file\n");
    expect(r.stdout).toBe("");
  });

  test("stray arguments and out-of-range numbers are refused", () => {
    expect(vmalab("generate", "random", "1", "extra").stderr).toMatch(/^vmalab: generate takes FAMILY SEED, and not 'extra'/);
    const demo = vmalab("demo", "--ranges", "1e12");
    expect(demo.status).toBe(2);
    expect(demo.stderr).toMatch(/^vmalab: --ranges takes a whole number from 1 to 10000000, got '1e12'/);
  });

  test("control characters in an input are escaped in the message", () => {
    const dir = tempDir("vmalab-cli-");
    const file = join(dir, "bad.txt");
    writeFileSync(file, "mmap 1 1 \u001b[31mrw anon\n");
    const r = vmalab("scenario", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("\\x1b[31mrw");
    expect(r.stderr).not.toContain("\u001b");
  });

  test("two threads of a trace that clone each other end nowhere near a stack overflow", () => {
    const dir = tempDir("vmalab-cli-");
    const file = join(dir, "cycle.trace");
    writeFileSync(
      file,
      "100 clone(child_stack=NULL, flags=CLONE_VM|CLONE_THREAD) = 101\n101 clone(child_stack=NULL, flags=CLONE_VM|CLONE_THREAD) = 100\n" +
        "101 mmap(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000\n",
    );
    const r = vmalab("trace", file);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("threads 2");
  });
});

test("maxMapCount is a whole number from 1 to 2^31 - 1", () => {
  for (const bad of [-1, Number.NaN, 1.5, 0, 2 ** 31]) {
    expect(() => System.createSync({ maxMapCount: bad }), String(bad)).toThrow(/EINVAL: maxMapCount must be a whole number/);
  }
  expect(System.createSync({ maxMapCount: 3 }).process(0)).toBeDefined();
});
