/**
 * A lock file, so that concurrent `cupbearer token` processes refresh a sign-in once: the first
 * creates `<file>.lock` exclusively (O_EXCL) and refreshes; the others wait for it to go, then
 * read the tokens it wrote. A lock whose holder has died, or that is older than `staleMs`, is
 * taken over, so a killed process never blocks the next one for long. Waiting is bounded.
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { SignInError } from "./messages.js";

export interface LockOptions {
  /** Give up waiting after this long (default 30 s). */
  readonly timeoutMs?: number;
  /** A lock older than this is abandoned (default 60 s: longer than any refresh can take). */
  readonly staleMs?: number;
  /** Between looks at a held lock (default 50 ms). */
  readonly pollMs?: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, but is someone else's.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** True when the lock at `path` may be taken over: its holder is gone or it is too old. */
function abandoned(path: string, staleMs: number): boolean {
  try {
    const age = Date.now() - statSync(path).mtimeMs;
    if (age > staleMs) return true;
    const pid = Number.parseInt(readFileSync(path, "utf8"), 10);
    // A lock being written has no pid yet: give its holder time.
    return Number.isInteger(pid) && pid > 0 && !alive(pid);
  } catch {
    return false;
  }
}

/**
 * Runs `fn` while holding the lock at `path`; the lock is removed afterwards, even if `fn`
 * throws. Rejects with a SignInError when the lock stays held past the timeout.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, options: LockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const staleMs = options.staleMs ?? 60_000;
  const pollMs = options.pollMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, "wx", 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, String(process.pid));
      } finally {
        closeSync(fd);
      }
      try {
        return await fn();
      } finally {
        rmSync(path, { force: true });
      }
    }
    if (abandoned(path, staleMs)) {
      rmSync(path, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      throw new SignInError(
        `another cupbearer is refreshing these tokens and has not finished (lock ${path}); ` +
          "if none is running, delete the lock file",
      );
    }
    await sleep(pollMs);
  }
}
