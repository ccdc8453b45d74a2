/**
 * `cupbearer logout`: revokes the stored refresh token (RevokeToken), or with --global signs the
 * user out of every device (GlobalSignOut), and forgets the stored tokens either way.
 * https://docs.aws.amazon.com/cognito/latest/developerguide/token-revocation.html
 */
import { GlobalSignOutCommand, RevokeTokenCommand } from "@aws-sdk/client-cognito-identity-provider";
import { explain } from "../signin/messages.js";
import { cognitoClient, freshSession, whereOf } from "../signin/session.js";
import type { CliIo } from "./main.js";
import { PICK_OPTIONS, PICK_USAGE, parseCommand, queryOf, reported, storeOf } from "./signin-common.js";

export const LOGOUT_USAGE = `Usage: cupbearer logout [--global] [--user U]
  Revokes the stored refresh token and forgets the stored tokens.
      --global                      sign out everywhere (GlobalSignOut): every token of the
                                    user, on every device, stops being refreshable
${PICK_USAGE}`;

const OPTIONS = {
  ...PICK_OPTIONS,
  global: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function logout(argv: readonly string[], io: CliIo): Promise<number> {
  const values = parseCommand(io, argv, OPTIONS, LOGOUT_USAGE);
  if (typeof values === "number") return values;
  return reported(io, "logout", async () => {
    const store = storeOf(io);
    const key = store.find(queryOf(values));
    const global = values.global === true;
    let session = store.read(key);
    if (session === undefined) return 0;
    const location = { region: session.region, endpoint: session.endpoint };
    const client = cognitoClient(location);
    try {
      if (global) {
        // GlobalSignOut takes an access token: refresh it first if it is about to expire.
        session = (await freshSession(store, key, { minValidMs: 60_000 })).session;
        await client.send(new GlobalSignOutCommand({ AccessToken: session.accessToken }));
      } else {
        await client.send(
          new RevokeTokenCommand({
            Token: session.refreshToken,
            ClientId: session.clientId,
            ...(session.clientSecret !== undefined && { ClientSecret: session.clientSecret }),
          }),
        );
      }
    } catch (err) {
      // Forgotten here all the same: a sign-in the user wants gone must not linger.
      store.remove(key);
      const reason = explainLogout(err, global, whereOf(location));
      io.stderr.write(
        `cupbearer logout: ${reason}; the stored tokens of ${key.username} are forgotten anyway\n`,
      );
      return 1;
    } finally {
      client.destroy();
    }
    store.remove(key);
    io.stderr.write(
      global
        ? `Signed ${key.username} out everywhere; stored tokens forgotten\n`
        : `Revoked ${key.username}'s refresh token; stored tokens forgotten\n`,
    );
    return 0;
  });
}

function explainLogout(err: unknown, global: boolean, where: string): string {
  const name = err instanceof Error ? err.name : "";
  if (name === "UnsupportedTokenTypeException" || name === "UnsupportedOperationException") {
    return "token revocation is not enabled on the app client (EnableTokenRevocation): use --global";
  }
  const explained = explain(err, { flow: "refresh", where });
  return global ? `GlobalSignOut failed: ${explained.message}` : `RevokeToken failed: ${explained.message}`;
}
