/**
 * `cupbearer login`: signs a user in to a user pool from the terminal (SRP by default, so the
 * password never leaves the machine), answers every challenge, and stores the tokens 0600.
 */
import { Readable } from "node:stream";
import { LOGIN_FLOWS, type LoginFlow, signIn } from "../signin/flow.js";
import { SignInError } from "../signin/messages.js";
import { cognitoClient, expiryOf, regionOf, whereOf } from "../signin/session.js";
import { TerminalPrompter } from "../signin/terminal-prompter.js";
import type { CliIo } from "./main.js";
import { parseCommand, reported, storeOf, usageProblem } from "./signin-common.js";

export const LOGIN_USAGE = `Usage: cupbearer login --user-pool ID --client-id ID [options]
  Signs in to a Cognito user pool and stores the tokens under $XDG_CONFIG_HOME/cupbearer.
      --user-pool ID                the user pool, e.g. eu-west-1_AbCdEf123
      --client-id ID                its app client
      --username U, -u U            who signs in (asked when not given)
      --client-secret S             the app client's secret, if it has one (or CUPBEARER_CLIENT_SECRET)
      --flow srp|password|user-auth|custom
                                    USER_SRP_AUTH (default), USER_PASSWORD_AUTH, USER_AUTH
                                    (choice-based) or CUSTOM_AUTH
      --password-stdin              read the password from stdin's first line
      --endpoint URL                Cognito's endpoint (an emulator); default AWS's for the region
      --region R                    default: the user pool id's prefix
  One-time codes may come from CUPBEARER_MFA_CODE, a new password from CUPBEARER_NEW_PASSWORD;
  without a terminal, answers are read from stdin, one a line.`;

const OPTIONS = {
  "user-pool": { type: "string" },
  "client-id": { type: "string" },
  username: { type: "string", short: "u" },
  "client-secret": { type: "string" },
  flow: { type: "string" },
  "password-stdin": { type: "boolean" },
  endpoint: { type: "string" },
  region: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function login(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommand(io, argv, OPTIONS, LOGIN_USAGE);
  if (typeof values === "number") return values;
  const userPoolId = values["user-pool"];
  const clientId = values["client-id"];
  if (!userPoolId || !clientId)
    return usageProblem(io, "cupbearer login needs --user-pool and --client-id", LOGIN_USAGE);
  const flow = (values.flow ?? "srp") as LoginFlow;
  if (!LOGIN_FLOWS.includes(flow)) {
    return usageProblem(io, `--flow: expected one of ${LOGIN_FLOWS.join(", ")}`, LOGIN_USAGE);
  }
  const endpoint = values.endpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]/.test(endpoint)) {
    return usageProblem(io, "--endpoint: expected an http(s) URL", LOGIN_USAGE);
  }
  const clientSecret = values["client-secret"] ?? (io.env.CUPBEARER_CLIENT_SECRET || undefined);

  return reported(io, "login", async () => {
    const region = values.region ?? regionOf(userPoolId);
    const store = storeOf(io);
    const prompter = new TerminalPrompter({
      // No stdin given (in-process callers): an input that has already ended.
      input: io.stdin ?? Readable.from([]),
      output: io.stderr,
      env: io.env,
      passwordStdin: values["password-stdin"] === true,
    });
    const client = cognitoClient({ region, endpoint });
    try {
      const username =
        values.username ??
        (await prompter.ask({ kind: "username", label: "Username", secret: false })).trim();
      if (username === "") throw new SignInError("no username given");
      // A device remembered at an earlier sign-in of this user lets Cognito skip MFA.
      const earlier = safeRead(store, { userPoolId, clientId, username });
      const result = await signIn({
        client,
        userPoolId,
        clientId,
        clientSecret,
        username,
        flow,
        prompter,
        device: earlier?.device,
        where: whereOf({ region, endpoint }),
      });
      const session = {
        version: 1 as const,
        userPoolId,
        clientId,
        username: result.username,
        region,
        endpoint,
        clientSecret,
        idToken: result.idToken,
        accessToken: result.accessToken,
        refreshToken: result.refreshToken,
        expiresAt: expiryOf(result.idToken, result.accessToken, Date.now() + 3600_000),
        device: result.device,
      };
      store.write(session);
      io.stderr.write(
        `Signed in as ${result.username} (user pool ${userPoolId}, client ${clientId}); ` +
          `tokens stored in ${store.path(session)}\n`,
      );
      return 0;
    } finally {
      prompter.close();
      client.destroy();
    }
  });
}

/** An earlier sign-in's device, if any; a damaged file is ignored here (the new sign-in replaces it). */
function safeRead(store: ReturnType<typeof storeOf>, key: Parameters<ReturnType<typeof storeOf>["read"]>[0]) {
  try {
    return store.read(key);
  } catch {
    return undefined;
  }
}
