// The browser has no files: the playground hands the core over with useCoreModule().
export function readFileSync(): never {
  throw new Error("no file system in the browser");
}
