import { describe, expect, test } from "vitest";
import { caseNames, runCase } from "./support/cases.js";

// Every scenario of ../shared/cases must reproduce what Linux 6.18 produced.
describe("real-kernel cases (../shared/cases)", () => {
  const names = caseNames();
  test("the cases folder is there", () => {
    expect(names.length).toBeGreaterThan(0);
  });
  for (const name of names) {
    test(name, () => {
      const { got, want } = runCase(name);
      expect(got).toEqual(want);
    });
  }
});
