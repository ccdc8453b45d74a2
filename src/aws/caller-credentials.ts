/**
 * The AWS credentials of one caller of an AWS route: a verified user's from the route's identity
 * pool (with the role its groups choose and, in the basic flow, the session policy of its key
 * prefix), or the pool's guest credentials. The one place an exchange's failure becomes a refusal.
 */
import { chooseRole } from "../core/aws-role.js";
import type { Identity } from "../core/identity.js";
import { resolveKeyPrefix, s3SessionPolicy } from "../core/s3-scope.js";
import { Refusal } from "../errors.js";
import type { Span } from "../tracing.js";
import type { CredentialsError, CredentialsLookup, TemporaryCredentials } from "./credentials.js";
import type { IdentityPoolTarget } from "./pools.js";

/** The caller as an AWS route sees it: a verified identity and its token, or a guest. */
export interface AwsCaller {
  readonly identity: Identity | undefined;
  readonly token: string | undefined;
  /** The request's span (traces exported), parent of the identity-pool calls' spans. */
  readonly span?: Span;
}

// Any well-formed identity id: the basic flow's pre-check only asks whether the sub can name a folder.
const SAMPLE_IDENTITY_ID = "us-east-1:00000000-0000-0000-0000-000000000000";

/** A failed exchange → the caller's answer: 401 for a login Cognito refused, else 503. */
function refusalOf(error: CredentialsError): Refusal {
  if (error.kind === "invalid_token") return new Refusal("credentials_invalid", error.message);
  if (error.kind === "throttled") {
    return new Refusal("credentials_throttled", error.message, error.retryAfterSeconds);
  }
  return new Refusal("credentials_unavailable", error.message);
}

/** The caller's key prefix; a value that cannot name a folder is nobody's prefix, so no access. */
export function callerPrefix(template: string, identityId: string, sub: string): string {
  try {
    return resolveKeyPrefix(template, { identityId, sub });
  } catch (err) {
    throw new Refusal("outside_prefix", (err as Error).message);
  }
}

/** The credentials of a lookup, or its refusal; synchronous when the lookup was (a cache hit). */
function settle(lookup: CredentialsLookup): TemporaryCredentials | Promise<TemporaryCredentials> {
  if (lookup instanceof Promise) return lookup.then(settle);
  if (!lookup.ok) throw refusalOf(lookup.error);
  return lookup.credentials;
}

/**
 * Credentials for `caller` from `pool`: at once from the cache, else once the exchange is done.
 * `keyPrefix` is the route's S3 prefix template, if any: the basic flow sends it as a session
 * policy, so AWS enforces it too.
 * @throws Refusal (thrown, or as the rejection)
 */
export function callerCredentials(
  pool: IdentityPoolTarget,
  caller: AwsCaller,
  keyPrefix: string | undefined,
): TemporaryCredentials | Promise<TemporaryCredentials> {
  const { identity, token } = caller;
  if (identity === undefined || token === undefined) {
    // The schema allows guests only on pools that allow them; checked again, failing closed.
    if (!pool.allowGuests) throw new Refusal("missing");
    return settle(pool.provider.getGuest());
  }
  const { claims, subject: sub } = identity;
  // Identity pools take ID tokens only; tokens of issuers without token_use pass to Cognito.
  if (claims.token_use !== undefined && claims.token_use !== "id") {
    throw new Refusal("token_use", "identity pools take ID tokens");
  }
  const basic = pool.flow === "basic";
  // The basic flow builds the session policy from the prefix inside the exchange: a sub that
  // cannot name a folder is refused first (403, not a failed exchange).
  if (keyPrefix !== undefined && basic) callerPrefix(keyPrefix, SAMPLE_IDENTITY_ID, sub);
  return settle(
    pool.provider.get({
      issuer: String(claims.iss),
      sub,
      idToken: token,
      parent: caller.span,
      ...(typeof claims.aud === "string" && { client: claims.aud }),
      roleArn: chooseRole(claims, pool, pool.flow),
      // Only the basic flow sends a session policy (STS takes one; GetCredentialsForIdentity does not).
      ...(keyPrefix !== undefined &&
        basic && {
          sessionPolicy: {
            key: keyPrefix,
            build: (identityId: string) => s3SessionPolicy(resolveKeyPrefix(keyPrefix, { identityId, sub })),
          },
        }),
    }),
  );
}
