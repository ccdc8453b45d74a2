/**
 * What cupbearer's signed identity assertions say, and for how long: pure layouts of the claims
 * (cupbearer's own, and ALB's `x-amzn-oidc-data`) from a verified identity. Signing is in
 * assertions/signer.ts.
 */
import type { Identity } from "./identity.js";
import { groupsOf } from "./policy.js";

/** The header of `routes[].auth.assertion` when the config names none. */
export const DEFAULT_ASSERTION_HEADER = "x-cupbearer-assertion";

/**
 * ALB's `authenticate-cognito` headers (Elastic Load Balancing guide, "Authenticate users using
 * an Application Load Balancer": user claims encoding). Only cupbearer sets any header with this
 * prefix: every client-sent one is dropped on every route.
 */
export const ALB_HEADER_PREFIX = "x-amzn-oidc-";
export const ALB_DATA_HEADER = "x-amzn-oidc-data";
export const ALB_IDENTITY_HEADER = "x-amzn-oidc-identity";
export const ALB_ACCESS_TOKEN_HEADER = "x-amzn-oidc-accesstoken";
export const ALB_HEADERS = [ALB_DATA_HEADER, ALB_IDENTITY_HEADER, ALB_ACCESS_TOKEN_HEADER] as const;

/** When an assertion is issued, when it expires, and until when a cached copy may be sent. */
export interface AssertionTimes {
  readonly iat: number;
  readonly exp: number;
  /** A cached copy is sent only before this (seconds): it then still has half its life ahead. */
  readonly reuseUntil: number;
}

/**
 * `iat` now; `exp` the sooner of `now + lifetime` and the token's own `exp`, but at least a
 * second ahead (a token inside the clock-skew leeway still passed verification). Cached copies
 * are reused for the first half of that life, so an upstream never gets one about to expire,
 * and never past the token's expiry.
 */
export function assertionTimes(
  nowSeconds: number,
  lifetimeSeconds: number,
  tokenExp: unknown,
): AssertionTimes {
  const iat = Math.floor(nowSeconds);
  const latest = iat + lifetimeSeconds;
  const exp =
    typeof tokenExp === "number" ? Math.max(iat + 1, Math.min(latest, Math.floor(tokenExp))) : latest;
  return { iat, exp, reuseUntil: iat + Math.floor((exp - iat) / 2) };
}

const text = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

/** The caller's user name: `username` in Cognito access tokens, `cognito:username` in ID tokens. */
function usernameOf(identity: Identity): string | undefined {
  return text(identity.claims.username) ?? text(identity.claims["cognito:username"]);
}

/** The app client the token was issued to: `client_id` (access tokens) or the first `aud` (ID tokens). */
export function clientOf(identity: Identity): string | undefined {
  const { client_id: clientId, aud } = identity.claims;
  return text(clientId) ?? (Array.isArray(aud) ? text(aud[0]) : text(aud));
}

/**
 * cupbearer's own assertion claims: `iss` is cupbearer's configured name, `aud` the route id,
 * `sub`, `groups` (the token's `cognito:groups`, possibly empty), `email` and `username` when the
 * token has them, the token's issuer as `token_iss`, its `token_use`, `iat` and `exp`.
 */
export function assertionClaims(
  identity: Identity,
  issuer: string,
  audience: string,
  times: AssertionTimes,
): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    iss: issuer,
    aud: audience,
    sub: identity.subject,
    groups: [...groupsOf(identity.claims)],
  };
  const email = text(identity.claims.email);
  if (email !== undefined) claims.email = email;
  const username = usernameOf(identity);
  if (username !== undefined) claims.username = username;
  const tokenIss = text(identity.claims.iss);
  if (tokenIss !== undefined) claims.token_iss = tokenIss;
  const use = text(identity.claims.token_use);
  if (use !== undefined) claims.token_use = use;
  claims.iat = times.iat;
  claims.exp = times.exp;
  return claims;
}

/**
 * ALB's `x-amzn-oidc-data` layout. Its JWT header has `alg`, `kid`, `signer` (ALB's ARN there;
 * cupbearer's configured name here), `iss` (the token's issuer), `client` (the app client) and
 * `exp`; its payload the user's claims: `sub`, `email`, `email_verified`, `username`, `exp`, `iss`.
 */
export function albLayout(
  identity: Identity,
  signer: string,
  times: AssertionTimes,
): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const iss = text(identity.claims.iss);
  const header: Record<string, unknown> = { signer };
  if (iss !== undefined) header.iss = iss;
  const client = clientOf(identity);
  if (client !== undefined) header.client = client;
  header.exp = times.exp;
  const payload: Record<string, unknown> = { sub: identity.subject };
  const email = text(identity.claims.email);
  if (email !== undefined) payload.email = email;
  const verified = identity.claims.email_verified;
  if (typeof verified === "boolean" || verified === "true" || verified === "false") {
    payload.email_verified = String(verified);
  }
  const username = usernameOf(identity);
  if (username !== undefined) payload.username = username;
  payload.exp = times.exp;
  if (iss !== undefined) payload.iss = iss;
  return { header, payload };
}
