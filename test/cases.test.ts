import { describe, expect, test } from "vitest";
import { caseNames, KERNELS, type KernelName, runCase } from "./support/cases.js";

// Every scenario of test/cases must reproduce what each real kernel produced,
// run with the options of that kernel's host, whatever host runs the tests.
const names = caseNames();
for (const kernel of Object.keys(KERNELS) as KernelName[]) {
  describe(`real-kernel cases (test/cases/${kernel})`, () => {
    for (const name of names) {
      test(name, () => {
        const { got, want } = runCase(name, kernel);
        expect(got).toEqual(want);
      });
    }
  });
}

// What changed between the kernel lines, each case where the real kernels end differently, and why.
const VERSION_DIFFERENCES: Record<string, { "6.12": boolean; "6.1": boolean; why: string }> = {
  "merge-selftest-mprotect_unfaulted_left": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f: an unfaulted target no longer refuses a faulted range" },
  "merge-selftest-mprotect_unfaulted_right": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "merge-selftest-mprotect_unfaulted_both": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "merge-selftest-mprotect_unfaulted_left_faulted_right": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "merge-selftest-mprotect_faulted_left_unfaulted_right": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "jit-8": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "splitfault-3": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "splitfault-6": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "madvise-9": { "6.12": true, "6.1": true, why: "6.16, 879bca0a2c4f" },
  "mremap-2": { "6.12": true, "6.1": true, why: "6.17, d23cb648e365: mremap checks the overlap before the VMA (EINVAL, was EFAULT)" },
  "file-6": { "6.12": true, "6.1": true, why: "6.17, d23cb648e365: a move that crosses its VMA's end fails before it unmaps the destination" },
  "jit-2": { "6.12": false, "6.1": true, why: "6.7: mprotect making an unfaulted anonymous VMA read-only unaccounts it (VM_ACCOUNT)" },
  "jit-3": { "6.12": false, "6.1": true, why: "6.7: VM_ACCOUNT" },
  "jit-6": { "6.12": false, "6.1": true, why: "6.7: VM_ACCOUNT" },
  "jit-7": { "6.12": false, "6.1": true, why: "6.7: VM_ACCOUNT" },
  "random-2": { "6.12": false, "6.1": true, why: "6.7: VM_ACCOUNT" },
  "rmap-1": { "6.12": false, "6.1": true, why: "6.7: VM_ACCOUNT" },
};

for (const line of ["6.12", "6.1"] as const) {
  test(`Linux ${line} ends differently from 6.18 in exactly the cases the changes since explain`, () => {
    const differ = names.filter((n) => JSON.stringify(runCase(n, line).want) !== JSON.stringify(runCase(n, "6.18").want));
    const expected = Object.entries(VERSION_DIFFERENCES)
      .filter(([, d]) => d[line])
      .map(([n]) => n)
      .sort();
    expect(differ.sort()).toEqual(expected);
    // And the simulator under 6.18's rules gets each of them wrong: the version matters there.
    for (const n of differ) expect(runCase(n, "6.18").got, n).not.toEqual(runCase(n, line).want);
  });
}

test("the two hosts differ where the zero page matters: 18 cases, fork-9 in its VMA boundaries", () => {
  const differ = names.filter((n) => JSON.stringify(runCase(n, "6.18").want) !== JSON.stringify(runCase(n, "6.18-nozero").want));
  expect(differ).toHaveLength(18);
  expect(differ).toContain("fork-9");
});
