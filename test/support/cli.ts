import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import type { Test } from "tap";

/** The built CLI (npm test builds first), as `npx cupbearer` runs it. */
export const CLI = join(import.meta.dirname, "../../dist/src/cli.js");

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
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
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Runs the built CLI to its end: exit code and output. */
export async function runCli(
  t: Test,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(t, args);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}
