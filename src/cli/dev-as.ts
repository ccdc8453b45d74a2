/**
 * `cupbearer dev --as USER`: the dev proxy adds USER's stored token (refreshed before it expires)
 * to every request that carries none; the proxy then verifies it like any other token. A
 * developer browses a protected service as a chosen user without handling tokens. Refused unless
 * the proxy listens on loopback only: anyone who can reach it acts as that user.
 */
import type { IncomingMessage } from "node:http";
import type { AppOptions } from "../app.js";
import type { Config } from "../config/types.js";
import { SignInError } from "../signin/messages.js";
import { freshSession, MIN_VALID_MS } from "../signin/session.js";
import type { SessionKey, StoredSession } from "../signin/store.js";
import type { CliIo } from "./main.js";
import { storeOf } from "./signin-common.js";

/** What `cupbearer dev` needs to act as a user: the app's hook, the loud line, a stop. */
export interface DevAs {
  readonly app: AppOptions;
  readonly banner: string;
  stop(): void;
}

// How often the held token is checked; it is refreshed once less than MIN_VALID_MS is left.
const CHECK_MS = 30_000;

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Prepares `--as USER` for a dev config: the stored sign-in of USER, fresh; a hook adding its
 * access token to requests without an Authorization header. Writes the problem and resolves to an
 * exit code when it cannot (2: not on loopback; 1: no usable sign-in).
 */
export async function prepareDevAs(username: string, config: Config, io: CliIo): Promise<DevAs | number> {
  if (!isLoopback(config.listen.host)) {
    io.stderr.write(
      `cupbearer dev: --as is refused unless the proxy listens on loopback (--host 127.0.0.1): ` +
        `anyone who can reach ${config.listen.host} would act as ${username}\n`,
    );
    return 2;
  }
  const store = storeOf(io);
  let key: SessionKey;
  let session: StoredSession;
  try {
    key = store.find({ username });
    session = (await freshSession(store, key)).session;
  } catch (err) {
    if (!(err instanceof SignInError)) throw err;
    io.stderr.write(`cupbearer dev --as ${username}: ${err.message}\n`);
    return 1;
  }
  let refreshing: Promise<void> | undefined;
  const refresh = () => {
    if (refreshing !== undefined || session.expiresAt - Date.now() >= MIN_VALID_MS) return;
    refreshing = freshSession(store, key)
      .then(
        (fresh) => {
          session = fresh.session;
        },
        (err: Error) => {
          io.stderr.write(`cupbearer dev --as ${username}: could not refresh the token: ${err.message}\n`);
        },
      )
      .finally(() => {
        refreshing = undefined;
      });
  };
  const timer = setInterval(refresh, CHECK_MS);
  timer.unref();
  const beforeRequest = (req: IncomingMessage) => {
    // A request with a token of its own keeps it: it is verified as it is, never replaced.
    if (req.headers.authorization !== undefined) return;
    const value = `Bearer ${session.accessToken}`;
    req.headers.authorization = value;
    req.rawHeaders.push("Authorization", value);
    refresh();
  };
  const banner =
    `cupbearer dev: AS ${session.username}: requests without a token get ${session.username}'s stored ` +
    `token (user pool ${session.userPoolId}, client ${session.clientId}); for development only\n`;
  return { app: { beforeRequest }, banner, stop: () => clearInterval(timer) };
}
