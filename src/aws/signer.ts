/**
 * AWS Signature Version 4 (header signing) for requests the proxy forwards to AWS services.
 *
 * Spec: "Create a signed AWS API request" (IAM User Guide, section "Signature Version 4 signing
 * process": canonical request, string to sign, signing key, signature). Checked against the
 * aws-c-auth SigV4 test suite (test/fixtures/sigv4) and against `@smithy/signature-v4`.
 *
 * Everything here is a pure function except the bounded signing-key cache owned by each signer
 * (and the memo of the last timestamp). No clock: the caller passes `now`. node:crypto only.
 *
 * Signing runs on every request of an AWS route, so the work that depends only on the caller's
 * credentials and the day (signing key, HMAC pads, credential scope, the Authorization prefix) is
 * done once per credentials object and day, and `sign()` does per request only what the request
 * changes: canonical request, its hash, one HMAC (two one-shot hashes).
 */
import { createHash, createHmac, hash } from "node:crypto";

/** The literal payload hash telling the service the body is not signed (S3 and a few others). */
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

/**
 * S3's payload value for an aws-chunked body whose chunks are unsigned and whose trailing
 * checksum S3 checks (https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html).
 */
export const STREAMING_UNSIGNED_PAYLOAD_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

/** SHA-256 of the empty string: the payload hash of a request without a body. */
export const EMPTY_PAYLOAD_HASH = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

const ALGORITHM = "AWS4-HMAC-SHA256";
const DEFAULT_KEY_CACHE_SIZE = 64;

/**
 * Headers the signer never signs: hop-by-hop headers and headers that intermediaries may rewrite
 * (the list `@smithy/signature-v4` uses). Signing them would make the signature break in transit.
 */
const UNSIGNABLE_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "cache-control",
  "connection",
  "expect",
  "from",
  "keep-alive",
  "max-forwards",
  "pragma",
  "referer",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "x-amzn-trace-id",
]);

/** Headers whose value the signer decides; the caller's values for them are ignored. */
const GENERATED_HEADERS: ReadonlySet<string> = new Set([
  "authorization",
  "x-amz-date",
  "x-amz-security-token",
  "x-amz-content-sha256",
]);

/** A header value: one string, or the values of repeated header lines in the order received. */
export type HeaderValue = string | readonly string[];

/** Request headers, lower-case name → value. */
export type HeaderMap = Readonly<Record<string, HeaderValue>>;

/** The parts of an outgoing request that SigV4 covers. Never modified by the signer. */
export interface SignableRequest {
  /** HTTP method, e.g. `GET` (used as given; AWS expects upper case). */
  readonly method: string;
  /** The `host` header value as it goes on the wire (with `:port` if not the default). */
  readonly host: string;
  /** The path as it goes on the wire (already percent-encoded), starting with `/`. */
  readonly path: string;
  /** The raw query string without the leading `?` (`""` when there is none). */
  readonly query: string;
  /** Headers to sign (lower-case names). `host` and the generated headers are ignored here. */
  readonly headers: HeaderMap;
  /** Lower-case hex SHA-256 of the body, {@link UNSIGNED_PAYLOAD} or {@link STREAMING_UNSIGNED_PAYLOAD_TRAILER}. */
  readonly payloadHash: string;
}

/**
 * AWS credentials as SigV4 needs them: cupbearer's one credentials type. The identity pool
 * provider's `TemporaryCredentials` (src/aws/credentials.ts) extend it with what the proxy
 * needs besides signing (expiry, identity id).
 */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Session token of temporary credentials; sent as `x-amz-security-token`. */
  readonly sessionToken?: string | undefined;
}

/** The headers to add to (or replace on) the outgoing request. */
export interface SigV4Headers {
  authorization: string;
  "x-amz-date": string;
  "x-amz-security-token"?: string;
  "x-amz-content-sha256"?: string;
}

