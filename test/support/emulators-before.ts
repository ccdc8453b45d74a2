/**
 * tap's `before` script (package.json): starts this run's emulator keeper, detached, and returns
 * once it has written its record, so test files find it (see shared.ts). The keeper starts
 * every emulator at once when CUPBEARER_EMULATORS=eager (as `npm test` sets it: the whole suite
 * needs them all), otherwise each when a file first asks.
 */
import { spawn } from "node:child_process";
import { openSync } from "node:fs";
import { join } from "node:path";
import { readRecord, recordPath } from "./shared-state.js";
import { waitFor } from "./wait.js";

const KEEPER = join(import.meta.dirname, "emulator-keeper.ts");

const runner = process.ppid;
const path = recordPath(runner);
const logFile = `${path}.log`;
const out = openSync(logFile, "w");

// The TypeScript loader, without tap's coverage and process-info hooks: the keeper outlives no
// test but is no test either.
const execArgv = process.execArgv.filter(
  (a) => !a.includes("@tapjs/processinfo") && !a.includes("@tapjs/mock"),
);
const env = { ...process.env };
for (const key of Object.keys(env)) {
  if (key.startsWith("_TAPJS_") || key === "NODE_V8_COVERAGE" || key === "NODE_OPTIONS") delete env[key];
}
const mode = process.env.CUPBEARER_EMULATORS === "eager" ? "eager" : "lazy";
const keeper = spawn(process.execPath, [...execArgv, KEEPER, path, String(runner), mode], {
  detached: true, // its own process group: the after script can stop it and all it started
  stdio: ["ignore", out, out],
  env,
});
keeper.unref();

await waitFor(
  `the emulator keeper (pid ${keeper.pid}) to write ${path}; its log: ${logFile}`,
  () => (readRecord(path)?.keeper === keeper.pid ? true : undefined),
  { timeoutMs: 30_000, intervalMs: 50 },
);
