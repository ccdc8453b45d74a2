/**
 * The record through which one tap run shares its emulators: written by the keeper
 * (emulator-keeper.ts), read by test files (shared.ts) and by tap's before and after scripts.
 * Light on purpose: the keeper writes its first record before loading anything heavy.
 *
 * One record per tap run, named after the run's pid: test files, the before and the after
 * script are all children of that one tap process, so `process.ppid` finds it, and two runs in
 * the same working tree (two engineers, two Node versions) never share or stop each other's.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The emulators a run shares. */
export const SHARED_NAMES = ["cognito-local", "moto", "moto-iam", "s3rver"] as const;
export type SharedName = (typeof SHARED_NAMES)[number];

/** What the keeper knows of one emulator. */
export type EmulatorState =
  /** Nobody asked for it yet (emulators start when a file first asks, or all at once: see the before script). */
  | { state: "idle" }
  | { state: "starting" }
  /** Up: its endpoint, and what test files need to use it (JSON). */
  | { state: "ready"; endpoint: string; details: Record<string, unknown> }
  /** Its program is not installed: files skip loudly, or fail under CI=true. */
  | { state: "unavailable"; message: string }
  /** It is installed but would not start: a bug; files fail. */
  | { state: "failed"; message: string };

export interface SharedRecord {
  /** The keeper's pid (also its process group). */
  keeper: number;
  /** The keeper's output, for failure messages. */
  log: string;
  emulators: Record<SharedName, EmulatorState>;
}

/** Where the run of tap process `runnerPid` keeps its record (`.log` and `.want-*` beside it). */
export function recordPath(runnerPid: number): string {
  return join(tmpdir(), `cupbearer-emulators-${runnerPid}.json`);
}

/** The file whose existence asks the keeper to start `name`. */
export function wantPath(record: string, name: SharedName): string {
  return `${record}.want-${name}`;
}

export function readRecord(path: string): SharedRecord | undefined {
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as SharedRecord;
}

/** Replaces the record atomically, so a reader never sees half of it. */
export function writeRecord(path: string, record: SharedRecord): void {
  const partial = `${path}.${process.pid}.tmp`;
  writeFileSync(partial, JSON.stringify(record, null, 2));
  renameSync(partial, path);
}

/** True while process `pid` exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The last lines of a log file, for a failure message. */
export function logTail(path: string, lines = 30): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}