/** How the canonical URI is derived from the wire path. */
export interface UriOptions {
  /**
   * URI-encode each path segment once more (the wire path is already encoded once, hence the
   * "double encoding" of the spec). True for every service except S3.
   */
  readonly uriEscapePath: boolean;
  /** Remove empty, `.` and `..` segments (RFC 3986 dot-segment removal). True except for S3. */
  readonly normalizePath: boolean;
}

/** Options of {@link createSigner}. */
export interface SignerOptions {
  /** Signing name of the service, e.g. `s3`, `dynamodb`. */
  readonly service: string;
  /** Region, e.g. `eu-west-1`. */
  readonly region: string;
  /**
   * S3 rules: no double encoding, no path normalization, `x-amz-content-sha256` always sent.
   * Default: `service === "s3"`.
   */
  readonly s3?: boolean;
  /** Override of {@link UriOptions.uriEscapePath}; default `!s3`. */
  readonly uriEscapePath?: boolean;
  /** Override of {@link UriOptions.normalizePath}; default `!s3`. */
  readonly normalizePath?: boolean;
  /**
   * Send and sign `x-amz-content-sha256`. Default `s3`. It is always sent for
   * {@link UNSIGNED_PAYLOAD}, the only way a service learns that the payload is unsigned.
   */
  readonly contentSha256Header?: boolean;
  /**
   * Include `x-amz-security-token` in the signed headers (default true). A few services (IoT)
   * want it added after signing; it is returned either way.
   */
  readonly signSessionToken?: boolean;
  /** Maximum number of cached signing keys (default 64, at least 1). */
  readonly keyCacheSize?: number;
}

/** A SigV4 signer for one (service, region). Holds no state but a bounded key cache. */
export interface Signer {
  readonly service: string;
  readonly region: string;
  /** Maximum number of signing keys kept. */
  readonly keyCacheLimit: number;
  /** Signing keys currently cached (never above {@link Signer.keyCacheLimit}). */
  keyCacheSize(): number;
  /**
   * The headers that sign `request` at time `now`. Pure apart from the key cache.
   * @throws TypeError on an invalid date or payload hash, URIError on a path or query that is
   *   not well-formed UTF-16 (lone surrogates).
   */
  sign(request: SignableRequest, credentials: AwsCredentials, now: Date): SigV4Headers;
  /** Like {@link Signer.sign}, also returning the intermediate strings (tests, debugging). */
  explain(request: SignableRequest, credentials: AwsCredentials, now: Date): SigningDetails;
}

/** The intermediate results of one signature. Contains no secret. */
export interface SigningDetails {
  readonly headers: SigV4Headers;
  readonly canonicalRequest: string;
  readonly stringToSign: string;
  readonly signedHeaders: string;
  readonly signature: string;
}

