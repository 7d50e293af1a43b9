import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { runScenario, type ScenarioRecord, System } from "../src/index.js";
import { hostProfile, kernelCheck } from "../src/kernel/check.js";
import { thpCapable } from "../src/kernel/host.js";
import { CASES_DIR, kernelRecords, normalize } from "./support/cases.js";

const cli = new URL("../dist/cli/main.js", import.meta.url).pathname;
const vmalab = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

describe("without the shared zero page", () => {
  test("a read fault of private anonymous memory allocates a folio in the VMA's anon_vma", () => {
    const sys = System.createSync({ zeroPage: false });
    const p = sys.process(0);
    p.mmap(100, 4, "r");
    p.touch(100, 2, "r");
    const [v] = p.vmas();
    expect(v.anonPages).toBe(2);
    expect(v.anonVma).not.toBe(0);
    expect(sys.rmap(0, 101).mappings).toEqual([[0, 101]]);
    sys.checkInvariants();
  });

  test("with it, the same read maps the zero page: no anonymous page, no anon_vma", () => {
    const p = System.createSync().process(0);
    p.mmap(100, 4, "r");
    p.touch(100, 2, "r");
    expect(p.vmas()[0]).toMatchObject({ anonPages: 0, anonVma: 0 });
  });

  test("reads of shared and file mappings still map page-cache pages", () => {
    const sys = System.createSync({ zeroPage: false });
    const p = sys.process(0);
    p.mmap(100, 4, "rw", { kind: "shared-anon" });
    p.mmap(200, 4, "r", { kind: "file", name: "f0", pgoff: 0 });
    p.touch(100, 4, "r");
    p.touch(200, 4, "r");
    expect(p.vmas().map((v) => v.anonPages)).toEqual([0, 0]);
  });

  test("a read-faulted page is shared with a fork child and copied on the child's write", () => {
    const sys = System.createSync({ zeroPage: false });
    const p = sys.process(0);
    p.mmap(100, 2, "rw");
    p.touch(100, 2, "r");
    const c = p.fork(1);
    expect(sys.rmap(0, 100).mappings).toEqual([[0, 100], [1, 100]]);
    c.touch(100, 1, "w");
    expect(sys.rmap(0, 100).mappings).toEqual([[0, 100]]);
    expect(sys.rmap(1, 100).mappings).toEqual([[1, 100]]);
    sys.checkInvariants();
  });

  test("the anon_vma a read gives keeps two pieces apart that merge on a host with the zero page", () => {
    // Pieces read-faulted apart get anon_vmas of their own: they cannot merge when made alike.
    const text = "mmap 100 8 rw anon\nmadvise 104 4 dontdump\ntouch 100 1 r\ntouch 104 1 r\nmadvise 104 4 dodump\ndump\n";
    const count = (opts: { zeroPage?: boolean }) => {
      const [d] = runScenario(text, opts);
      return "vmas" in d ? d.vmas.length : -1;
    };
    expect(count({})).toBe(1);
    expect(count({ zeroPage: false })).toBe(2);
  });
});

test("vmalab scenario --no-zero-page prints what the kernel without the zero page printed", () => {
  const r = vmalab("scenario", "--json", "--no-zero-page", `${CASES_DIR}fork-9.txt`);
  expect(r.status, r.stderr).toBe(0);
  const [, ...records] = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as ScenarioRecord);
  expect(normalize(records)).toEqual(normalize(kernelRecords("fork-9", "6.18-nozero")));
});

test("overcommit never: MAP_NORESERVE is not honoured (accounted, no nr)", () => {
  const flags = (overcommit: "heuristic" | "never") => {
    const p = System.createSync({ overcommit }).process(0);
    p.mmap(100, 4, "rw", { kind: "anon" }, { noreserve: true });
    return p.vmas()[0].flags.split(" ");
  };
  expect(flags("heuristic")).toContain("nr");
  expect(flags("heuristic")).not.toContain("ac");
  expect(flags("never")).toContain("ac");
  expect(flags("never")).not.toContain("nr");
  expect(() => System.createSync({ overcommit: "sometimes" as "never" })).toThrow(/overcommit/);
});

test("THP: a private anonymous VMA may hold a huge page where it covers an aligned 2 MiB run (hg in madvise mode)", () => {
  const vma = (start: number, end: number, flags: string) => [start, end, "rw-p", "anon", 0, flags] as [number, number, string, string, number, string];
  const vmas = [vma(0, 1024, "rd wr hg"), vma(1024, 1500, "rd wr hg"), vma(1536, 2100, "rd wr"), vma(2560, 3072, "rd wr hg nh")];
  expect(thpCapable(vmas, "madvise").map((v) => v[0])).toEqual([0]);
  expect(thpCapable(vmas, "always").map((v) => v[0])).toEqual([0, 1536]);
  expect(thpCapable(vmas, "never")).toEqual([]);
});

// The probe against what /proc and /sys show, on whichever host runs the tests.
describe.runIf(process.platform === "linux")("the host profile", () => {
  const host = hostProfile();
  const sysctl = (name: string) => Number(readFileSync(`/proc/sys/vm/${name}`, "utf8"));

  test("vmalab host --json prints the profile", () => {
    const r = vmalab("host", "--json");
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(host);
  });

  test("sysctls and THP mode as /proc and /sys show them", () => {
    expect(host.maxMapCount).toBe(sysctl("max_map_count"));
    expect(host.mmapMinAddr).toBe(sysctl("mmap_min_addr"));
    expect(host.overcommit).toBe(["heuristic", "always", "never"][sysctl("overcommit_memory")]);
    const thp = readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8");
    expect(thp).toContain(`[${host.thp}]`);
  });

  test("the zero page as the kernel command line sets it, and as a read fault shows it", () => {
    expect(host.zeroPage).toBe(!readFileSync("/proc/cmdline", "utf8").includes("pvm_no_zero_page"));
    const r = kernelCheck("mmap 0 2 r anon\ntouch 0 1 r\ndump\n", "read-fault");
    expect(r.pass, r.difference).toBe(true);
    const [dump] = r.kernel;
    expect("vmas" in dump && dump.vmas[0][4]).toBe(host.zeroPage ? 0 : 1);
  });

  test("kernel-check names the VMAs that THP may back instead of a bare mismatch", () => {
    // One write into a 2 MiB-aligned, 2 MiB-sized MADV_HUGEPAGE region: a huge page where THP allows one.
    const r = kernelCheck("mmap 0 1024 rw anon\nmadvise 0 1024 hugepage\ntouch 0 1 w\ndump\n", "thp");
    if (r.pass) expect(host.thp === "never" || r.kernel.some((k) => "vmas" in k && k.vmas[0][4] === 1)).toBe(true);
    else expect(r.thp, r.difference).toEqual(["[0, 1024)"]);
  });
});
