#!/usr/bin/env node
/** The `cupbearer` bin: runs the command line (src/cli/main.ts) and exits with its code. */
import { main } from "./cli/main.js";

// exitCode rather than exit(), so output written to a pipe is flushed first; the unref'd timer
// only ends a process that something (a stuck socket) would otherwise keep alive.
const exitWith = (code: number) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
};
main(process.argv.slice(2)).then(exitWith, (err: unknown) => {
  process.stderr.write(`cupbearer: ${(err as Error).message}\n`);
  exitWith(1);
});
