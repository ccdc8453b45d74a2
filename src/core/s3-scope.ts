/**
 * Confinement of S3 requests to one key prefix per caller (`upstream.s3.keyPrefix`), decided
 * before anything is signed, and the matching STS session policy so that AWS enforces the same
 * prefix a second time (basic flow).
 *
 * Pure: no I/O, no clock. Every rule fails closed: what cannot be read with certainty is refused.
 */

/** How the bucket is named: in the first path segment, or in the host name. */
export type S3Addressing = "path" | "virtual";

/**
 * Why an S3 request was refused (each becomes a 403, `bad_request` a 400, at the edge):
 * - `outside_prefix`: a key, listing prefix or copy source outside the caller's prefix;
 * - `bucket_operation`: a bucket- or service-level request other than a confined listing;
 * - `operation`: an S3 operation cupbearer does not let through on a confined route (an object
 *   POST other than multipart create/complete, restore or select);
 * - `bad_request`: a request the upstream could read differently from us.
 */
export type S3Refusal = "outside_prefix" | "bucket_operation" | "operation" | "bad_request";

/** The decision of {@link checkS3Request}. */
export type S3Decision = { allow: true } | { allow: false; reason: S3Refusal };

const ALLOW: S3Decision = { allow: true };
const refuse = (reason: S3Refusal): S3Decision => ({ allow: false, reason });

// Control characters (C0, DEL, C1) and lone UTF-16 surrogates (in "u" mode only unpaired ones are Cs).
const UNSAFE_VALUE = /[\p{Cc}\p{Cs}]/u;

/**
 * The caller's key prefix: `template` with `{identityId}` and `{sub}` replaced. Config validation
 * has already refused any other brace, so nothing else is interpreted.
 *
 * A substituted value that is empty, `.`, `..`, or holds a `/`, a control character or a lone
 * surrogate could widen or blur the prefix (`private/../`, `private//`), so it is refused rather
 * than escaped. Such a caller has no prefix of its own, so the edge answers 403 (fail closed).
 * @throws RangeError when a substituted value is unsafe.
 */
export function resolveKeyPrefix(template: string, values: { identityId: string; sub: string }): string {
  return template.replace(/\{(identityId|sub)\}/g, (_match, name: "identityId" | "sub") => {
    const value = values[name];
    if (value === "" || value === "." || value === ".." || value.includes("/") || UNSAFE_VALUE.test(value)) {
      throw new RangeError(`the ${name} cannot be used in an S3 key prefix`);
    }
    return value;
  });
}

/** The characters of S3 bucket names, legacy ones (upper case, `_`) included. */
const BUCKET_NAME = /^[A-Za-z0-9._-]+$/;

