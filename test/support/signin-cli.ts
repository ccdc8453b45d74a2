/**
 * The sign-in commands in this process: main() with stdin lines (or a live stdin a test writes to
 * as prompts appear), an environment whose config folder is a temporary one, captured output.
 */
import { EventEmitter } from "node:events";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { type CliIo, main } from "../../src/cli/main.js";

export interface SignInRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface SignInCliOptions {
  /** All of stdin at once (it ends after, unless `onStderr` keeps it open for more). */
  stdin?: string;
  env?: Record<string, string>;
  /** Called with stderr so far on every write; its return, if any, is written to stdin (which stays open). */
  onStderr?: (stderr: string) => string | undefined;
}

/** A fresh config folder (XDG_CONFIG_HOME) for one test's token files. */
export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), "cupbearer-signin-"));
}

/** main(args) with XDG_CONFIG_HOME = `home`. */
export async function signInCli(
  args: string[],
  home: string,
  options: SignInCliOptions = {},
): Promise<SignInRun> {
  const out = { stdout: "", stderr: "" };
  const live = options.onStderr === undefined ? undefined : new PassThrough();
  const io: CliIo = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: {
      write: (s: string) => {
        out.stderr += s;
        const answer = options.onStderr?.(out.stderr);
        if (answer !== undefined) live?.write(answer);
        return true;
      },
    },
    env: { XDG_CONFIG_HOME: home, ...options.env },
    signals: new EventEmitter(),
    ...(live !== undefined
      ? { stdin: live }
      : options.stdin !== undefined && { stdin: Readable.from([options.stdin]) }),
  };
  if (live !== undefined && options.stdin !== undefined) live.write(options.stdin);
  try {
    const code = await main(args, io);
    return { code, ...out };
  } finally {
    live?.end();
  }
}
