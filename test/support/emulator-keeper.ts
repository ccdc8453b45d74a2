/**
 * Keeps one tap run's shared emulators (see shared.ts). Started detached by tap's `before` script:
 *
 *   node <tap's TypeScript loader> emulator-keeper.ts RECORD RUNNER_PID eager|lazy
 *
 * It writes its record at once, then starts each emulator when a test file asks (a `.want-NAME`
 * file beside the record) or, `eager`, all of them right away; it stops them all and removes
 * the record on SIGTERM (tap's `after` script), or as soon as the tap process is gone, however
 * it ended. Its emulators die with it even if it is SIGKILLed (launchEmulator's guard).
 */
import { existsSync, rmSync } from "node:fs";
import {
  isAlive,
  recordPath,
  SHARED_NAMES,
  type SharedName,
  type SharedRecord,
  wantPath,
  writeRecord,
} from "./shared-state.js";

const [path = "", runnerArg = "", mode = "lazy"] = process.argv.slice(2);
const runner = Number(runnerArg);
if (path === "" || !Number.isInteger(runner) || runner <= 0 || path !== recordPath(runner)) {
  process.stderr.write("usage: emulator-keeper.ts RECORD RUNNER_PID eager|lazy\n");
  process.exit(2);
}

const record: SharedRecord = {
  keeper: process.pid,
  log: `${path}.log`,
  emulators: Object.fromEntries(
    SHARED_NAMES.map((name) => [name, { state: "idle" }]),
  ) as SharedRecord["emulators"],
};
// First, before loading anything heavy: the before script waits for this.
writeRecord(path, record);

const say = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
const { STARTERS } = await import("./shared.js");
const { EmulatorUnavailableError } = await import("../../demo/cognito-emulator.js");
const running = new Set<{ stop(): Promise<void> }>();
let stopping = false;

function start(name: SharedName): void {
  if (stopping || record.emulators[name].state !== "idle") return;
  record.emulators[name] = { state: "starting" };
  writeRecord(path, record);
  const began = Date.now();
  say(`starting ${name}`);
  STARTERS[name]
    .start()
    .then(
      async (emulator) => {
        if (stopping) return emulator.stop();
        running.add(emulator);
        const { endpoint, details } = emulator;
        record.emulators[name] = { state: "ready", endpoint, details };
        say(`${name} ready at ${endpoint} in ${Date.now() - began} ms`);
      },
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        record.emulators[name] =
          err instanceof EmulatorUnavailableError
            ? { state: "unavailable", message }
            : { state: "failed", message: err instanceof Error ? (err.stack ?? message) : message };
        say(`${name} ${record.emulators[name].state}: ${message}`);
      },
    )
    .finally(() => {
      if (!stopping) writeRecord(path, record);
    });
}

async function shutdown(why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(watch);
  say(`stopping (${why})`);
  await Promise.allSettled([...running].map((e) => e.stop()));
  for (const name of SHARED_NAMES) rmSync(wantPath(path, name), { force: true });
  rmSync(path, { force: true });
  say("stopped");
  // The log is worth keeping only when an emulator failed (the after script says where).
  if (!SHARED_NAMES.some((name) => record.emulators[name].state === "failed"))
    rmSync(record.log, { force: true });
  process.exit(0);
}

if (mode === "eager") for (const name of SHARED_NAMES) start(name);
const watch = setInterval(() => {
  if (!isAlive(runner)) return void shutdown(`tap (pid ${runner}) is gone`);
  for (const name of SHARED_NAMES) {
    const want = wantPath(path, name);
    if (!existsSync(want)) continue;
    rmSync(want, { force: true });
    start(name);
  }
}, 100);
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const)
  process.on(signal, () => void shutdown(signal));
say(`keeping the emulators of tap pid ${runner} (${mode})`);