/** Strict percent-decoding (UTF-8); undefined on a malformed escape or invalid UTF-8. */
function decode(raw: string): string | undefined {
  if (!raw.includes("%")) return raw;
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return undefined;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/** Query parameters whose presence means the request carries its own signature (SigV4 and SigV2). */
const PRESIGN_PARAMETERS: ReadonlySet<string> = new Set([
  "x-amz-signature",
  "x-amz-credential",
  "x-amz-algorithm",
  "x-amz-date",
  "x-amz-expires",
  "x-amz-signedheaders",
  "x-amz-security-token",
  "awsaccesskeyid",
  "signature",
]);

/**
 * The parameters of ListObjects and ListObjectsV2 (S3 API reference). Any other parameter on a
 * bucket-level request makes it some other bucket operation (`?acl`, `?policy`, `?versions`…).
 */
const LIST_PARAMETERS: ReadonlySet<string> = new Set([
  "list-type",
  "prefix",
  "delimiter",
  "max-keys",
  "marker",
  "continuation-token",
  "start-after",
  "encoding-type",
  "fetch-owner",
  "optional-object-attributes",
]);

/**
 * The sub-resources that make an object POST one of the operations let through:
 * CreateMultipartUpload (`uploads`), CompleteMultipartUpload (`uploadId`), RestoreObject
 * (`restore`) and SelectObjectContent (`select`, with `select-type`). Any other object POST
 * (`?delete`, a bare POST with a form body…) could act on keys named in a body we do not parse.
 */
const OBJECT_POST_OPERATIONS: ReadonlySet<string> = new Set(["uploads", "uploadId", "restore", "select"]);

/** The other parameters an object POST may carry: `x-id` (SDK operation hint), `versionId`, `select-type`. */
const OBJECT_POST_PARAMETERS: ReadonlySet<string> = new Set(["x-id", "versionId", "select-type"]);

/**
 * Is this object POST one of {@link OBJECT_POST_OPERATIONS}: exactly one of them, nothing but
 * {@link OBJECT_POST_PARAMETERS} beside it, and `select-type` exactly when `select`? Names are
 * exact, as S3 reads them; any other spelling is an unknown parameter, so refused.
 */
function isAllowedObjectPost(params: ReadonlyMap<string, string>): boolean {
  let operations = 0;
  for (const name of params.keys()) {
    if (OBJECT_POST_OPERATIONS.has(name)) operations++;
    else if (!OBJECT_POST_PARAMETERS.has(name)) return false;
  }
  return operations === 1 && params.has("select") === params.has("select-type");
}

const NO_PARAMETERS: ReadonlyMap<string, string> = new Map();

/**
 * Query parameters: names decoded ("+" literal, as AWS reads them), values checked for
 * well-formed encoding but kept raw; or a refusal.
 */
function parseQuery(query: string): ReadonlyMap<string, string> | S3Refusal {
  if (query === "") return NO_PARAMETERS;
  const params = new Map<string, string>();
  const seen = new Set<string>();
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = decode(eq === -1 ? part : part.slice(0, eq));
    if (name === undefined) return "bad_request";
    const lower = name.toLowerCase();
    if (PRESIGN_PARAMETERS.has(lower)) return "bad_request";
    // Twice the same name: the upstream may read either one; case-insensitively, to be sure.
    if (seen.has(lower)) return "bad_request";
    seen.add(lower);
    const value = eq === -1 ? "" : part.slice(eq + 1);
    if (decode(value) === undefined) return "bad_request";
    params.set(name, value);
  }
  return params;
}

/**
 * Does a raw (still percent-encoded) value name something inside `prefix`, whichever way `+` is
 * read? AWS reads `+` as a plus, but some S3 implementations and form decoders read a space;
 * both readings must stay inside. Malformed encoding is outside (callers have refused it already).
 */
function insidePrefix(raw: string, prefix: string): boolean {
  return (
    decode(raw)?.startsWith(prefix) === true && decode(raw.replace(/\+/g, " "))?.startsWith(prefix) === true
  );
}

/**
 * A key with a `.` or `..` segment. S3 keys are literal, but the core has already removed dot
 * segments from the path, so such a key can only come from a bug or from an S3 look-alike
 * that would resolve it: refused either way.
 */
function hasDotSegment(key: string): boolean {
  return DOT_SEGMENT.test(key);
}

const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** The key named by an `x-amz-copy-source` header (`[/]bucket/key[?versionId=…]`), checked. */
function checkCopySource(copySource: string, prefix: string): S3Refusal | undefined {
  // Node joins a repeated header with ", ", while the upstream sees each line: a raw comma
  // could hide a second source behind the first. Keys with commas must send them as %2C.
  if (copySource.includes(",")) return "bad_request";
  const q = copySource.indexOf("?");
  const source = q === -1 ? copySource : copySource.slice(0, q);
  // The only query S3 defines here is the version; anything else is not ours to guess at.
  if (q !== -1 && !/^versionId=[^&?]*$/.test(copySource.slice(q + 1))) return "bad_request";
  const path = source.startsWith("/") ? source.slice(1) : source;
  // Access-point and Outposts ARNs name their bucket indirectly: refused, never interpreted.
  if (/^arn(?::|%3a)/i.test(path)) return "outside_prefix";
  const slash = path.indexOf("/");
  // A bucket name is plain (no "%"): then splitting before or after decoding gives the same key,
  // whichever order the upstream uses ("b%2Fother/private/…" cannot shift the key).
  if (slash <= 0 || !BUCKET_NAME.test(path.slice(0, slash))) return "bad_request";
  const rawKey = path.slice(slash + 1);
  const key = decode(rawKey);
  if (key === undefined || hasDotSegment(key)) return "bad_request";
  return insidePrefix(rawKey, prefix) ? undefined : "outside_prefix";
}

