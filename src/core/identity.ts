import { type Claims, groupsOf } from "./policy.js";

/** Who the caller is, once their token has been verified. */
export interface Identity {
  readonly issuerId: string;
  readonly subject: string;
  readonly claims: Claims;
}

export const USER_HEADER = "x-auth-request-user";
export const EMAIL_HEADER = "x-auth-request-email";
export const GROUPS_HEADER = "x-auth-request-groups";
export const STANDARD_IDENTITY_HEADERS = [USER_HEADER, EMAIL_HEADER, GROUPS_HEADER] as const;

// Printable ASCII but "%": everything else is percent-encoded (UTF-8), so a claim can never
// break a header line or smuggle a control character to the upstream.
const NEEDS_ENCODING = /[^\x20-\x24\x26-\x7e]/;
const NEEDS_ENCODING_IN_LIST = /[^\x20-\x24\x26-\x2b\x2d-\x7e]/;

/**
 * A claim value as a header value; undefined when the claim is absent. Lists are comma-joined,
 * with commas inside an element encoded too, so ["a,b"] and ["a", "b"] stay apart.
 */
export function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return value.map((v) => encode(asText(v), NEEDS_ENCODING_IN_LIST)).join(",");
  return encode(asText(value), NEEDS_ENCODING);
}

function asText(value: unknown): string {
  if (typeof value === "string") return value;
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function encode(text: string, needs: RegExp): string {
  if (!needs.test(text)) return text;
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    const c = String.fromCharCode(byte);
    out += needs.test(c) ? `%${byte.toString(16).toUpperCase().padStart(2, "0")}` : c;
  }
  return out;
}

/**
 * The identity headers the upstream receives: sub, email, groups, then the route's claim headers
 * (header name → claim name). Lower-case names; absent claims give no header.
 */
export function identityHeaders(
  identity: Identity,
  claimHeaders: ReadonlyArray<readonly [string, string]>,
): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const push = (name: string, value: unknown) => {
    const v = headerValue(value);
    if (v !== undefined) out.push([name, v]);
  };
  push(USER_HEADER, identity.subject);
  push(EMAIL_HEADER, identity.claims.email);
  const groups = groupsOf(identity.claims);
  if (groups.length > 0) push(GROUPS_HEADER, groups);
  for (const [header, claim] of claimHeaders) push(header, identity.claims[claim]);
  return out;
}
