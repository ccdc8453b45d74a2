/**
 * moto (Python AWS mock) as a second Cognito stand-in: its tokens use AWS's real issuer format,
 * which cognito-local's don't.
 *
 * What moto 5.2.1 really puts in tokens (measured; see test/support/emulators.test.ts):
 * - Header: { typ: "JWT", kid: "dummy", alg: "RS256" }. One static key shipped with moto, shared
 *   by every pool.
 * - iss: `https://cognito-idp.us-east-1.amazonaws.com/<poolId>`, pool ids `us-east-1_` + 32 hex
 *   chars (real ones have 9 alphanumerics; aws-jwt-verify's id pattern still accepts them). As
 *   the issuer host is AWS's, CognitoJwtVerifier would fetch the real AWS JWKS: give it moto's
 *   keys yourself (verifier.cacheJwks(...)) or use a verifier with an explicit jwksUri.
 * - JWKS: GET `${endpoint}/<anything>/.well-known/jwks.json` returns the static key, even for
 *   unknown pools. /<pool>/.well-known/openid-configuration answers 500.
 * - ID token: aud = client id, token_use "id", cognito:username, sub, custom:* attributes,
 *   cognito:groups (only when non-empty; order not guaranteed), origin_jti, auth_time, iat, exp,
 *   jti. Standard attributes (email, name...) only if listed in the client's ReadAttributes,
 *   and then as strings: email_verified is "true", not true. No event_id.
 * - Access token: client_id (no aud), token_use "access", username, sub,
 *   scope "aws.cognito.signin.user.admin", cognito:groups, origin_jti, auth_time, iat, exp, jti.
 * - Lifetime: exp - iat = 3600 s for both, fixed (client validity settings are ignored).
 * - Passwords must satisfy AWS's default policy (upper, lower, digit, symbol), else
 *   AdminSetUserPassword fails with InvalidPasswordException.
 */
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import {
  type Emulator,
  EmulatorUnavailableError,
  launchEmulator,
  type SeededPool,
  type SeedOptions,
  seedUserPool,
} from "../../demo/cognito-emulator.js";

const REGION = "us-east-1";

/** `which program`: a missing binary means "skip", not "fail", outside CI. */
export function findOnPath(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Starts `moto_server -H 127.0.0.1 -p PORT` and waits until it answers HTTP.
 * @param env the server's environment (default: this process's)
 */
export function startMoto(env?: NodeJS.ProcessEnv): Promise<Emulator> {
  const bin = findOnPath("moto_server");
  if (!bin) {
    return Promise.reject(new EmulatorUnavailableError("moto_server not found on PATH"));
  }
  return launchEmulator(
    async (port) => ({
      command: bin,
      args: ["-H", "127.0.0.1", "-p", String(port)],
      ...(env !== undefined && { env }),
      endpoint: `http://127.0.0.1:${port}`,
      // moto has no health route; its JWKS route is static and needs no pool, so any 200 will do.
      isReady: async (url, signal) =>
        (await fetch(`${url}/ready-probe/.well-known/jwks.json`, { signal })).ok,
    }),
    { name: "moto_server" },
  );
}

/**
 * startMoto() with TZ=UTC: moto writes identity-pool credential Expirations as naive local time
 * read as UTC, right only when TZ is UTC (see moto-aws.ts). Cognito user pools do not mind.
 */
export function startMotoUtc(): Promise<Emulator> {
  return startMoto({ ...process.env, TZ: "UTC" });
}

/**
 * Seeds a pool in moto (region us-east-1). Tokens carry AWS's issuer; moto serves the JWKS
 * (one static key for every pool) at `${endpoint}/<poolId>/.well-known/jwks.json`.
 */
export function seedMotoPool(endpoint: string, opts: SeedOptions): Promise<SeededPool> {
  return seedUserPool(endpoint, REGION, opts, {
    issuer: (poolId) => `https://cognito-idp.${REGION}.amazonaws.com/${poolId}`,
    jwksUri: (poolId) => `${endpoint}/${poolId}/.well-known/jwks.json`,
  });
}
