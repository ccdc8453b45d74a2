/**
 * What the sign-in commands (login, token, logout, aws-credentials) share: argument parsing with
 * a usage on error, the token store of the user's config folder, and one way to report a failure.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { SignInError } from "../signin/messages.js";
import { configDir, type SessionQuery, TokenStore } from "../signin/store.js";
import type { CliIo } from "./main.js";

/** Options that pick a stored sign-in, taken by token, logout, aws-credentials and dev --as. */
export const PICK_OPTIONS = {
  user: { type: "string" },
  "user-pool": { type: "string" },
  "client-id": { type: "string" },
} as const satisfies ParseArgsConfig["options"];

export const PICK_USAGE = `      --user U                      the stored sign-in of this user (default: the last login)
      --user-pool ID, --client-id ID  narrow the choice when several are stored`;

/** The sign-in a command's options pick. */
export function queryOf(values: { user?: string; "user-pool"?: string; "client-id"?: string }): SessionQuery {
  return { username: values.user, userPoolId: values["user-pool"], clientId: values["client-id"] };
}

/** The store under the user's config folder (XDG_CONFIG_HOME or HOME from `io.env`). */
export function storeOf(io: CliIo): TokenStore {
  return new TokenStore(configDir(io.env));
}

/** Parses a command's argv, or writes the problem and its usage (exit 2). */
export function parseCommand<O extends ParseArgsConfig["options"]>(
  io: CliIo,
  argv: readonly string[],
  options: O,
  usage: string,
): ReturnType<typeof parseArgs<{ options: O; allowPositionals: false }>>["values"] | number {
  try {
    const { values } = parseArgs({ args: [...argv], options, allowPositionals: false, strict: true });
    if ((values as { help?: boolean }).help === true) {
      io.stdout.write(`${usage}\n`);
      return 0;
    }
    return values;
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${usage}\n`);
    return 2;
  }
}

/** Writes a usage problem (exit 2). */
export function usageProblem(io: CliIo, message: string, usage: string): number {
  io.stderr.write(`${message}\n${usage}\n`);
  return 2;
}

/** Runs a command body: a SignInError is printed as `cupbearer <command>: message` with exit 1. */
export async function reported(io: CliIo, command: string, body: () => Promise<number>): Promise<number> {
  // The AWS SDK's notice that it will need a newer Node is for the project, not for a person at a
  // prompt or a script reading `$(cupbearer token)`: keep it off these commands' terminal.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  try {
    return await body();
  } catch (err) {
    if (!(err instanceof SignInError)) throw err;
    io.stderr.write(`cupbearer ${command}: ${err.message}\n`);
    return 1;
  }
}