/**
 * May this S3 request pass, given the caller's key `prefix`? Called before signing.
 *
 * - An object request (any method, any sub-resource but RenameObject, whose source header is not
 *   checked here) is allowed only for a key (percent-decoded) that starts with `prefix`.
 * - An object POST is allowed only as CreateMultipartUpload (`uploads`), CompleteMultipartUpload
 *   (`uploadId`), RestoreObject (`restore`) or SelectObjectContent (`select` and `select-type`),
 *   with no other parameter but `x-id` and `versionId`; any other is an `operation`.
 * - A bucket-level request is allowed only as ListObjects/ListObjectsV2: GET, no parameter but
 *   the listing ones, and exactly one `prefix` parameter inside the caller's prefix. Everything
 *   else at bucket or service level is a `bucket_operation`, including POST on a bucket
 *   (DeleteObjects, browser POST uploads): those name their keys in a body we do not parse.
 * - `x-amz-copy-source` must name a key inside the prefix too (the source bucket is not checked:
 *   the prefix applies in every bucket the role may reach, as the session policy does).
 * - A repeated query parameter, malformed percent-encoding or presigned-URL parameters are a
 *   `bad_request`: the upstream could read them differently from us.
 *
 * @param req.path the path exactly as it goes upstream (normalized by the core, percent-encoded).
 * @param req.query the raw query string without `?` (`""` when there is none).
 * @param req.copySource the client's `x-amz-copy-source` header, if any.
 */
export function checkS3Request(
  req: { method: string; path: string; query: string; copySource: string | undefined },
  prefix: string,
  addressing: S3Addressing,
): S3Decision {
  const params = parseQuery(req.query);
  if (typeof params === "string") return refuse(params);
  if (!req.path.startsWith("/")) return refuse("bad_request");

  let rawKey: string;
  if (addressing === "path") {
    const slash = req.path.indexOf("/", 1);
    // "/" alone is the service (ListBuckets); "/bucket" and "/bucket/" are the bucket.
    if (req.path === "/") return refuse("bucket_operation");
    const bucket = slash === -1 ? req.path.slice(1) : req.path.slice(1, slash);
    // A bucket name is plain; an escape in it could move the bucket/key boundary upstream.
    if (!BUCKET_NAME.test(bucket)) return refuse("bad_request");
    rawKey = slash === -1 ? "" : req.path.slice(slash + 1);
  } else {
    rawKey = req.path.slice(1);
  }

  if (req.copySource !== undefined) {
    const refusal = checkCopySource(req.copySource, prefix);
    if (refusal !== undefined) return refuse(refusal);
  }

  if (rawKey === "") return checkListing(req.method, params, prefix);

  const key = decode(rawKey);
  if (key === undefined || hasDotSegment(key)) return refuse("bad_request");
  // RenameObject names its source in `x-amz-rename-source`, which is not checked here: refused.
  for (const name of params.keys())
    if (name.toLowerCase() === "renameobject") return refuse("outside_prefix");
  if (req.method.toUpperCase() === "POST" && !isAllowedObjectPost(params)) return refuse("operation");
  // Both readings of "+", as for the other values (canonicalS3Path sends "+" as %2B anyway).
  return insidePrefix(rawKey, prefix) ? ALLOW : refuse("outside_prefix");
}

