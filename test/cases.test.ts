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

test("the two hosts differ where the zero page matters: 18 cases, fork-9 in its VMA boundaries", () => {
  const differ = names.filter((n) => JSON.stringify(runCase(n, "6.18").want) !== JSON.stringify(runCase(n, "6.18-nozero").want));
  expect(differ).toHaveLength(18);
  expect(differ).toContain("fork-9");
});
