/**
 * A real Chromium (Debian's package) driven by playwright-core, in a fresh empty profile that is
 * removed at teardown. No network beyond 127.0.0.1 is needed: background services are off.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import type { Test } from "tap";
import { requireProgram } from "./programs.js";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** A browser context for `t`, closed at its teardown; undefined after a loud skip when Chromium is missing. */
export async function launchBrowser(t: Test): Promise<BrowserContext | undefined> {
  const executablePath = requireProgram(t, "chromium", [CHROMIUM]);
  if (executablePath === undefined) return undefined;
  const profile = await mkdtemp(join(tmpdir(), "cupbearer-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: ARGS,
      timeout: 60_000,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  t.teardown(async () => {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return context;
}
