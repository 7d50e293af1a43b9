import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { kernelCheck, kernelCheckImage } from "../src/kernel/check.js";
import { FAMILIES, generateScenario } from "../src/scenario/generate.js";
import { caseNames, caseText } from "./support/cases.js";

// Generated scenarios, run on this machine's kernel and on the simulator:
// fixed seeds (the same every run, so a regression shows at once) and fresh
// ones (the seed changes every run; VMALAB_SEED replays one). A failure prints
// the scenario so it can be kept as a case.
const SEED = Number(process.env.VMALAB_SEED ?? Math.floor(Date.now() / 1000) % 1_000_000);
const PER_FAMILY = Number(process.env.VMALAB_KERNEL_CHECKS ?? 34);
/** Seeds of earlier sweeps, each run for 8 scenarios per family. */
const FIXED_SEEDS = [1, 720000, 777000];

function agree(family: (typeof FAMILIES)[number], seed: number, count: number): void {
  for (let i = 0; i < count; i++) {
    const text = generateScenario(family, seed + i);
    const r = kernelCheck(text, `${family}-${seed + i}`);
    expect(r.pass, `${r.difference}\n--- scenario ---\n${text}`).toBe(true);
  }
}

describe(`kernel-check of generated scenarios (fixed seeds ${FIXED_SEEDS.join(", ")}; fresh VMALAB_SEED=${SEED})`, () => {
  for (const family of FAMILIES) {
    test(`${family}: ${FIXED_SEEDS.length} x 8 fixed and ${PER_FAMILY} fresh scenarios agree with the kernel`, () => {
      for (const seed of FIXED_SEEDS) agree(family, seed, 8);
      agree(family, SEED, PER_FAMILY);
    });
  }
});

test("MAP_STACK gives VM_NOHUGEPAGE: a stack does not merge with a plain neighbour (kernel-check)", () => {
  const text = "mmap 100 4 rw anon stack\nmmap 104 4 rw anon\ntouch 100 8 w\nmprotect 100 8 r\ndump\n";
  const r = kernelCheck(text, "map-stack");
  expect(r.pass, r.difference).toBe(true);
  const [dump] = r.kernel.filter((x) => "dump" in x);
  expect(dump && "vmas" in dump && dump.vmas.map((v) => [v[0], v[1], v[5]])).toEqual([
    [100, 104, "rd mr mw me ac nh"],
    [104, 108, "rd mr mw me ac"],
  ]);
});

// The older kernel lines, booted under QEMU (kernel-check --kernel-image): .ci/run installs
// qemu-system-x86 and busybox-static, unpacks Debian's 6.1 and 6.12 cloud kernels and names
// their folder in VMALAB_KERNEL_IMAGES, and requires these tests to run.
const IMAGES = process.env.VMALAB_KERNEL_IMAGES;
if (!IMAGES && process.env.VMALAB_REQUIRE_VM === "1") throw new Error("VMALAB_KERNEL_IMAGES (a folder of vmlinuz-6.1*, vmlinuz-6.12*) is required here");

describe.runIf(IMAGES)("kernel-check --kernel-image: the older lines booted under QEMU", () => {
  const image = (prefix: string) => {
    const name = readdirSync(IMAGES!).find((f) => f.startsWith(`vmlinuz-${prefix}`));
    if (!name) throw new Error(`no vmlinuz-${prefix}* in ${IMAGES}`);
    return join(IMAGES!, name);
  };
  const cases = caseNames().map((name) => ({ text: caseText(name), file: `${name}.txt` }));

  for (const [line, prefix] of [["6.12", "6.12."], ["6.1", "6.1."]] as const) {
    test(`Linux ${line}: every real-kernel case, booted now, agrees with the simulator as ${line}`, { timeout: 300_000 }, () => {
      const results = kernelCheckImage(image(prefix), line, cases);
      const failed = results.map((r, i) => (r.pass ? "" : `${cases[i].file}\n${r.difference}`)).filter(Boolean);
      expect(failed, failed.join("\n")).toEqual([]);
    });
  }

  for (const [line, prefix] of [["6.12", "6.12."], ["6.1", "6.1."]] as const) {
    test(`Linux ${line}: fixed and fresh generated scenarios (VMALAB_SEED=${SEED}) agree with the simulator as ${line}`, { timeout: 600_000 }, () => {
      const scenarios = FAMILIES.flatMap((family) =>
        [...FIXED_SEEDS.map((s) => [s, 4] as const), [SEED, PER_FAMILY] as const].flatMap(([seed, count]) =>
          Array.from({ length: count }, (_, i) => ({ text: generateScenario(family, seed + i), file: `${family}-${seed + i}` })),
        ),
      );
      const results = kernelCheckImage(image(prefix), line, scenarios);
      const failed = results.map((r, i) => (r.pass ? "" : `${scenarios[i].file}\n${r.difference}\n--- scenario ---\n${scenarios[i].text}`)).filter(Boolean);
      expect(failed, failed.slice(0, 2).join("\n")).toEqual([]);
      expect(results.length).toBeGreaterThan(300);
    });
  }

  test("Linux 6.1's mmap merges with next first: a new range between two VMAs faulted apart joins next (6.12+: prev)", { timeout: 300_000 }, () => {
    // prev and next faulted apart (different anon_vmas), then the hole between them mapped alike.
    const text = "mmap 100 4 rw anon\nmmap 108 4 rw anon\ntouch 100 1 w\ntouch 108 1 w\nmmap 104 4 rw anon\ndump\n";
    const [on61, on612] = [kernelCheckImage(image("6.1."), "6.1", [{ text, file: "gap-61" }]), kernelCheckImage(image("6.12."), "6.12", [{ text, file: "gap-612" }])];
    const bounds = (r: (typeof on61)[number]) => {
      const d = r.kernel.find((x) => "dump" in x);
      return d && "vmas" in d ? d.vmas.map((v) => [v[0], v[1]]) : [];
    };
    expect(on61[0].pass, on61[0].difference).toBe(true);
    expect(on612[0].pass, on612[0].difference).toBe(true);
    expect(bounds(on61[0])).toEqual([[100, 104], [104, 112]]);
    expect(bounds(on612[0])).toEqual([[100, 108], [108, 112]]);
  });
});
