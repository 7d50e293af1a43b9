// `vmalab playground`: serves the built playground (dist/playground) on localhost.

import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { serveFolder } from "../static-server.js";

/** The built playground. */
export const PLAYGROUND_DIR = fileURLToPath(new URL("../playground/", import.meta.url));

/** Starts the server on `port` (0: any free one); resolves with its URL and server. */
export function servePlayground(port = 0, host = "127.0.0.1"): Promise<{ url: string; server: Server }> {
  return serveFolder(PLAYGROUND_DIR, port, host);
}
