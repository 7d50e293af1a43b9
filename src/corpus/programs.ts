// The corpus: real programs recorded under a real load with `record --check`
// (perf trace with page faults, and the kernel's snapshots). Each driver
// starts its program, drives it, and stops it so that every process exits
// and is checked. Drivers install nothing: each names the Debian packages it
// needs, and says so when a command is missing.

import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compare } from "../compare.js";
import { htmlReport } from "../report/html.js";
import { serveFolder } from "../static-server.js";
import { startRecording } from "../trace/record.js";
import { VmalabError } from "../wasm.js";

export interface CorpusProgram {
  name: string;
  /** What is recorded, in a line. */
  summary: string;
  /** The Debian packages whose commands it runs. */
  packages: string[];
  /** The commands it needs on PATH (or absolute). */
  commands: string[];
  /** Records the program into `out` (a .trace.gz); resolves with its version. */
  record(out: string): Promise<string>;
}

/** Runs a command to its end; its output, or an error naming it. */
function run(cmd: string, args: string[], opts: { user?: string; cwd?: string; input?: string } = {}): string {
  const [c, a] = opts.user ? ["runuser", ["-u", opts.user, "--", cmd, ...args]] : [cmd, args];
  const r = spawnSync(c, a, { cwd: opts.cwd, input: opts.input, encoding: "utf8", maxBuffer: 1 << 26 });
  if (r.error) throw new VmalabError("ENOENT", `corpus: running ${cmd} failed: ${r.error.message}`);
  if (r.status !== 0) throw new VmalabError("EIO", `corpus: ${cmd} ${args.join(" ")} exited with ${r.status}: ${(r.stderr || r.stdout).trim().slice(-400)}`);
  return r.stdout;
}

