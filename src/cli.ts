#!/usr/bin/env node
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { loadConfigFile } from "./config/load.js";
import { type Config, ConfigError } from "./config/schema.js";
import { watchConfigFile } from "./config/watch.js";
import { devBanner, devConfig } from "./dev.js";

const USAGE = `Usage:
  cupbearer [start] --config FILE   run the proxy (or set CUPBEARER_CONFIG)
  cupbearer check --config FILE     validate a config file; exit 0 if valid, 2 if not
  cupbearer dev --upstream URL --issuer URL|POOL_ID [options]
                                    a local dev proxy, no config file: every path of the
                                    upstream needs a valid token of the issuer
      --upstream URL                the service to protect, e.g. http://127.0.0.1:3000
      --issuer URL|POOL_ID          the issuer exactly as in the tokens' iss (http only on
                                    loopback), or a Cognito user pool id like eu-west-1_AbCdEf123
      --client-id ID                accept only this app client's tokens; repeatable
                                    (default: every client of the issuer)
      --port PORT                   listen port (default 8080)
      --host HOST                   listen address (default 127.0.0.1)
      --admin-port PORT             /healthz, /readyz, /metrics on 127.0.0.1 (default 9090)
  cupbearer --version               print the version
  cupbearer --help                  print this help`;

const OPTIONS = {
  config: { type: "string", short: "c" },
  version: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  upstream: { type: "string" },
  issuer: { type: "string" },
  "client-id": { type: "string", multiple: true },
  port: { type: "string" },
  host: { type: "string" },
  "admin-port": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

/** The flags only `cupbearer dev` takes. */
const DEV_FLAGS = ["upstream", "issuer", "client-id", "port", "host", "admin-port"] as const;

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
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    return usageError((err as Error).message);
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
  if (!["start", "check", "dev"].includes(command) || positionals.length > 1) {
    return usageError(`unknown command: ${positionals.join(" ")}`);
  }

  if (command === "dev") {
    if (values.config !== undefined)
      return usageError("cupbearer dev takes no --config (use cupbearer start)");
    let config: Config;
    try {
      config = devConfig({
        upstream: values.upstream,
        issuer: values.issuer,
        clientIds: values["client-id"],
        port: values.port,
        host: values.host,
        adminPort: values["admin-port"],
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return usageError(`cupbearer dev: invalid arguments\n${err.problems.map((p) => `  ${p}`).join("\n")}`);
    }
    // On stderr: stdout carries the JSON log lines.
    return serve(config, (ports) => process.stderr.write(devBanner(config, ports)));
  }

  const devOnly = DEV_FLAGS.find((flag) => values[flag] !== undefined);
  if (devOnly !== undefined) return usageError(`--${devOnly} is an option of cupbearer dev only`);
  const file = values.config ?? process.env.CUPBEARER_CONFIG;
  if (file === undefined || file === "") {
    return usageError("no config: pass --config FILE or set CUPBEARER_CONFIG");
  }

  let config: Config;
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
      `${file}: OK (${plural(config.routes.length, "route")}, ${plural(config.issuers.length, "issuer")}${
        config.identityPools.length > 0 ? `, ${plural(config.identityPools.length, "identity pool")}` : ""
      })\n`,
    );
    return 0;
  }
  return serve(config, undefined, file);
}

/** Writes the problem and the usage to stderr; exit code 2, as for an invalid config. */
function usageError(message: string): number {
  process.stderr.write(`${message}\n${USAGE}\n`);
  return 2;
}

/**
 * Runs the proxy (`start` and `dev` alike) until SIGTERM or SIGINT, then stops it gracefully.
 * With a config file, SIGHUP and any change of the file's content reload it.
 */
async function serve(
  config: Config,
  onListening?: (ports: { port: number; adminPort: number }) => void,
  file?: string,
): Promise<number> {
  // Loaded here, not at the top: --version, --help and check need none of the proxy.
  const { createApp } = await import("./app.js");
  const app = createApp(config);
  const ports = await app.start();
  onListening?.(ports);
  const reload = () => void app.reload(() => loadConfigFile(file as string));
  const stopWatching = file === undefined ? () => undefined : watchConfigFile(file, reload);
  if (file !== undefined) process.on("SIGHUP", reload);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off("SIGTERM", onSignal).off("SIGINT", onSignal);
      resolve();
    };
    process.on("SIGTERM", onSignal).on("SIGINT", onSignal);
  });
  stopWatching();
  process.off("SIGHUP", reload);
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