/** Input of {@link canonicalRequest}: every header to sign is already in `headers`. */
export interface CanonicalRequestInput {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: HeaderMap;
  readonly payloadHash: string;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
const EXTRA_RESERVED = /[!'()*]/g;
const hexEscape = (c: string): string => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/**
 * RFC 3986 percent-encoding of a string's UTF-8 bytes: everything but `A-Z a-z 0-9 - . _ ~`,
 * with upper-case hex ("URI-encode" in the SigV4 canonical request section).
 * @throws URIError on lone surrogates.
 */
export function uriEncode(value: string): string {
  if (UNRESERVED.test(value)) return value;
  // encodeURIComponent leaves ! ' ( ) * alone; SigV4 encodes them.
  return encodeURIComponent(value).replace(EXTRA_RESERVED, hexEscape);
}

/**
 * Canonical URI. SigV4 "canonical URI": the URI-encoded absolute path; every service but S3
 * encodes each segment twice (once on the wire, once here) and normalizes the path; S3 uses the
 * wire path as is.
 */
export function canonicalUri(path: string, options: UriOptions): string {
  if (path === "") return "/";
  if (!options.uriEscapePath && !options.normalizePath) return path;
  const segments = path.split("/");
  if (options.normalizePath) {
    const kept: string[] = [];
    // RFC 3986 5.2.4 dot-segment removal, also dropping empty segments (as AWS and the suite do).
    for (const segment of segments) {
      if (segment === "" || segment === ".") continue;
      if (segment === "..") kept.pop();
      else kept.push(segment);
    }
    const lead = path.startsWith("/") ? "/" : "";
    const trail = kept.length > 0 && path.endsWith("/") ? "/" : "";
    if (!options.uriEscapePath) return `${lead}${kept.join("/")}${trail}`;
    return `${lead}${kept.map(uriEncode).join("/")}${trail}`;
  }
  return segments.map(uriEncode).join("/");
}

function decodeComponent(raw: string): string {
  if (raw.indexOf("%") === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    // Malformed escapes: sign the text as received (it gets encoded, `%` becoming `%25`).
    return raw;
  }
}

/**
 * Canonical query string. SigV4 "canonical query string": each name and value decoded from the
 * wire then URI-encoded (RFC 3986), sorted by encoded name then value, `name=` kept for a name
 * without a value, joined with `&`. `+` is a literal plus (AWS SDKs never send `+` for space).
 */
export function canonicalQuery(query: string): string {
  if (query === "") return "";
  const pairs: [string, string][] = [];
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? "" : part.slice(eq + 1);
    pairs.push([uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))]);
  }
  // Encoded strings are ASCII, so code-unit order is the byte order the spec asks for.
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  let out = "";
  for (const [name, value] of pairs) out += out === "" ? `${name}=${value}` : `&${name}=${value}`;
  return out;
}

const WHITESPACE_RUN = /[ \t\r\n]+/g;
const EDGE_SPACE = /^ | $/g;

/** SigV4 "Trimall": trim the value and fold each run of spaces, tabs and line breaks into one space. */
function trimAll(value: string): string {
  // Four indexOf scans, not one regex: the ~1 KB session token is folded on every signature, and
  // a regex took ~1.2 µs on it where these take ~0.05 µs.
  if (
    value.indexOf("  ") === -1 &&
    value.indexOf("\t") === -1 &&
    value.indexOf("\n") === -1 &&
    value.indexOf("\r") === -1 &&
    value.charCodeAt(0) !== 32 &&
    value.charCodeAt(value.length - 1) !== 32
  ) {
    return value;
  }
  // Only HTTP whitespace (SP, HTAB, CR, LF): String#trim would also strip Unicode spaces.
  return value.replace(WHITESPACE_RUN, " ").replace(EDGE_SPACE, "");
}

/** One header to sign: lower-case name, value folded (Trimall, repeated lines joined by `,`). */
export type HeaderEntry = [name: string, value: string];

const fold = (value: HeaderValue): string =>
  typeof value === "string" ? trimAll(value) : value.map(trimAll).join(",");

// Header names are lower-case here; code-unit order is the byte order SigV4 asks for in ASCII.
const byName = (a: HeaderEntry, b: HeaderEntry): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

/**
 * {@link canonicalHeaders} of entries already lower-cased and folded; sorts `entries` in place.
 * An array sorted once rather than a Map: a signed request has a handful of headers, and this
 * runs on every signature.
 */
function canonicalEntries(entries: HeaderEntry[]): { canonical: string; signed: string } {
  // Array#sort is stable, so two spellings of one name keep their order when merged below.
  entries.sort(byName);
  let canonical = "";
  let signed = "";
  let previous: string | undefined;
  for (const [name, value] of entries) {
    if (name === previous) {
      // Same name again (`X-A` and `x-a`): its values join the line just written.
      canonical = `${canonical.slice(0, -1)},${value}\n`;
      continue;
    }
    canonical += `${name}:${value}\n`;
    signed += previous === undefined ? name : `;${name}`;
    previous = name;
  }
  return { canonical, signed };
}

/**
 * Canonical headers and the signed-headers list. SigV4 "canonical headers": lower-case names,
 * sorted, values trimmed with inner whitespace folded, repeated values joined by `,` in order.
 */