const firstLine = (text: string) => text.trim().split("\n")[0];

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** Polls `ready` every 100 ms until it holds; an error after `seconds`. */
async function waitFor(what: string, ready: () => boolean, seconds = 30): Promise<void> {
  for (let i = 0; i < seconds * 10; i++) {
    if (ready()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new VmalabError("ETIMEDOUT", `corpus: ${what} did not come up in ${seconds} s`);
}

/** Records a server: starts it under the recorder, waits until it answers, drives it, stops it, waits for the recording. */
async function recordServer(
  out: string,
  program: { name: string; version: string; cmd: string; args: string[] },
  ready: () => boolean,
  drive: () => Promise<void> | void,
  stop: () => void,
): Promise<string> {
  const done = startRecording(program.cmd, program.args, out, { check: true, program: program.name, version: program.version });
  let failed = false;
  done.catch(() => (failed = true));
  try {
    await waitFor(program.name, () => failed || ready());
    if (!failed) await drive();
  } finally {
    if (!failed) stop();
  }
  await done;
  return program.version;
}

const redis: CorpusProgram = {
  name: "redis",
  summary: "redis-server (jemalloc) under redis-benchmark: values of 100 B to 64 KiB, lists and sets, a BGSAVE fork, FLUSHALL and MEMORY PURGE, refill",
  packages: ["redis-server", "redis-tools"],
  commands: ["redis-server", "redis-benchmark", "redis-cli"],
  async record(out) {
    const port = String(await freePort());
    const dir = mkdtempSync(join(tmpdir(), "vmalab-redis-"));
    const cli = (...args: string[]) => run("redis-cli", ["-p", port, ...args]);
    const bench = (...args: string[]) => run("redis-benchmark", ["-p", port, "-q", ...args]);
    try {
      const version = /v=([\d.]+)/.exec(run("redis-server", ["--version"]))?.[1] ?? "?";
      const args = ["--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
      return await recordServer(
        out,
        { name: "redis-server", version, cmd: "redis-server", args },
        () => spawnSync("redis-cli", ["-p", port, "ping"], { encoding: "utf8" }).stdout?.trim() === "PONG",
        async () => {
          for (const [size, n, keys] of [[100, 20000, 10000], [1000, 10000, 5000], [4096, 5000, 2000], [16384, 2000, 1000], [65536, 1000, 300]]) {
            bench("-t", "set,get", "-n", String(n), "-d", String(size), "-r", String(keys));
          }
          bench("-t", "lpush,lpop,sadd,spop,lrange_100", "-n", "20000");
          cli("bgsave");
          await waitFor("BGSAVE", () => !/rdb_bgsave_in_progress:1/.test(cli("info", "persistence")));
          cli("flushall");
          cli("memory", "purge");
          bench("-t", "set", "-n", "10000", "-d", "2000", "-r", "5000");
        },
        () => cli("shutdown", "nosave"),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/**
 * The SQLite amalgamation (sqlite3.c, about 270,000 lines): where
 * VMALAB_SQLITE_DIR points, e.g. the deps/sqlite3 folder of the
 * better-sqlite3 package's tarball (`npm pack better-sqlite3@12`).
 */
function sqliteDir(): string {
  const dir = process.env.VMALAB_SQLITE_DIR;
  if (!dir || !existsSync(join(dir, "sqlite3.c"))) {
    throw new VmalabError(
      "ENOENT",
      "corpus build: set VMALAB_SQLITE_DIR to a folder with the SQLite amalgamation (sqlite3.c, sqlite3.h), for example:\n" +
        "  npm pack better-sqlite3@12 && tar xzf better-sqlite3-*.tgz package/deps/sqlite3 && export VMALAB_SQLITE_DIR=$PWD/package/deps/sqlite3",
    );
  }
  return dir;
}

const build: CorpusProgram = {
  name: "build",
  summary: "make -j2 building the SQLite amalgamation (270,000 lines of C) with gcc -O2: a static library, a program linked with it and a loadable extension",
  packages: ["gcc", "make", "binutils"],
  commands: ["make", "cc", "ar"],
  async record(out) {
    const dir = mkdtempSync(join(tmpdir(), "vmalab-build-"));
    try {
      cpSync(sqliteDir(), dir, { recursive: true });
      writeFileSync(join(dir, "main.c"), '#include "sqlite3.h"\n#include <stdio.h>\nint main(void) { puts(sqlite3_libversion()); return 0; }\n');
      writeFileSync(join(dir, "ext.c"), '#include "sqlite3ext.h"\nSQLITE_EXTENSION_INIT1\nint sqlite3_ext_init(sqlite3 *db, char **e, const sqlite3_api_routines *api) { SQLITE_EXTENSION_INIT2(api); return 0; }\n');
      writeFileSync(
        join(dir, "Makefile"),
        [
          "CFLAGS = -O2 -g0",
          "all: sqlite-version ext.so",
          "libsqlite3.a: sqlite3.o",
          "\tar rcs $@ $^",
          "sqlite3.o: sqlite3.c sqlite3.h",
          "\t$(CC) $(CFLAGS) -DSQLITE_OMIT_LOAD_EXTENSION=0 -c sqlite3.c -o $@",
          "sqlite-version: main.c libsqlite3.a",
          "\t$(CC) $(CFLAGS) main.c libsqlite3.a -lm -o $@",
          "ext.so: ext.c",
          "\t$(CC) $(CFLAGS) -fPIC -shared ext.c -o $@",
          "",
        ].join("\n"),
      );
      const version = firstLine(run("cc", ["--version"]));
      const status = await startRecording("make", ["-j2", "-C", dir], out, { check: true, program: "make -j2 (gcc)", version });
      if (status !== 0) throw new VmalabError("EIO", `corpus build: make exited with ${status}`);
      return version;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** Debian's python3: its standard library is what it compiles. */
const PYTHON = "/usr/bin/python3";

const python: CorpusProgram = {
  name: "python",
  summary: "python3 -m compileall -j2 over a copy of its standard library (a process pool of forked workers)",
  packages: ["python3"],
  commands: [PYTHON],
  async record(out) {
    const version = firstLine(run(PYTHON, ["--version"]));
    const stdlib = run(PYTHON, ["-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"]).trim();
    const dir = mkdtempSync(join(tmpdir(), "vmalab-python-"));
    try {
      // A part of the library keeps the recording small; the pool still forks its workers.
      for (const name of ["email", "json", "http", "xml", "asyncio", "unittest", "logging", "importlib", "concurrent", "urllib"]) {
        cpSync(join(stdlib, name), join(dir, name), { recursive: true, filter: (src) => !src.includes("__pycache__") && !src.includes("/test") });
      }
      const status = await startRecording(PYTHON, ["-m", "compileall", "-q", "-j2", dir], out, { check: true, program: "python3", version });
      if (status !== 0) throw new VmalabError("EIO", `corpus python: compileall exited with ${status}`);
      return version;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

/** TypeScript's compiler, from the project this runs in (a development checkout has it). */
function tscPath(): string {
  const tsc = join(process.cwd(), "node_modules", "typescript", "bin", "tsc");
  if (!existsSync(tsc)) throw new VmalabError("ENOENT", `corpus node: run it in a checkout of vmalab with its dev dependencies (no ${tsc})`);
  return tsc;
}

const node: CorpusProgram = {
  name: "node",
  summary: "node running tsc (TypeScript's compiler) over vmalab's own sources",
  packages: ["nodejs"],
  commands: [process.execPath],
  async record(out) {
    const version = process.version;
    const status = await startRecording(process.execPath, [tscPath(), "-p", "tsconfig.json", "--noEmit"], out, { check: true, program: "node (tsc)", version });
    if (status !== 0) throw new VmalabError("EIO", `corpus node: tsc exited with ${status}`);
    return version;
  },
};

/** Debian's PostgreSQL server binaries (the newest installed major version). */
function pgBin(): string {
  const root = "/usr/lib/postgresql";
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, "bin", "postgres"))) : [];
  if (majors.length === 0) throw new VmalabError("ENOENT", "corpus postgres: no PostgreSQL server (Debian: apt-get install postgresql)");
  return join(root, majors.sort((a, b) => Number(b) - Number(a))[0], "bin");
}

const postgres: CorpusProgram = {
  name: "postgres",
  summary: "PostgreSQL under pgbench: a postmaster forking a backend per connection, shared memory, 4 clients for 10 s",
  packages: ["postgresql", "postgresql-contrib"],
  commands: ["pgbench", "runuser"],
  async record(out) {
    const bin = pgBin();
    const version = firstLine(run(join(bin, "postgres"), ["--version"]));
    const port = String(await freePort());
    const dir = mkdtempSync(join(tmpdir(), "vmalab-pg-"));
    const data = join(dir, "data");
    try {
      run("chown", ["postgres", dir]);
      run(join(bin, "initdb"), ["-D", data, "-A", "trust", "-U", "postgres"], { user: "postgres" });
      const pg = (cmd: string, ...args: string[]) => run(cmd, ["-h", dir, "-p", port, "-U", "postgres", ...args], { user: "postgres" });
      // runuser execs the server: the recording starts from the postgres binary's own execve.
      const args = ["-u", "postgres", "--", join(bin, "postgres"), "-D", data, "-k", dir, "-p", port, "-c", "listen_addresses="];
      return await recordServer(
        out,
        { name: "postgres", version, cmd: "runuser", args },
        () => spawnSync(join(bin, "pg_isready"), ["-h", dir, "-p", port], { stdio: "ignore" }).status === 0,
        () => {
          pg("pgbench", "-i", "-s", "4", "postgres");
          pg("pgbench", "-c", "4", "-j", "2", "-T", "10", "postgres");
        },
        () => run(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "stop"], { user: "postgres" }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

const CHROMIUM = process.env.CHROMIUM ?? "chromium";

const browser: CorpusProgram = {
  name: "browser",
  summary: "chromium (headless) loading vmalab's HTML report and playground: a zygote forking renderers, V8 heaps, JIT code",
  packages: ["chromium"],
  commands: [CHROMIUM],
  async record(out) {
    const version = firstLine(run(CHROMIUM, ["--version"]));
    const dir = mkdtempSync(join(tmpdir(), "vmalab-browser-"));
    const site = join(dir, "site");
    cpSync(fileURLToPath(new URL("../playground/", import.meta.url)), join(site, "playground"), { recursive: true });
    const runs = await compare({ workload: { name: "forkmerge", seed: 1, ops: 300 }, parallel: false });
    writeFileSync(join(site, "report.html"), await htmlReport(runs, "vmalab corpus: a report for the browser to load"));
    const example = new URLSearchParams({ k: "40", s: "mmap 100 8 rw anon\ntouch 100 8 w\nfork 1\nproc 1\nmprotect 102 2 r\ntouch 104 2 w\n" });
    writeFileSync(
      join(site, "index.html"),
      `<!doctype html><title>vmalab corpus</title><iframe src="report.html" width="1200" height="900"></iframe>` +
        `<iframe src="playground/#${example}" width="1200" height="900"></iframe>`,
    );
    const { url, server } = await serveFolder(site);
    try {
      const args = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", `--user-data-dir=${join(dir, "profile")}`,
        "--virtual-time-budget=8000", "--dump-dom", `${url}index.html`,
      ];
      const status = await startRecording(CHROMIUM, args, out, { check: true, program: "chromium", version });
      if (status !== 0) throw new VmalabError("EIO", `corpus browser: chromium exited with ${status}`);
      return version;
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};

export const CORPUS: CorpusProgram[] = [redis, build, browser, postgres, python, node];

/** The programs named (all of them for none); an error naming what is unknown. */
export function corpusPrograms(names: string[]): CorpusProgram[] {
  if (names.length === 0) return CORPUS;
  return names.map((n) => {
    const p = CORPUS.find((c) => c.name === n);
    if (!p) throw new VmalabError("EINVAL", `unknown corpus program '${n}' (known: ${CORPUS.map((c) => c.name).join(", ")})`);
    return p;
  });
}

/** The commands a program needs that are not here, with the packages that bring them. */
export function missingCommands(p: CorpusProgram): string[] {
  return p.commands.filter((c) => (c.startsWith("/") ? !existsSync(c) : spawnSync("sh", ["-c", `command -v ${c}`]).status !== 0));
}
