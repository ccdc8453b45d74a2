/**
 * Stored sign-ins kept usable: a token handed out is valid for at least a margin (5 minutes by
 * default), else the tokens are refreshed with REFRESH_TOKEN_AUTH first. Concurrent processes
 * refresh once: the refresh runs under the session file's lock, and whoever gets the lock second
 * finds the tokens already fresh.
 * https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-refresh-token.html
 */
import {
  CognitoIdentityProviderClient,
  InitiateAuthCommand,
} from "@aws-sdk/client-cognito-identity-provider";
import { jwtClaims } from "./flow.js";
import { type LockOptions, withLock } from "./lock.js";
import { explain, SignInError } from "./messages.js";
import { secretHash } from "./srp.js";
import type { SessionKey, StoredSession, TokenStore } from "./store.js";

/** Five minutes: long enough for a curl, a test run, an AWS CLI call started with the token. */
export const MIN_VALID_MS = 5 * 60_000;

/** Where a pool is: its region (the pool id's prefix unless told) and an endpoint (emulators). */
export interface PoolLocation {
  readonly region: string;
  readonly endpoint?: string | undefined;
}

/** The region a pool id names (`eu-west-1_AbC` → `eu-west-1`). */
export function regionOf(userPoolId: string): string {
  const at = userPoolId.indexOf("_");
  if (at <= 0) throw new SignInError(`"${userPoolId}" is not a user pool id (like eu-west-1_AbCdEf123)`);
  return userPoolId.slice(0, at);
}

/** Where messages say Cognito is. */
export function whereOf(location: PoolLocation): string {
  return location.endpoint ?? `cognito-idp.${location.region}.amazonaws.com`;
}

/** The user-pool client for a location; the SDK retries throttling and network errors 3 times. */
export function cognitoClient(location: PoolLocation): CognitoIdentityProviderClient {
  return new CognitoIdentityProviderClient({
    region: location.region,
    maxAttempts: 3,
    ...(location.endpoint !== undefined && { endpoint: location.endpoint }),
  });
}

/** When the first of the two tokens expires (their `exp`), epoch ms; `fallback` when neither says. */
export function expiryOf(idToken: string, accessToken: string, fallback: number): number {
  const exps = [idToken, accessToken]
    .map((t) => jwtClaims(t)?.exp)
    .filter((exp): exp is number => typeof exp === "number" && Number.isFinite(exp))
    .map((exp) => exp * 1000);
  return exps.length > 0 ? Math.min(...exps) : fallback;
}

export interface FreshOptions {
  /** Builds the client a refresh uses (tests hand in one for a fake). */
  readonly client?: (location: PoolLocation) => CognitoIdentityProviderClient;
  readonly now?: () => number;
  readonly minValidMs?: number;
  readonly lock?: LockOptions;
}

/**
 * The stored sign-in of `key` with tokens valid for at least `minValidMs`, refreshing them (once,
 * across processes) when needed. Throws a SignInError when there is nothing stored, the file is
 * damaged, or Cognito refuses the refresh (run login again).
 */
export async function freshSession(
  store: TokenStore,
  key: SessionKey,
  options: FreshOptions = {},
): Promise<{ session: StoredSession; refreshed: boolean }> {
  const now = options.now ?? Date.now;
  const minValid = options.minValidMs ?? MIN_VALID_MS;
  const load = (): StoredSession => {
    const session = store.read(key);
    if (session === undefined)
      throw new SignInError(`no stored sign-in for ${key.username}: run cupbearer login first`);
    return session;
  };
  const fresh = (s: StoredSession) => s.expiresAt - now() >= minValid;
  const first = load();
  if (fresh(first)) return { session: first, refreshed: false };
  return withLock(
    `${store.path(key)}.lock`,
    async () => {
      // Another process may have refreshed while this one waited for the lock.
      const current = load();
      if (fresh(current)) return { session: current, refreshed: false };
      const session = await refresh(current, options.client ?? cognitoClient, now);
      store.update(session);
      return { session, refreshed: true };
    },
    options.lock,
  );
}

/** REFRESH_TOKEN_AUTH: new ID and access tokens (and a new refresh token if the pool rotates them). */
export async function refresh(
  session: StoredSession,
  clientFor: (location: PoolLocation) => CognitoIdentityProviderClient,
  now: () => number,
): Promise<StoredSession> {
  const location = { region: session.region, endpoint: session.endpoint };
  const client = clientFor(location);
  try {
    const params: Record<string, string> = { REFRESH_TOKEN: session.refreshToken };
    if (session.clientSecret !== undefined) {
      params.SECRET_HASH = secretHash(session.clientSecret, session.username, session.clientId);
    }
    // With device tracking on, Cognito wants the device the refresh token was issued to.
    if (session.device !== undefined) params.DEVICE_KEY = session.device.key;
    const out = await client.send(
      new InitiateAuthCommand({
        AuthFlow: "REFRESH_TOKEN_AUTH",
        ClientId: session.clientId,
        AuthParameters: params,
      }),
    );
    const result = out.AuthenticationResult;
    if (!result?.IdToken || !result.AccessToken) {
      throw new SignInError(
        "Cognito's refresh answer lacks the ID or access token: run cupbearer login again",
      );
    }
    const fallback = now() + (result.ExpiresIn ?? 3600) * 1000;
    return {
      ...session,
      idToken: result.IdToken,
      accessToken: result.AccessToken,
      refreshToken: result.RefreshToken ?? session.refreshToken,
      expiresAt: expiryOf(result.IdToken, result.AccessToken, fallback),
    };
  } catch (err) {
    throw explain(err, { flow: "refresh", where: whereOf(location) });
  } finally {
    client.destroy();
  }
}
