/**
 * `cupbearer token`: prints a stored token valid for at least five more minutes, refreshing it
 * first when needed (once, however many run at the same time), for
 * `curl -H "Authorization: Bearer $(cupbearer token)"`.
 */
import { freshSession } from "../signin/session.js";
import type { CliIo } from "./main.js";
import {
  PICK_OPTIONS,
  PICK_USAGE,
  parseCommand,
  queryOf,
  reported,
  storeOf,
  usageProblem,
} from "./signin-common.js";

export const TOKEN_USAGE = `Usage: cupbearer token [--access|--id] [--user U]
  Prints a token of a stored sign-in, valid for at least 5 minutes (refreshed when needed).
      --access                      the access token (the default)
      --id                          the ID token
${PICK_USAGE}`;

const OPTIONS = {
  ...PICK_OPTIONS,
  id: { type: "boolean" },
  access: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function token(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommand(io, argv, OPTIONS, TOKEN_USAGE);
  if (typeof values === "number") return values;
  if (values.id === true && values.access === true) {
    return usageProblem(io, "--id and --access exclude each other", TOKEN_USAGE);
  }
  return reported(io, "token", async () => {
    const store = storeOf(io);
    const { session } = await freshSession(store, store.find(queryOf(values)));
    io.stdout.write(`${values.id === true ? session.idToken : session.accessToken}\n`);
    return 0;
  });
}