function checkListing(method: string, params: ReadonlyMap<string, string>, prefix: string): S3Decision {
  if (method !== "GET") return refuse("bucket_operation");
  for (const name of params.keys()) if (!LIST_PARAMETERS.has(name)) return refuse("bucket_operation");
  const listPrefix = params.get("prefix");
  // No prefix lists the whole bucket.
  if (listPrefix === undefined) return refuse("outside_prefix");
  return insidePrefix(listPrefix, prefix) ? ALLOW : refuse("outside_prefix");
}

const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;
const EXTRA_RESERVED = /[!'()*]/g;
const hexEscape = (c: string): string => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/**
 * RFC 3986 percent-encoding of a string's UTF-8 bytes, everything but `A-Z a-z 0-9 - . _ ~`,
 * upper-case hex: the SigV4 "URI-encode". The same function as the signer's `uriEncode`, kept
 * here so that the core imports nothing of `aws/`.
 */
function uriEncode(value: string): string {
  if (UNRESERVED.test(value)) return value;
  return encodeURIComponent(value).replace(EXTRA_RESERVED, hexEscape);
}

const PLAIN_PATH = /^[A-Za-z0-9\-._~/]*$/;

/**
 * The wire path re-encoded the way AWS SDKs send S3 keys: each segment percent-decoded, then
 * URI-encoded (RFC 3986 unreserved characters only), `/` kept.
 *
 * Why: for S3 the signed canonical URI is the wire path itself (S3 does not double-encode), so
 * the two must be the same string, and S3 checks it against its own encoding of the key. A path
 * as a client may send it (`/a(b)`, `/a%2a`) is valid but not in that form; the form SDKs send
 * is the one every S3 implementation reconstructs, so the proxy sends and signs exactly it.
 * @throws URIError on malformed percent-encoding (the core has already refused it).
 */
export function canonicalS3Path(path: string): string {
  // The usual key: unreserved characters and slashes alone decode and encode to themselves.
  if (PLAIN_PATH.test(path)) return path;
  return path
    .split("/")
    .map((segment) => uriEncode(decodeURIComponent(segment)))
    .join("/");
}

/** STS's limit on the plaintext of an inline session policy (AssumeRoleWithWebIdentity `Policy`). */
export const SESSION_POLICY_MAX_CHARS = 2048;

/**
 * The inline session policy (compact IAM JSON) that confines STS credentials to `prefix`: every
 * S3 action on objects under it in any bucket, and ListBucket only with an `s3:prefix` under it.
 *
 * IAM wildcard characters in the prefix are escaped (`*` → `${*}`, `?` → `${?}`, `$` → `${$}`) so
 * it matches literally. Every character outside printable ASCII is written as a JSON `\uXXXX`
 * escape, as STS accepts only `\u0020`–`\u00FF` (and tab, CR, LF) in a policy's text.
 * @throws RangeError when the policy would exceed STS's 2048 characters (STS would refuse it).
 */
export function s3SessionPolicy(prefix: string): string {
  const literal = prefix.replace(/[*?$]/g, (c) => `\${${c}}`);
  const policy = {
    Version: "2012-10-17",
    Statement: [
      { Effect: "Allow", Action: "s3:*", Resource: `arn:aws:s3:::*/${literal}*` },
      {
        Effect: "Allow",
        Action: "s3:ListBucket",
        Resource: "arn:aws:s3:::*",
        Condition: { StringLike: { "s3:prefix": `${literal}*` } },
      },
    ],
  };
  const json = JSON.stringify(policy).replace(
    /[^\u0020-\u007e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  if (json.length > SESSION_POLICY_MAX_CHARS) {
    throw new RangeError(
      `the S3 session policy is ${json.length} characters, above STS's ${SESSION_POLICY_MAX_CHARS}`,
    );
  }
  return json;
}