export function canonicalHeaders(headers: HeaderMap): { canonical: string; signed: string } {
  const entries: HeaderEntry[] = [];
  for (const rawName of Object.keys(headers)) {
    const value = headers[rawName];
    if (value !== undefined) entries.push([rawName.toLowerCase(), fold(value)]);
  }
  return canonicalEntries(entries);
}

/**
 * The SigV4 canonical request: method, canonical URI, canonical query, canonical headers,
 * signed headers and payload hash, separated by `\n`. Signs every header in `input.headers`.
 */
export function canonicalRequest(input: CanonicalRequestInput, uri: UriOptions): string {
  return assemble(input, uri, canonicalHeaders(input.headers));
}

function assemble(
  input: CanonicalRequestInput,
  uri: UriOptions,
  { canonical, signed }: { canonical: string; signed: string },
): string {
  return `${input.method}\n${canonicalUri(input.path, uri)}\n${canonicalQuery(input.query)}\n${canonical}\n${signed}\n${input.payloadHash}`;
}

/** The SigV4 credential scope `yyyymmdd/region/service/aws4_request`. */
export function credentialScope(dateStamp: string, region: string, service: string): string {
  return `${dateStamp}/${region}/${service}/aws4_request`;
}

/** The SigV4 string to sign: algorithm, request date, credential scope, hex SHA-256 of the canonical request. */
export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${hash("sha256", canonical, "hex")}`;
}

// The timestamp changes once a second while requests are signed thousands of times a second:
// the last one is remembered (a memo of a pure function, invisible to callers).
let lastSecond = Number.NaN;
let lastAmzDate = "";

/** `now` as the SigV4 basic ISO 8601 timestamp `yyyymmddThhmmssZ` (UTC). */
export function amzDate(now: Date): string {
  const t = now.getTime();
  if (!Number.isFinite(t)) throw new TypeError("sigv4: invalid date");
  const second = Math.floor(t / 1000);
  if (second === lastSecond) return lastAmzDate;
  const iso = now.toISOString(); // 2015-08-30T12:36:00.000Z
  if (iso.length !== 24) throw new TypeError("sigv4: date out of range");
  lastAmzDate = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  lastSecond = second;
  return lastAmzDate;
}

/**
 * The SigV4 signing key: HMAC chain "AWS4"+secret → date → region → service → "aws4_request"
 * (section "Calculate the signature": derive a signing key).
 */
export function deriveSigningKey(
  secretAccessKey: string,
  dateStamp: string,
  region: string,
  service: string,
): Buffer {
  const kDate = createHmac("sha256", `AWS4${secretAccessKey}`).update(dateStamp).digest();
  const kRegion = createHmac("sha256", kDate).update(region).digest();
  const kService = createHmac("sha256", kRegion).update(service).digest();
  return createHmac("sha256", kService).update("aws4_request").digest();
}

const PAYLOAD_HASH = /^[0-9a-f]{64}$/;

/** Whether a caller's header (lower-case name) is signed; host and the generated ones are the signer's. */
const signable = (name: string): boolean =>
  name !== "host" &&
  !GENERATED_HEADERS.has(name) &&
  !UNSIGNABLE_HEADERS.has(name) &&
  !name.startsWith("proxy-") &&
  !name.startsWith("sec-");

/**
 * The complete header set that is signed, as (lower-case name, folded value) pairs: the
 * caller's signable headers in their order, then `host`, `x-amz-date`, and when applicable
 * `x-amz-content-sha256` and `x-amz-security-token`. Values are folded as SigV4 "Trimall" asks,
 * repeated lines joined by `,`. Two spellings of one name stay two pairs, in order.
 */
export function headersToSign(
  request: SignableRequest,
  generated: Readonly<SigV4Headers>,
  signSessionToken: boolean,
): HeaderEntry[] {
  const entries: HeaderEntry[] = [];
  const { headers } = request;
  for (const rawName of Object.keys(headers)) {
    const value = headers[rawName];
    const name = rawName.toLowerCase();
    if (value !== undefined && signable(name)) entries.push([name, fold(value)]);
  }
  entries.push(["host", trimAll(request.host)], ["x-amz-date", generated["x-amz-date"]]);
  const contentSha256 = generated["x-amz-content-sha256"];
  if (contentSha256 !== undefined) entries.push(["x-amz-content-sha256", contentSha256]);
  const token = generated["x-amz-security-token"];
  if (signSessionToken && token !== undefined) entries.push(["x-amz-security-token", trimAll(token)]);
  return entries;
}

/** The block size of SHA-256, in bytes: HMAC's "B" (RFC 2104). */
const BLOCK = 64;

/**
 * A signing key made ready for HMAC-SHA256 (RFC 2104): HMAC(K, m) = H(K^opad || H(K^ipad || m)).
 * Each key keeps two buffers that start with its padded key, K^ipad and K^opad, so a signature
 * costs two one-shot hashes, one string write and one 32-byte copy, and no HMAC object. Measured
 * against `createHmac(key).update(message).digest("hex")` on Node 20: ~1.2 vs ~1.4 µs in a loop,
 * and little garbage. The buffers are rewritten by every call; sign() is synchronous, so no
 * two calls ever share them at once.
 */
class HmacKey {
  // K^ipad, then room for the message: a string to sign of ordinary service and region names
  // (about 140 bytes) fits; a longer one gets a buffer of its own.
  readonly #inner = Buffer.alloc(BLOCK + 512);
  // K^opad, then the inner digest.
  readonly #outer = Buffer.alloc(BLOCK + 32);

  constructor(key: Buffer) {
    // The key (32 bytes) is shorter than a block, so it is padded with zeros (RFC 2104 step 1).
    for (let i = 0; i < BLOCK; i++) {
      const byte = key[i] ?? 0;
      this.#inner[i] = byte ^ 0x36;
      this.#outer[i] = byte ^ 0x5c;
    }
  }

  /** Lower-case hex HMAC-SHA256 of `message` (UTF-8). */
  hex(message: string): string {
    let inner = this.#inner;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    if (BLOCK + 3 * message.length > inner.length) {
      inner = Buffer.allocUnsafe(BLOCK + 3 * message.length);
      this.#inner.copy(inner, 0, 0, BLOCK);
    }
    const end = BLOCK + inner.write(message, BLOCK, "utf8");
    this.#outer.set(hash("sha256", inner.subarray(0, end), "buffer"), BLOCK);
    return hash("sha256", this.#outer, "hex");
  }
}

/** What one credentials object signs with on one day, worked out on its first request that day. */
interface DayKey {
  readonly dateStamp: string;
  readonly scope: string;
  readonly key: HmacKey;
  /** The Authorization header up to its signed-headers list: `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=`. */
  readonly credential: string;
}

/**
 * A bounded LRU of derived signing keys. Keyed by a SHA-256 of (secret, date) so that the
 * secret itself is never a Map key (heap dumps, accidental logging); never logged.
 */
class KeyCache {
  readonly #limit: number;
  readonly #region: string;
  readonly #service: string;
  readonly #keys = new Map<string, HmacKey>();
  // The fast path: temporary credentials are one object reused for every request of a caller,
  // so its key, scope and credential of the day are found without hashing the secret for the
  // lookup. Credentials objects are taken as immutable (AwsCredentials is readonly), as the
  // provider hands them out.
  readonly #byCredentials = new WeakMap<AwsCredentials, DayKey>();

  constructor(limit: number, region: string, service: string) {
    this.#limit = limit;
    this.#region = region;
    this.#service = service;
  }

  get size(): number {
    return this.#keys.size;
  }

  get(credentials: AwsCredentials, dateStamp: string): DayKey {
    const last = this.#byCredentials.get(credentials);
    if (last !== undefined && last.dateStamp === dateStamp) return last;
    const scope = credentialScope(dateStamp, this.#region, this.#service);
    const day: DayKey = {
      dateStamp,
      scope,
      key: this.#lookup(credentials.secretAccessKey, dateStamp),
      credential: `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=`,
    };
    this.#byCredentials.set(credentials, day);
    return day;
  }

  #lookup(secret: string, dateStamp: string): HmacKey {
    const id = createHash("sha256").update(`${dateStamp}\0${secret}`, "utf8").digest("base64");
    const hit = this.#keys.get(id);
    if (hit !== undefined) {
      // Refresh recency: Map iterates in insertion order, so the first key is the least recent.
      this.#keys.delete(id);
      this.#keys.set(id, hit);
      return hit;
    }
    const key = new HmacKey(deriveSigningKey(secret, dateStamp, this.#region, this.#service));
    if (this.#keys.size >= this.#limit) {
      const oldest = this.#keys.keys().next();
      if (oldest.done !== true) this.#keys.delete(oldest.value);
    }
    this.#keys.set(id, key);
    return key;
  }
}

/**
 * Creates the signer of one (service, region). Signers share nothing; `sign` never mutates its
 * arguments. Only the signer's own bounded key cache changes between calls.
 * @throws TypeError on an empty service or region, or a key cache size below 1.
 */
export function createSigner(options: SignerOptions): Signer {
  const { service, region } = options;
  if (typeof service !== "string" || service === "") throw new TypeError("sigv4: service is required");
  if (typeof region !== "string" || region === "") throw new TypeError("sigv4: region is required");
  const s3 = options.s3 ?? service === "s3";
  const uri: UriOptions = {
    uriEscapePath: options.uriEscapePath ?? !s3,
    normalizePath: options.normalizePath ?? !s3,
  };
  const contentSha256Header = options.contentSha256Header ?? s3;
  const signSessionToken = options.signSessionToken ?? true;
  const keyCacheLimit = options.keyCacheSize ?? DEFAULT_KEY_CACHE_SIZE;
  if (!Number.isInteger(keyCacheLimit) || keyCacheLimit < 1) {
    throw new TypeError("sigv4: keyCacheSize must be an integer >= 1");
  }
  const cache = new KeyCache(keyCacheLimit, region, service);

  function explain(request: SignableRequest, credentials: AwsCredentials, now: Date): SigningDetails {
    const { payloadHash } = request;
    const literal = payloadHash === UNSIGNED_PAYLOAD || payloadHash === STREAMING_UNSIGNED_PAYLOAD_TRAILER;
    if (!literal && !PAYLOAD_HASH.test(payloadHash)) {
      throw new TypeError(
        "sigv4: payloadHash must be lower-case hex SHA-256, UNSIGNED-PAYLOAD or STREAMING-UNSIGNED-PAYLOAD-TRAILER",
      );
    }
    if (typeof request.host !== "string" || request.host === "") {
      throw new TypeError("sigv4: host is required (SigV4 always signs it)");
    }
    const date = amzDate(now);
    const dateStamp = date.slice(0, 8);
    const generated: SigV4Headers = { authorization: "", "x-amz-date": date };
    if (contentSha256Header || literal) {
      generated["x-amz-content-sha256"] = payloadHash;
    }
    const token = credentials.sessionToken;
    if (token !== undefined && token !== "") generated["x-amz-security-token"] = token;

    const headerParts = canonicalEntries(headersToSign(request, generated, signSessionToken));
    const signedHeaders = headerParts.signed;
    const canonical = assemble(request, uri, headerParts);
    const day = cache.get(credentials, dateStamp);
    const toSign = stringToSign(date, day.scope, canonical);
    const signature = day.key.hex(toSign);
    // Section "Add the signature to the request": the Authorization header.
    generated.authorization = `${day.credential}${signedHeaders}, Signature=${signature}`;
    return {
      headers: generated,
      canonicalRequest: canonical,
      stringToSign: toSign,
      signedHeaders,
      signature,
    };
  }

  return {
    service,
    region,
    keyCacheLimit,
    keyCacheSize: () => cache.size,
    sign: (request, credentials, now) => explain(request, credentials, now).headers,
    explain,
  };
}
