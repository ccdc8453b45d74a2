/**
 * Pure facts read from config values: the region inside a Cognito pool id, the `iss` of an
 * issuer, whether a URL is plain http to another machine. The shape validates ids with these
 * patterns; the cross-checks and the token verifier read them.
 */

/** An AWS region: `eu-west-1`, `us-gov-west-1`. */
export const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;
/** `<region>_<letters and digits>`, the form Cognito gives user pool ids. */
export const USER_POOL_ID = /^([a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$/;
/** `<region>:<uuid>`, the form Cognito gives identity pool ids. */
export const IDENTITY_POOL_ID =
  /^([a-z]{2}(?:-[a-z]+)+-\d+):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The host names that reach this machine only; other `127.x.y.z` addresses do not count. */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

/** The region a user pool id or an identity pool id starts with; undefined when it is neither. */
export function regionOfPoolId(id: string): string | undefined {
  return (USER_POOL_ID.exec(id) ?? IDENTITY_POOL_ID.exec(id))?.[1];
}

/** The exact `iss` an issuer's tokens carry. */
export function issuerUrl(iss: {
  cognito?: { region: string; userPoolId: string } | undefined;
  issuer?: string | undefined;
}): string | undefined {
  if (iss.cognito) return `https://cognito-idp.${iss.cognito.region}.amazonaws.com/${iss.cognito.userPoolId}`;
  return iss.issuer;
}

/**
 * True when `url` (an absolute URL) is plain http to a host other than loopback: whoever is on
 * the path can read and change what crosses it.
 */
export function isRemoteHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === "http:" && !LOOPBACK_HOSTS.has(u.hostname);
}
