/**
 * tap's `after` script (package.json): stops this run's emulator keeper and, with it, the
 * emulators (see shared.ts). Keeps the keeper's log, and says where, when an emulator failed.
 */
import { rmSync } from "node:fs";
import { isAlive, readRecord, recordPath } from "./shared-state.js";
import { waitFor } from "./wait.js";

const path = recordPath(process.ppid);
const record = readRecord(path);
if (record !== undefined) {
  const failed = Object.entries(record.emulators).filter(([, e]) => e.state === "failed");
  if (isAlive(record.keeper)) {
    process.kill(record.keeper, "SIGTERM");
    await waitFor(`the emulator keeper (pid ${record.keeper}) to stop`, () =>
      isAlive(record.keeper) ? undefined : true,
    ).catch((err: Error) => {
      process.stderr.write(`${err.message}: killing its process group\n`);
      try {
        process.kill(-record.keeper, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    });
  }
  rmSync(path, { force: true });
  if (failed.length > 0) {
    process.stderr.write(
      `shared emulators that failed: ${failed.map(([n]) => n).join(", ")}; see ${record.log}\n`,
    );
  } else {
    rmSync(record.log, { force: true });
  }
}
