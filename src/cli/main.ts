/**
 * The `cupbearer` command line: argv in, an exit code out. Importing this runs nothing; the bin
 * (src/cli.ts) calls `main` and is the only place that exits the process. Output and signals
 * come through `CliIo`, so tests run every command in-process.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { AppOptions } from "../app.js";
import { loadConfigFile } from "../config/load.js";
import { routeOrderWarnings } from "../config/route-order.js";
import { type Config, ConfigError } from "../config/types.js";
import { devBanner, devConfig } from "../dev.js";
import type { PromptInput } from "../signin/terminal-prompter.js";
import { checkManifestsCommand } from "./check-manifests.js";
import { schemaCommand } from "./schema.js";
import { type SignalSource, serve } from "./serve.js";

export type { SignalSource } from "./serve.js";

/** Where the CLI writes, reads its environment and hears signals; `processIo()` in the bin. */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  /** `CUPBEARER_CONFIG` is read from here. */
  env: Readonly<Record<string, string | undefined>>;
  /** SIGTERM and SIGINT stop a running proxy; SIGHUP reloads its config file. */
  signals: SignalSource;
  /** Handed to createApp (e.g. a logger writing somewhere other than stdout). */
  app?: AppOptions;
  /** Where `cupbearer login` reads answers (a terminal, or lines); none: no input at all. */
  stdin?: PromptInput;
}

/** The real process's streams, environment and signals. */
export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    signals: process,
    stdin: process.stdin,
  };
}

export const USAGE = `Usage:
  cupbearer [start] --config FILE   run the proxy (or set CUPBEARER_CONFIG)
  cupbearer check --config FILE     validate a config file; exit 0 if valid, 2 if not
      --manifests DIR|FILE          also cross-check rendered Kubernetes manifests against it
                                    (ports, probes, the config's mount path, env vars)
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
      --as USER                     add USER's stored token (cupbearer login) to requests that
                                    carry none; loopback only
  cupbearer login --user-pool ID --client-id ID [options]
                                    sign in from the terminal; tokens stored 0600
  cupbearer token [--access|--id] [--user U]
                                    print a stored token valid for 5 more minutes
  cupbearer logout [--global] [--user U]
                                    revoke (or sign out everywhere) and forget the tokens
  cupbearer aws-credentials --identity-pool ID [--role ARN] [--user U]
                                    credential_process JSON for the AWS CLI and SDKs
  cupbearer COMMAND --help          a sign-in command's options
  cupbearer schema                  print the config's JSON Schema (editors: config/cupbearer.schema.json)
  cupbearer --version               print the version
  cupbearer --help                  print this help`;

const OPTIONS = {
  config: { type: "string", short: "c" },
  manifests: { type: "string" },
  version: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  upstream: { type: "string" },
  issuer: { type: "string" },
  "client-id": { type: "string", multiple: true },
  port: { type: "string" },
  host: { type: "string" },
  "admin-port": { type: "string" },
  as: { type: "string" },
} as const satisfies ParseArgsConfig["options"];

type Command = (argv: readonly string[], io: CliIo) => Promise<number>;
/** The sign-in commands, each parsing its own flags; loaded on use (they bring the user-pool SDK). */
const SIGNIN_COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  login: async () => (await import("./login.js")).login,
  token: async () => (await import("./token.js")).token,
  logout: async () => (await import("./logout.js")).logout,
  "aws-credentials": async () => (await import("./aws-credentials.js")).awsCredentials,
};

/** The flags only `cupbearer dev` takes. */
const DEV_FLAGS = ["upstream", "issuer", "client-id", "port", "host", "admin-port", "as"] as const;

/** The package's version, found by walking up from this file (src/cli/ in tests, dist/src/cli/ when built). */
export function version(): string {
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

/**
 * Runs one command line (without `node` and the script: `process.argv.slice(2)`) and resolves
 * with its exit code: 0 done, 2 a usage or config error. A proxy it starts runs until SIGTERM
 * or SIGINT arrives through `io.signals`. Unexpected failures reject.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const signInCommand = SIGNIN_COMMANDS[argv[0] ?? ""];
  if (signInCommand !== undefined) return (await signInCommand())(argv.slice(1), io);
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true });
  } catch (err) {
    return usageError(io, (err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (values.help) {
    io.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const command = positionals[0] ?? "start";
  if (!["start", "check", "dev", "schema"].includes(command) || positionals.length > 1) {
    return usageError(io, `unknown command: ${positionals.join(" ")}`);
  }
  if (command === "schema") return schemaCommand(io);

  if (command === "dev") {
    if (values.config !== undefined)
      return usageError(io, "cupbearer dev takes no --config (use cupbearer start)");
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
      return usageError(io, `cupbearer dev: invalid arguments\n${indented(err.problems)}`);
    }
    const devAs =
      values.as === undefined
        ? undefined
        : await (await import("./dev-as.js")).prepareDevAs(values.as, config, io);
    if (typeof devAs === "number") return devAs;
    const devIo = devAs === undefined ? io : { ...io, app: { ...io.app, ...devAs.app } };
    try {
      // On stderr: stdout carries the JSON log lines.
      return await serve(config, devIo, {
        onListening: (ports) => io.stderr.write(`${devAs?.banner ?? ""}${devBanner(config, ports)}`),
      });
    } finally {
      devAs?.stop();
    }
  }

  const devOnly = DEV_FLAGS.find((flag) => values[flag] !== undefined);
  if (devOnly !== undefined) return usageError(io, `--${devOnly} is an option of cupbearer dev only`);
  if (values.manifests !== undefined && command !== "check")
    return usageError(io, "--manifests is an option of cupbearer check only");
  const file = values.config ?? io.env.CUPBEARER_CONFIG;
  if (file === undefined || file === "") {
    return usageError(io, "no config: pass --config FILE or set CUPBEARER_CONFIG");
  }

  let config: Config;
  try {
    config = await loadConfigFile(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.stderr.write(`${file}: invalid configuration\n${indented(err.problems)}\n`);
    return 2;
  }
  if (command === "check") {
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    io.stdout.write(
      `${file}: OK (${plural(config.routes.length, "route")}, ${plural(config.issuers.length, "issuer")}${
        config.identityPools.length > 0 ? `, ${plural(config.identityPools.length, "identity pool")}` : ""
      })\n`,
    );
    for (const warning of routeOrderWarnings(config)) io.stderr.write(`warning: ${warning}\n`);
    if (values.manifests !== undefined) return checkManifestsCommand(file, config, values.manifests, io);
    return 0;
  }
  return serve(config, io, { file });
}

function indented(problems: readonly string[]): string {
  return problems.map((p) => `  ${p}`).join("\n");
}

/** Writes the problem and the usage to stderr; exit code 2, as for an invalid config. */
function usageError(io: CliIo, message: string): number {
  io.stderr.write(`${message}\n${USAGE}\n`);
  return 2;
}
