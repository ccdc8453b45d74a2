/**
 * Test-side glue for the Cognito emulators: start one for a tap test (skipping loudly when its
 * program is not installed, failing under CI), stop it at teardown, and small helpers.
 */
import { connect } from "node:net";
import type { Test } from "tap";
import { EmulatorUnavailableError, freePort, freePorts } from "../../demo/cognito-emulator.js";

// One implementation shared with the demo launcher.
export { freePort, freePorts };

/**
 * Starts an emulator for test `t` and stops it at `t`'s teardown. If its program is missing,
 * returns undefined after a loud skip (callers then return), or fails the test when
 * `CI === "true"` since CI must run everything. Any other startup failure is thrown: that is a
 * bug, not a missing tool.
 */
export async function withEmulator<T extends { stop(): Promise<void> }>(
  t: Test,
  name: string,
  start: () => Promise<T>,
): Promise<T | undefined> {
  let emulator: T;
  try {
    emulator = await start();
  } catch (err) {
    if (!(err instanceof EmulatorUnavailableError)) throw err;
    const hint = name.includes("moto")
      ? "install moto to run these tests: pip install 'moto[server]'"
      : name.includes("redis")
        ? "install it to run these tests: apt-get install -y redis-server"
        : "run npm install to get cognito-local";
    const banner = `SKIPPED: ${name} not found; ${hint} (${err.message})`;
    if (process.env.CI === "true") {
      t.fail(`${name} is required under CI=true but could not start: ${err.message}`);
    } else {
      t.comment(`${"!".repeat(80)}\n${banner}\n${"!".repeat(80)}`);
      t.pass(`${name} tests`, { skip: banner });
    }
    return undefined;
  }
  t.teardown(() => emulator.stop());
  return emulator;
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Splits and base64url-decodes a JWT without verifying it (tests inspect emulator tokens). */
export function decodeJwt(token: string): DecodedJwt {
  const [header, payload] = token.split(".");
  if (header === undefined || payload === undefined) throw new Error("not a JWT");
  const part = (s: string) =>
    JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Record<string, unknown>;
  return { header: part(header), payload: part(payload) };
}

/** True if something accepts TCP connections at the endpoint's host:port. */
export function portIsOpen(endpoint: string): Promise<boolean> {
  const url = new URL(endpoint);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port: Number(url.port) });
    socket.setTimeout(1_000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}
