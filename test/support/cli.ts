/**
 * The CLI two ways: in this process (`runMain`, `startMain`: src/cli/main.ts with captured output
 * and a signal emitter, no process to start), and as the built bin in a real process (`spawnCli`,
 * `runCli`) where the process boundary is what a test checks: exit codes, signals, the bin.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { EventEmitter } from "node:events";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { Test } from "tap";
import { type CliIo, main } from "../../src/cli/main.js";
import { createLogger } from "../../src/log.js";

/** The built CLI (npm test builds first), as `npx cupbearer` runs it. */
export const CLI = join(import.meta.dirname, "../../dist/src/cli.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running CLI, in this process or another: its output so far, signals to it, its exit code. */
export interface RunningCli {
  stdout: () => string;
  stderr: () => string;
  /** Delivers a signal: to the process, or as the bin's `process` would to main. */
  signal(name: NodeJS.Signals): void;
  exited: Promise<number | null>;
}

export interface CliProcess extends RunningCli {
  child: ChildProcess;
}

/** Spawns the built CLI as a real process; killed at the test's teardown if still running. */
export function spawnCli(t: Test, args: string[]): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, stdout: () => stdout, stderr: () => stderr, signal: (name) => child.kill(name), exited };
}

/** Runs the built CLI to its end: exit code and output. */
export async function runCli(t: Test, args: string[]): Promise<CliResult> {
  const p = spawnCli(t, args);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** A CLI running in this process. */
export interface MainRun extends RunningCli {
  /** The proxy's JSON log, as text (it never reaches this test's stdout, the TAP stream). */
  log: () => string;
  exited: Promise<number>;
}

/**
 * Starts `main(args)` in this process with captured stdout, stderr and log, and signals of its
 * own; a proxy it starts gets SIGTERM at `t`'s teardown if still running.
 */
export function startMain(t: Test, args: string[], env: Record<string, string> = {}): MainRun {
  const text = { stdout: "", stderr: "", log: "" };
  const sink = (key: keyof typeof text) => ({
    write(chunk: string) {
      text[key] += chunk;
      return true;
    },
  });
  const log = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text.log += chunk.toString();
      cb();
    },
  });
  const signals = new EventEmitter();
  const io: CliIo = {
    stdout: sink("stdout"),
    stderr: sink("stderr"),
    env,
    signals,
    app: { logger: createLogger("info", log) },
  };
  let done = false;
  const exited = main(args, io).finally(() => {
    done = true;
  });
  t.teardown(async () => {
    if (done) return;
    signals.emit("SIGTERM");
    await exited.catch(() => undefined);
  });
  return {
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    log: () => text.log,
    signal: (name) => signals.emit(name),
    exited,
  };
}

/** Runs `main(args)` in this process to its end (arguments, usage, check): exit code and output. */
export async function runMain(t: Test, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const run = startMain(t, args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}
