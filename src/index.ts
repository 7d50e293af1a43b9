// vmalab's public API.
export { RangeMap } from "./rangemap.js";
export type { RangeEntry, GapOptions } from "./rangemap.js";
export { DEFAULT_MMAP_BASE, System, Process, POLICIES } from "./system.js";
export type { Advice, Backing, MmapOptions, MremapOptions, Prot, RmapResult, SystemOptions, VmaInfo } from "./system.js";
export type { AnonVmaGraph, AnonVmaNode, LockChain, VmaNode } from "./anon-vma.js";
export type { Metrics, MergeCounts, RefusalCounts, Spread } from "./metrics.js";
export type { AnonVmaRefusal, MergeFacts, MergeParty, MergePolicy } from "./policy.js";
export { compare } from "./compare.js";
export type { CompareOptions, PolicyRun, WorkloadSpec } from "./compare.js";
export { explainEvent, explainScenario, setMergeLog, takeMergeLog } from "./explain.js";
export type { MergeEvent, SideResult, VmaSnapshot } from "./explain.js";
export { parseScenario, ScenarioSyntaxError } from "./scenario/parse.js";
export type { Op, ScenarioOp } from "./scenario/parse.js";
export { runOps, runScenario, ScenarioRun } from "./scenario/run.js";
export type { DumpVma, ScenarioRecord } from "./scenario/run.js";
export { VM, vmFlagsString, permsString } from "./vmflags.js";
export { Core, MAX_PAGE, VmalabError, sharedCore } from "./wasm.js";
export { VERSION } from "./version.js";
