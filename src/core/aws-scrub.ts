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

const hex2 = (code: number) => code.toString(16).padStart(2, "0");

/** Base64 of the secret at each alignment inside a longer encoded text, without the mixed ends. */
function base64Spellings(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString("base64");
    // The first characters mix in the padding bytes, the last mixes in what follows.
    const stable = encoded.replace(/=+$/, "").slice(shift === 0 ? 0 : shift + 1, -1);
    if (stable.length >= MIN_SECRET_LENGTH) out.push(stable, stable.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return out;
}

/**
 * Every spelling a body may carry a secret in: as is, percent-encoded (every byte, or as
 * encodeURIComponent does), XML character references (decimal, hex), JSON `\u` escapes and
 * `\/`, hex (plain and spaced), base64 (standard and URL-safe). Compared without regard to
 * letter case, which covers the hex digits of escapes and hex written in either case.
 */
function spellings(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const chars = [...secret];
  const hex = bytes.toString("hex");
  return [
    secret,
    encodeURIComponent(secret),
    [...bytes].map((b) => `%${hex2(b)}`).join(""),
    chars.map((c) => `&#${c.codePointAt(0)};`).join(""),
    chars.map((c) => `&#x${(c.codePointAt(0) as number).toString(16)};`).join(""),
    chars.map((c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`).join(""),
    secret.replaceAll("/", "\\/"),
    hex,
    hex.replace(/(..)(?!$)/g, "$1 "),
    ...base64Spellings(bytes),
  ];
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** Text with all white space removed and lower-cased: where wrapped or spaced spellings show. */
function compact(text: string): string {
  return text.replace(/\s+/g, "").toLowerCase();
}

/**
 * Finds and replaces the credentials that signed a request, in every spelling. Built once per set
 * of credentials (they are cached, so this is not per request).
 */
export class SecretScrubber {
  /** The raw secrets, for the cheap check of every answer's headers. */
  readonly #plain: string[];
  /** Built on first use (an error or a redirect): most credentials never need them. */
  #spellings: { patterns: RegExp[]; compacted: string[] } | undefined;

  constructor(secrets: readonly string[]) {
    this.#plain = secrets.filter((s) => s.length >= MIN_SECRET_LENGTH);
  }

  /**
   * One case-insensitive expression per secret (literal alternatives, longest first), and every
   * spelling compacted, to find what line-wrapping or odd spacing hid from the expressions.
   */
  #built(): { patterns: RegExp[]; compacted: string[] } {
    if (this.#spellings !== undefined) return this.#spellings;
    const patterns: RegExp[] = [];
    const compacted = new Set<string>();
    for (const secret of this.#plain) {
      const all = [...new Set(spellings(secret))].sort((a, b) => b.length - a.length);
      patterns.push(new RegExp(all.map(escapeRegExp).join("|"), "gi"));
      for (const s of all) compacted.add(compact(s));
    }
    this.#spellings = { patterns, compacted: [...compacted] };
    return this.#spellings;
  }

  /** True when there is nothing to look for. */
  get empty(): boolean {
    return this.#plain.length === 0;
  }

  /** `text` with every spelling replaced; undefined when a spelling is hidden by wrapping or spacing. */
  replace(text: string): string | undefined {
    const { patterns, compacted } = this.#built();
    let out = text;
    for (const pattern of patterns) out = out.replace(pattern, REDACTED);
    const flat = compact(out);
    return compacted.some((s) => flat.includes(s)) ? undefined : out;
  }

  /** Whether a header value carries a secret: as is always, in any spelling when `thorough`. */
  leaks(value: string, thorough: boolean): boolean {
    if (thorough) return this.replace(value) !== value;
    for (const secret of this.#plain)
      if (value.length >= secret.length && value.includes(secret)) return true;
    return false;
  }
}

/**
 * The body with every echo of the signature removed and every secret (session token, access
 * key id) replaced, in any spelling. A body whose secrets cannot be replaced in place (a
 * spelling split across wrapped lines) is dropped whole: `""`.
 */
export function scrubAwsErrorBody(body: string, secrets: readonly string[] | SecretScrubber): string {
  const out = body.replace(ECHO_XML, "").replace(ECHO_TEXT, `$1 ${REDACTED}`);
  const scrubber = secrets instanceof SecretScrubber ? secrets : new SecretScrubber(secrets);
  if (scrubber.empty) return out;
  return scrubber.replace(out) ?? "";
}

/** Response headers that carry request credentials by their very name. */
const CREDENTIAL_HEADERS = new Set(["authorization", "x-amz-security-token", "proxy-authorization"]);

/**
 * Drops from an answer's headers every header that names or carries the credentials that signed
 * the request. Every answer is checked for the secrets as they are (cheap: it runs on every
 * answer); redirects and errors, which echo parts of the request, for every spelling.
 */
export function scrubAwsAnswerHeaders(
  headers: Record<string, string | string[]>,
  scrubber: SecretScrubber | undefined,
  status: number,
): void {
  const thorough = status >= 300;
  const leaks = (v: string): boolean =>
    v.length >= MIN_SECRET_LENGTH && scrubber?.leaks(v, thorough) === true;
  // Deleting the key being visited is safe in a for-in loop.
  for (const name in headers) {
    if (CREDENTIAL_HEADERS.has(name.toLowerCase())) {
      delete headers[name];
      continue;
    }
    if (scrubber === undefined) continue;
    const value = headers[name] as string | string[];
    if (typeof value === "string" ? leaks(value) : value.some(leaks)) delete headers[name];
  }
}
