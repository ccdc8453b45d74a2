/**
 * AWS error bodies pass through to clients as the service wrote them, except what echoes the
 * signature's inputs: S3's SignatureDoesNotMatch returns the canonical request and string to
 * sign (session token included), DynamoDB's InvalidSignatureException quotes them in its message.
 */

/** S3 (XML) elements that repeat what was signed, or who signed it. */
const ECHO_ELEMENTS = [
  "CanonicalRequest",
  "CanonicalRequestBytes",
  "StringToSign",
  "StringToSignBytes",
  "SignatureProvided",
  "AWSAccessKeyId",
];
const ECHO_XML = new RegExp(`<(${ECHO_ELEMENTS.join("|")})>[\\s\\S]*?</\\1>`, "g");

// JSON services quote the canonical request inside the message string: cut up to the end of
// that string (an unescaped quote) or of the XML text it sits in.
const ECHO_TEXT =
  /(The Canonical String for this request should have been|The String-to-Sign should have been)(?:[^"\\<]|\\.)*/g;

export const REDACTED = "[redacted]";

/** Every spelling in which a secret could appear in a body: as is, URL-encoded, JSON-escaped, hex. */
function spellings(secret: string): string[] {
  const hex = Buffer.from(secret, "utf8").toString("hex");
  const spaced = hex.replace(/(..)(?!$)/g, "$1 ");
  return [...new Set([secret, encodeURIComponent(secret), secret.replaceAll("/", "\\/"), hex, spaced])];
}

/**
 * The body with every echo of the signature removed and every secret (session token, access
 * key id) replaced, in any spelling. Secrets shorter than 8 characters are ignored: replacing
 * them would mangle ordinary text and they are not credentials.
 */
export function scrubAwsErrorBody(body: string, secrets: readonly string[]): string {
  let out = body.replace(ECHO_XML, "").replace(ECHO_TEXT, `$1 ${REDACTED}`);
  for (const secret of secrets) {
    if (secret.length < 8) continue;
    for (const s of spellings(secret)) out = out.split(s).join(REDACTED);
  }
  return out;
}
