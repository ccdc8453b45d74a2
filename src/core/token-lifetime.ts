import { Refusal } from "../errors.js";

/**
 * How long a token may live. Cognito's longest access and ID tokens live one day; a token whose
 * `iat` is in the future or whose lifetime is longer was not minted as the issuer mints them
 * (a forged clock, a leaked signing key's work), and a long-lived token that leaks stays useful.
 */

/** The default of `issuers[].maxTokenLifetimeSeconds`: one day. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 86_400;

export interface TokenTimeRules {
  readonly clockSkewSeconds: number;
  readonly maxTokenLifetimeSeconds: number;
}

/**
 * Refuses a token (already checked for `exp` and `nbf`) whose `iat` is later than now plus the
 * clock skew (`not_yet_valid`), or whose lifetime, `exp - iat` or without `iat` `exp - now`,
 * exceeds the maximum (`lifetime`). Times in seconds since the epoch.
 */
export function checkTokenTimes(
  payload: { readonly exp: number; readonly iat?: unknown },
  nowSeconds: number,
  rules: TokenTimeRules,
): void {
  const { iat, exp } = payload;
  if (iat !== undefined && typeof iat !== "number") throw new Refusal("malformed", "iat is not a number");
  if (iat !== undefined && iat > nowSeconds + rules.clockSkewSeconds) {
    throw new Refusal("not_yet_valid", "iat is in the future");
  }
  const lifetime = exp - (iat ?? nowSeconds);
  if (lifetime > rules.maxTokenLifetimeSeconds) {
    throw new Refusal("lifetime", `token lives ${lifetime} s, more than ${rules.maxTokenLifetimeSeconds} s`);
  }
}

/**
 * Until when (ms since the epoch) a token verified at `nowMs` may be served from a cache: while
 * the verifier would accept it (`exp` plus the skew), and never longer than the maximum lifetime.
 */
export function cacheableUntil(exp: number, nowMs: number, rules: TokenTimeRules): number {
  return Math.min((exp + rules.clockSkewSeconds) * 1000, nowMs + rules.maxTokenLifetimeSeconds * 1000);
}
