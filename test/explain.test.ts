import { describe, expect, test } from "vitest";
import { explainScenario, setMergeLog, System, takeMergeLog } from "../src/index.js";

const SEED_000 = `mmap 100 4 rw anon
mmap 104 4 rwx anon
touch 104 1 w
mprotect 104 4 rw
`;

describe("merge explanations", () => {
  test("the log records each merge tried with both sides' results", () => {
    const sys = System.createSync({ policy: "linux-pre-6.16" });
    setMergeLog(sys, true);
    sys.runScenario(SEED_000);
    const { events, dropped } = takeMergeLog(sys);
    expect(dropped).toBe(0);
    // mmap 104 (flags differ from prev) and the mprotect (anon_vma refusal).
    expect(events.map((e) => [e.kind, e.left, e.right, e.merged])).toEqual([
      ["new range", "flags", "not adjacent", null],
      ["existing range", "anonForkedTarget", "not adjacent", null],
    ]);
    expect(events[1]).toMatchObject({
      prev: { start: 100, end: 104, anonVma: 0 },
      middle: { start: 104, end: 108, anonVma: 1 },
      range: { start: 104, end: 108, anonVma: 1 },
      next: null,
    });
    // Taking empties the log.
    expect(takeMergeLog(sys).events).toEqual([]);
  });

  test("explain draws prev | middle | next and names the rule; 6.18 merges what pre-6.16 refused", () => {
    const pre = explainScenario(SEED_000, { policy: "linux-pre-6.16", op: 3 });
    expect(pre).toContain(" prev        middle\n|-----------|***********|\n 100-104     104-108\n unfaulted   anon_vma 1");
    expect(pre).toMatch(/left {2}\(prev\): refused: anon_vma: is_mergeable_anon_vma\(\) wants list_is_singular\(\)/);
    expect(pre).toMatch(/=> no merge$/);
    const now = explainScenario(SEED_000, { op: 3 });
    expect(now).toMatch(/=> merged: prev grows over the range$/);
  });

  test("an op that tried no merge says so; a missing op is EINVAL", () => {
    expect(explainScenario("mmap 100 4 rw anon\n", { op: 0 })).toContain("no merge tried");
    expect(() => explainScenario("mmap 100 4 rw anon\n", { op: 5 })).toThrow(/EINVAL/);
  });
});
