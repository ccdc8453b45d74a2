#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createApp } from "./app.js";
import { loadConfigFile } from "./config/load.js";
import { ConfigError } from "./config/schema.js";

const USAGE = `Usage:
  cupbearer [start] --config FILE   run the proxy (or set CUPBEARER_CONFIG)
  cupbearer check --config FILE     validate a config file; exit 0 if valid, 2 if not
  cupbearer --version               print the version
  cupbearer --help                  print this help`;

/** The package's version, found by walking up from this file (src/ in tests, dist/src/ when built). */
function version(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "cupbearer") return pkg.version ?? "0.0.0";
    } catch {
      // not here; look one folder up
    }
    dir = dirname(dir);
  }
  return "0.0.0";
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<
    typeof parseArgs<{
      options: {
        config: { type: "string"; short: "c" };
        version: { type: "boolean" };
        help: { type: "boolean"; short: "h" };
      };
      allowPositionals: true;
    }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        config: { type: "string", short: "c" },
        version: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      allowPositionals: true,
    });
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = positionals[0] ?? "start";
  if (!["start", "check"].includes(command) || positionals.length > 1) {
    process.stderr.write(`unknown command: ${positionals.join(" ")}\n${USAGE}\n`);
    return 2;
  }
  const file = values.config ?? process.env.CUPBEARER_CONFIG;
  if (file === undefined || file === "") {
    process.stderr.write(`no config: pass --config FILE or set CUPBEARER_CONFIG\n${USAGE}\n`);
    return 2;
  }

  let config: Awaited<ReturnType<typeof loadConfigFile>>;
  try {
    config = await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${file}: invalid configuration\n${err.problems.map((p) => `  ${p}`).join("\n")}\n`);
    return 2;
  }
  if (command === "check") {
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    process.stdout.write(
      `${file}: OK (${plural(config.routes.length, "route")}, ${plural(config.issuers.length, "issuer")})\n`,
    );
    return 0;
  }

  const app = createApp(config);
  await app.start();
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off("SIGTERM", onSignal).off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal).on("SIGINT", onSignal);
  });
  await app.stop();
  return 0;
}

// exitCode rather than exit(), so output written to a pipe is flushed first; the unref'd timer
// only ends a process that something (a stuck socket) would otherwise keep alive.
const exitWith = (code: number) => {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 2000).unref();
};
main(process.argv.slice(2)).then(exitWith, (err: unknown) => {
  process.stderr.write(`cupbearer: ${(err as Error).message}\n`);
  exitWith(1);
});
