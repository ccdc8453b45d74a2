/**
 * AWS error and redirect bodies pass through to clients as the service wrote them, except what
 * echoes the signature's inputs: S3's SignatureDoesNotMatch returns the canonical request and
 * string to sign (session token included), DynamoDB's InvalidSignatureException quotes them in
 * its message. And no answer header may carry the credentials that signed the request.
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
// With or without attributes or a namespace prefix; an empty element (<X/>) holds nothing.
const ECHO_XML = new RegExp(
  `<((?:[\\w.-]+:)?(?:${ECHO_ELEMENTS.join("|")}))(?:\\s[^>]*)?>[\\s\\S]*?</\\1\\s*>`,
  "g",
);

// JSON services quote the canonical request inside the message string: cut up to the end of
// that string (an unescaped quote) or of the XML text it sits in.
const ECHO_TEXT =
  /(The Canonical String for this request should have been|The String-to-Sign should have been)(?:[^"\\<]|\\.)*/g;

export const REDACTED = "[redacted]";

/** Secrets shorter than this are ignored: replacing them would mangle ordinary text. */
const MIN_SECRET_LENGTH = 8;

/** A line break a writer may have wrapped long text at (base64 at 64 or 76, XML pretty-printing). */
const WRAP = "(?:\\r?\\n[ \\t]*)?";

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** `n` as hex digits, matching either case, with optional leading zeros. */
function hexDigits(n: number): string {
  return `0*${n.toString(16).replace(/[a-f]/g, (c) => `[${c}${c.toUpperCase()}]`)}`;
}

/**
 * One character in every spelling a body may use: as is, percent-encoded (either case),
 * an XML character reference (decimal or hex), a JSON `\u` escape, JSON's `\/`.
 */
function charSpellings(c: string): string {
  const code = c.charCodeAt(0);
  const pct = code.toString(16).padStart(2, "0");
  const pctAny = pct.replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`);
  const options = [
    escapeRegExp(c),
    `%${pctAny}`,
    `&#0*${code};`,
    `&#[xX]${hexDigits(code)};`,
    `\\\\[uU]${hexDigits(code).replace("0*", "0{0,4}")}`,
  ];
  if (c === "/") options.push("\\\\/");
  if (c === "&") options.push("&amp;");
  if (c === "+") options.push("%2[bB]", " ");
  return `(?:${options.join("|")})`;
}

/** The secret spelled character by character, each in any spelling, lines wrapped anywhere. */
function textPattern(secret: string): string {
  return [...secret].map(charSpellings).join(WRAP);
}

/** Hex of the secret's bytes, either case, optionally spaced or wrapped between bytes. */
function hexPattern(secret: string): string {
  const hex = Buffer.from(secret, "utf8").toString("hex");
  return (hex.match(/../g) ?? [])
    .map((b) => b.replace(/[a-f]/g, (h) => `[${h}${h.toUpperCase()}]`))
    .join(`[ \\t]?${WRAP}`);
}

/**
 * Base64 of the secret at each of the three alignments it can have inside a longer encoded text,
 * without the partial characters at either end (they depend on the neighbouring bytes).
 */
function base64Patterns(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    // Skip the characters that mix the padding bytes in, and the last, which mixes what follows.
    const start = shift === 0 ? 0 : shift + 1;
    const stable = encoded.replace(/=+$/, "").slice(start, -1);
    if (stable.length >= MIN_SECRET_LENGTH) {
      for (const variant of new Set([stable, stable.replace(/\+/g, "-").replace(/\//g, "_")])) {
        out.push([...variant].map(escapeRegExp).join(WRAP));
      }
    }
  }
  return out;
}

/** One regular expression for every spelling of every secret (compiled per set of credentials). */
export function secretPattern(secrets: readonly string[]): RegExp | undefined {
  const parts: string[] = [];
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET_LENGTH) continue;
    parts.push(textPattern(secret), hexPattern(secret), ...base64Patterns(secret));
  }
  return parts.length === 0 ? undefined : new RegExp(parts.join("|"), "g");
}

/**
 * The body with every echo of the signature removed and every secret (session token, access
 * key id, signature) replaced, in any spelling.
 */
export function scrubAwsErrorBody(body: string, secrets: readonly string[] | RegExp | undefined): string {
  const out = body.replace(ECHO_XML, "").replace(ECHO_TEXT, `$1 ${REDACTED}`);
  const pattern = Array.isArray(secrets) ? secretPattern(secrets) : (secrets as RegExp | undefined);
  return pattern === undefined ? out : out.replace(pattern, REDACTED);
}

/** Response headers that carry request credentials by their very name. */
const CREDENTIAL_HEADERS = new Set(["authorization", "x-amz-security-token", "proxy-authorization"]);

/**
 * Drops from an answer's headers every header that names or carries the credentials that signed
 * the request (a service or a misbehaving intermediary may echo them).
 */
export function scrubAwsAnswerHeaders(
  headers: Record<string, string | string[]>,
  pattern: RegExp | undefined,
): void {
  for (const [name, value] of Object.entries(headers)) {
    if (CREDENTIAL_HEADERS.has(name.toLowerCase())) {
      delete headers[name];
      continue;
    }
    if (pattern === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (values.some((v) => v.replace(pattern, REDACTED) !== v)) delete headers[name];
  }
}
