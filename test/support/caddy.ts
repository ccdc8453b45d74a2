/**
 * A real Caddy (Debian's package) on a free port of 127.0.0.1: one site from a Caddyfile written
 * to a temporary directory, admin API off, no automatic HTTPS, its data and config directories
 * inside that temporary directory, everything removed at teardown.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Test } from "tap";
import { freePort, portIsOpen } from "./emulators.js";
import { requireProgram } from "./programs.js";
import { waitFor } from "./wait.js";

export interface RunningCaddy {
  url: string;
  port: number;
  /** Caddy's log so far (stderr). */
  log(): string;
}

/** The Caddy program, or undefined after a loud skip (a failure under CI=true). */
export function caddyProgram(t: Test): string | undefined {
  return requireProgram(t, "caddy", [process.env.CADDY ?? "/usr/bin/caddy", "/usr/local/bin/caddy"]);
}

/**
 * Starts Caddy with `site` (the body of one site block, served for any Host on 127.0.0.1) for
 * `t`; undefined after a loud skip when Caddy is missing.
 */
export async function startCaddy(t: Test, site: string): Promise<RunningCaddy | undefined> {
  const program = caddyProgram(t);
  if (program === undefined) return undefined;
  const dir = await mkdtemp(join(tmpdir(), "cupbearer-caddy-"));
  const port = await freePort();
  const caddyfile = `{
	admin off
	auto_https off
	storage file_system ${dir}/data
}

http://:${port} {
	bind 127.0.0.1
${site}
}
`;
  const file = join(dir, "Caddyfile");
  await writeFile(file, caddyfile);
  const child: ChildProcess = spawn(program, ["run", "--config", file, "--adapter", "caddyfile"], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { PATH: process.env.PATH ?? "", HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
  });
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    // Bounded: a long run must not grow the test's memory without end.
    if (stderr.length < 1 << 20) stderr += c.toString();
  });
  let exited = false;
  const gone = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );
  t.teardown(async () => {
    if (!exited) child.kill("SIGTERM");
    await gone;
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `caddy to listen on ${url}`,
    async () => {
      if (exited) throw new Error(`caddy exited: ${stderr}`);
      return (await portIsOpen(url)) || undefined;
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  return { url, port, log: () => stderr };
}
