/** The one way tests wait for something: polled, with a deadline, failing with what it waited for. */

export interface WaitOptions {
  /** Give up after this long. Default 10 s. */
  timeoutMs?: number;
  /** Pause between two checks. Default 25 ms. */
  intervalMs?: number;
}

/**
 * Calls `check` until it returns something other than undefined and returns that. A check that
 * throws counts as "not yet" (a server still starting refuses connections). Past the deadline it
 * throws `timed out after N ms waiting for <what>`, with the last error or value seen.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let last = "nothing yet";
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = "not yet";
    } catch (err) {
      last = `error: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
