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

/** A claim value as a header value; undefined when the claim is absent. */
export function headerValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text =
    typeof value === "string"
      ? value
      : Array.isArray(value)
        ? value.map((v) => (typeof v === "string" ? v : JSON.stringify(v))).join(",")
        : typeof value === "object"
          ? JSON.stringify(value)
          : String(value);
  return NEEDS_ENCODING.test(text) ? encodeHeaderText(text) : text;
}

function encodeHeaderText(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
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
