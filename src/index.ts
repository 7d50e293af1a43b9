// vmalab's public API.
export { RangeMap } from "./rangemap.js";
export type { RangeEntry, GapOptions } from "./rangemap.js";
export { Core, MAX_PAGE, VmalabError, sharedCore } from "./wasm.js";
export { VERSION } from "./version.js";
