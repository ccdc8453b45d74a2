import fc from "fast-check";
import t from "tap";
import { uriEncode } from "../../src/aws/signer.js";
import { normalizeTarget } from "../../src/core/path.js";
import {
  canonicalS3Path,
  checkS3Request,
  resolveKeyPrefix,
  type S3Addressing,
  type S3Decision,
  SESSION_POLICY_MAX_CHARS,
  s3SessionPolicy,
} from "../../src/core/s3-scope.js";

const allow: S3Decision = { allow: true };
const deny = (reason: string) => ({ allow: false, reason });

/** A dollar sign, so that IAM's `${…}` escapes can be written in templates. */
const D = "$";
const ID = "eu-west-1:11111111-2222-3333-4444-555555555555";
const SUB = "0f1e2d3c-aaaa-bbbb-cccc-123456789abc";

t.test("resolveKeyPrefix: placeholders", async (t) => {
  const cases: Array<[template: string, expected: string]> = [
    ["private/{identityId}/", `private/${ID}/`],
    ["users/{sub}/", `users/${SUB}/`],
    ["{sub}/{identityId}/{sub}/", `${SUB}/${ID}/${SUB}/`],
    ["shared/", "shared/"],
    ["", ""],
    // Only the two names are placeholders (validation refuses other braces; nothing else is read).
    ["a/{other}/", "a/{other}/"],
    ["a/{Sub}/", "a/{Sub}/"],
    // The config's own "${VAR}" interpolation has run before; a "$" left over is literal.
    [`a/${D}{sub}/`, `a/$${SUB}/`],
  ];
  for (const [template, expected] of cases) {
    t.equal(resolveKeyPrefix(template, { identityId: ID, sub: SUB }), expected, template);
  }
  // Odd values are fine where they are not used.
  t.equal(resolveKeyPrefix("u/{sub}/", { identityId: "..", sub: "s" }), "u/s/");
  // Characters that are harmless in a key are kept as they are (the session policy escapes them).
  for (const sub of ["a*b", "a?b", "a$b", "a b", "é€😀", "a%2Fb", "a\\b", "a+b", "...", ".a", "a."]) {
    t.equal(resolveKeyPrefix("u/{sub}/", { identityId: ID, sub }), `u/${sub}/`, JSON.stringify(sub));
  }
});

t.test("resolveKeyPrefix: values that could widen the prefix", async (t) => {
  const bad = [
    "",
    ".",
    "..",
    "a/b",
    "/",
    "../x",
    "a\u0000b",
    "a\nb",
    "a\rb",
    "\t",
    "a\u007fb",
    "a\u0085b",
    "a\ud800",
  ];
  for (const value of bad) {
    t.throws(
      () => resolveKeyPrefix("private/{sub}/", { identityId: ID, sub: value }),
      { name: "RangeError", message: "the sub cannot be used in an S3 key prefix" },
      `sub ${JSON.stringify(value)}`,
    );
    t.throws(
      () => resolveKeyPrefix("private/{identityId}/", { identityId: value, sub: SUB }),
      { name: "RangeError", message: "the identityId cannot be used in an S3 key prefix" },
      `identityId ${JSON.stringify(value)}`,
    );
  }
  // A lone low surrogate too, and a well-formed pair is fine.
  t.throws(() => resolveKeyPrefix("{sub}/", { identityId: ID, sub: "\udc00a" }), RangeError);
  t.equal(resolveKeyPrefix("{sub}/", { identityId: ID, sub: "\ud83d\ude00" }), "\ud83d\ude00/");
});

type Req = { method?: string; path: string; query?: string; copySource?: string };
const check = (r: Req, prefix: string, addressing: S3Addressing) =>
  checkS3Request(
    { method: r.method ?? "GET", path: r.path, query: r.query ?? "", copySource: r.copySource },
    prefix,
    addressing,
  );

const P = "private/abc/";

t.test("checkS3Request: object requests, both addressing styles", async (t) => {
  // [name, request with the key as path-style "/bucket" + path, expected]: the same key is then
  // checked in virtual-hosted style with the path alone.
  const cases: Array<[name: string, req: Req, expected: object]> = [
    ["GET inside", { path: "/private/abc/file.txt" }, allow],
    ["PUT inside", { method: "PUT", path: "/private/abc/file.txt" }, allow],
    ["DELETE inside", { method: "DELETE", path: "/private/abc/a/b/c" }, allow],
    ["HEAD inside", { method: "HEAD", path: "/private/abc/x" }, allow],
    ["POST inside (multipart create)", { method: "POST", path: "/private/abc/x", query: "uploads" }, allow],
    ["sub-resource inside", { method: "PUT", path: "/private/abc/x", query: "tagging" }, allow],
    ["multipart part", { method: "PUT", path: "/private/abc/x", query: "partNumber=1&uploadId=u" }, allow],
    ["SDK x-id", { path: "/private/abc/x", query: "x-id=GetObject" }, allow],
    ["the prefix itself (folder marker)", { method: "PUT", path: "/private/abc/" }, allow],
    ["encoded space", { path: "/private/abc/my%20file.txt" }, allow],
    ["encoded unicode", { path: "/private/abc/%C3%A9t%C3%A9/%F0%9F%98%80" }, allow],
    ["encoded colon", { path: "/private/abc/a%3Ab" }, allow],
    ["raw plus", { path: "/private/abc/a+b" }, allow],
    ["encoded prefix characters", { path: "/private/%61bc/x" }, allow],
    ["dots inside names", { path: "/private/abc/..a/.b/c../..." }, allow],
    // Outside.
    ["other user", { path: "/private/xyz/file.txt" }, deny("outside_prefix")],
    ["look-alike prefix", { path: "/private/abcd/file.txt" }, deny("outside_prefix")],
    ["prefix without its slash", { path: "/private/abc" }, deny("outside_prefix")],
    ["parent folder", { path: "/private/" }, deny("outside_prefix")],
    ["case differs", { path: "/Private/abc/x" }, deny("outside_prefix")],
    // RenameObject's source is a header this check does not see.
    [
      "RenameObject",
      { method: "PUT", path: "/private/abc/x", query: "renameObject" },
      deny("outside_prefix"),
    ],
    [
      "RenameObject, other case",
      { method: "PUT", path: "/private/abc/x", query: "RENAMEOBJECT=" },
      deny("outside_prefix"),
    ],
    ["encoded slash is still a different key", { path: "/private%2Fabcd/x" }, deny("outside_prefix")],
    ["PUT outside", { method: "PUT", path: "/public/x" }, deny("outside_prefix")],
    // Traversal-looking keys: never normalized here, refused.
    ["dot-dot segment", { path: "/private/abc/../xyz/f" }, deny("bad_request")],
    ["encoded dot-dot segment", { path: "/private/abc/%2E%2E/xyz/f" }, deny("bad_request")],
    ["dot segment", { path: "/private/abc/./f" }, deny("bad_request")],
    ["dot-dot through an encoded slash", { path: "/private/abc/..%2Fxyz" }, deny("bad_request")],
    ["dot-dot last", { path: "/private/abc/x/.." }, deny("bad_request")],
    ["dot last", { path: "/private/abc/." }, deny("bad_request")],
    ["dot-dot key", { path: "/.." }, deny("bad_request")],
    // Malformed encoding.
    ["bad escape", { path: "/private/abc/%zz" }, deny("bad_request")],
    ["truncated escape", { path: "/private/abc/%4" }, deny("bad_request")],
    ["invalid UTF-8", { path: "/private/abc/%C3" }, deny("bad_request")],
  ];
  for (const [name, req, expected] of cases) {
    t.strictSame(check({ ...req, path: `/bucket${req.path}` }, P, "path"), expected, `path-style: ${name}`);
    t.strictSame(check(req, P, "virtual"), expected, `virtual: ${name}`);
  }
});

t.test("checkS3Request: object POST only as multipart, restore or select", async (t) => {
  const cases: Array<[name: string, query: string, expected: object]> = [
    ["CreateMultipartUpload", "uploads", allow],
    ["CreateMultipartUpload, SDK form", "uploads=&x-id=CreateMultipartUpload", allow],
    ["CompleteMultipartUpload", "uploadId=u", allow],
    ["CompleteMultipartUpload, SDK form", "x-id=CompleteMultipartUpload&uploadId=u", allow],
    ["RestoreObject", "restore", allow],
    ["RestoreObject of a version", "restore&versionId=v&x-id=RestoreObject", allow],
    ["SelectObjectContent", "select&select-type=2", allow],
    ["SelectObjectContent, SDK form", "select&select-type=2&x-id=SelectObjectContent", allow],
    // Anything else could act on keys named in the body.
    ["bare POST (form body)", "", deny("operation")],
    ["DeleteObjects on an object key", "delete", deny("operation")],
    ["delete beside an allowed one", "uploads&delete", deny("operation")],
    ["two operations", "uploads&uploadId=u", deny("operation")],
    ["select without select-type", "select", deny("operation")],
    ["select-type alone", "select-type=2", deny("operation")],
    ["select-type on another operation", "restore&select-type=2", deny("operation")],
    ["other sub-resource", "uploads&acl", deny("operation")],
    ["names are exact", "Uploads", deny("operation")],
    ["x-id alone", "x-id=CreateMultipartUpload", deny("operation")],
    ["versionId alone", "versionId=v", deny("operation")],
    ["tagging", "tagging", deny("operation")],
  ];
  for (const [name, query, expected] of cases) {
    const req = { method: "POST", path: "/private/abc/x", query };
    t.strictSame(check({ ...req, path: `/b${req.path}` }, P, "path"), expected, `path-style: ${name}`);
    t.strictSame(check(req, P, "virtual"), expected, `virtual: ${name}`);
  }
  t.strictSame(
    check({ method: "post", path: "/private/abc/x", query: "delete" }, P, "virtual"),
    deny("operation"),
    "method in other case",
  );
  // The same queries on other methods are judged by the key alone, as before.
  t.strictSame(check({ method: "PUT", path: "/private/abc/x" }, P, "virtual"), allow, "PUT, no query");
  t.strictSame(check({ method: "DELETE", path: "/private/abc/x", query: "uploadId=u" }, P, "virtual"), allow);
  // Outside the prefix, allowed POSTs are refused too.
  t.strictSame(
    check({ method: "POST", path: "/private/xyz/x", query: "uploads" }, P, "virtual"),
    deny("outside_prefix"),
  );
});

t.test("checkS3Request: bucket and service level", async (t) => {
  const cases: Array<[name: string, req: Req, addressing: S3Addressing, expected: object]> = [
    ["service level (ListBuckets)", { path: "/" }, "path", deny("bucket_operation")],
    [
      "service level with list parameters",
      { path: "/", query: "prefix=private/abc/" },
      "path",
      deny("bucket_operation"),
    ],
    ["empty path", { path: "" }, "path", deny("bad_request")],
    ["relative path", { path: "bucket/x" }, "path", deny("bad_request")],
    ["relative path (virtual)", { path: "x" }, "virtual", deny("bad_request")],
    ["empty bucket name", { path: "//private/abc/x" }, "path", deny("bad_request")],
    ["escaped bucket name", { path: "/b%2Fx/private/abc/y" }, "path", deny("bad_request")],
    ["bucket name with a space", { path: "/b%20x" }, "path", deny("bad_request")],
    ["legacy bucket name", { path: "/My_Bucket/private/abc/x" }, "path", allow],
    ["HeadBucket", { method: "HEAD", path: "/bucket" }, "path", deny("bucket_operation")],
    ["CreateBucket", { method: "PUT", path: "/bucket" }, "path", deny("bucket_operation")],
    ["DeleteBucket", { method: "DELETE", path: "/bucket/" }, "path", deny("bucket_operation")],
    ["DeleteObjects", { method: "POST", path: "/bucket", query: "delete" }, "path", deny("bucket_operation")],
    ["browser POST upload", { method: "POST", path: "/" }, "virtual", deny("bucket_operation")],
    [
      "POST with a good prefix",
      { method: "POST", path: "/", query: "prefix=private/abc/" },
      "virtual",
      deny("bucket_operation"),
    ],
    ["GetBucketAcl", { path: "/bucket", query: "acl" }, "path", deny("bucket_operation")],
    ["GetBucketPolicy", { path: "/", query: "policy" }, "virtual", deny("bucket_operation")],
    [
      "ListObjectVersions",
      { path: "/", query: "versions&prefix=private/abc/" },
      "virtual",
      deny("bucket_operation"),
    ],
    [
      "ListMultipartUploads",
      { path: "/", query: "uploads&prefix=private/abc/" },
      "virtual",
      deny("bucket_operation"),
    ],
    [
      "parameter names are exact",
      { path: "/", query: "Prefix=private/abc/" },
      "virtual",
      deny("bucket_operation"),
    ],
    ["list without prefix", { path: "/bucket" }, "path", deny("outside_prefix")],
    ["list-type=2 without prefix", { path: "/", query: "list-type=2" }, "virtual", deny("outside_prefix")],
  ];
  for (const [name, req, addressing, expected] of cases) {
    t.strictSame(check(req, P, addressing), expected, name);
  }
});

t.test("checkS3Request: listing", async (t) => {
  // [name, query, expected]; each is tried on "/bucket", "/bucket/" (path) and "/" (virtual).
  const cases: Array<[name: string, query: string, expected: object]> = [
    ["V2 inside", "list-type=2&prefix=private%2Fabc%2F", allow],
    ["V2 raw slash", "list-type=2&prefix=private/abc/", allow],
    ["V1 inside", "prefix=private/abc/", allow],
    ["deeper prefix", "list-type=2&prefix=private/abc/photos/2024", allow],
    [
      "every listing parameter",
      "list-type=2&prefix=private/abc/&delimiter=%2F&max-keys=10&marker=m&continuation-token=c&start-after=private/abc/a&encoding-type=url&fetch-owner=true&optional-object-attributes=RestoreStatus",
      allow,
    ],
    ["empty parts are ignored", "&prefix=private/abc/&&list-type=2&", allow],
    ["encoded parameter name", "%70refix=private/abc/", allow],
    ["encoded space", "prefix=private/abc/my%20folder", allow],
    ["plus in the tail", "prefix=private/abc/a+b", allow],
    // Outside.
    ["other user", "list-type=2&prefix=private/xyz/", deny("outside_prefix")],
    ["look-alike", "prefix=private/abcd/", deny("outside_prefix")],
    ["shorter prefix", "prefix=private/abc", deny("outside_prefix")],
    ["parent", "prefix=private/", deny("outside_prefix")],
    ["empty prefix", "prefix=", deny("outside_prefix")],
    ["prefix without value", "prefix", deny("outside_prefix")],
    // "+" is a plus to AWS but a space to form decoders: either reading outside refuses.
    ["plus in the tail, either reading inside", "prefix=private/abc/+", allow],
    // Duplicates, malformed encoding, presigned parameters.
    ["two prefixes", "prefix=private/abc/&prefix=private/xyz/", deny("bad_request")],
    ["two prefixes, other order", "prefix=private/xyz/&prefix=private/abc/", deny("bad_request")],
    ["same name, other case", "prefix=private/abc/&PREFIX=x", deny("bad_request")],
    ["same name, encoded", "prefix=private/abc/&%70refix=private/xyz/", deny("bad_request")],
    ["two list-types", "list-type=2&list-type=2&prefix=private/abc/", deny("bad_request")],
    ["malformed prefix", "prefix=private/abc/%zz", deny("bad_request")],
    ["malformed UTF-8 prefix", "prefix=private/abc/%E2%82", deny("bad_request")],
    ["malformed name", "pre%fix=private/abc/", deny("bad_request")],
    ["unknown parameter", "prefix=private/abc/&acl", deny("bucket_operation")],
  ];
  for (const [name, query, expected] of cases) {
    t.strictSame(check({ path: "/bucket", query }, P, "path"), expected, `/bucket: ${name}`);
    t.strictSame(check({ path: "/bucket/", query }, P, "path"), expected, `/bucket/: ${name}`);
    t.strictSame(check({ path: "/", query }, P, "virtual"), expected, `virtual: ${name}`);
  }

  // Object keys too: a raw "+" in a path is read both ways.
  t.strictSame(
    check({ path: "/u/a+b/x" }, "u/a+b/", "virtual"),
    deny("outside_prefix"),
    "raw plus in the key",
  );
  t.strictSame(check({ path: "/u/a%2Bb/x" }, "u/a+b/", "virtual"), allow, "encoded plus in the key");
  t.strictSame(
    check({ path: "/u/a+b/x" }, "u/a b/", "virtual"),
    deny("outside_prefix"),
    "plus is not a space to AWS",
  );
  t.strictSame(check({ path: "/u/a%20b/x" }, "u/a b/", "virtual"), allow, "encoded space in the key");

  // A prefix holding "+" or a space: both readings of "+" must stay inside.
  const plus = "u/a+b/";
  t.strictSame(check({ path: "/", query: "prefix=u/a%2Bb/" }, plus, "virtual"), allow, "encoded plus");
  t.strictSame(
    check({ path: "/", query: "prefix=u/a+b/" }, plus, "virtual"),
    deny("outside_prefix"),
    "raw plus",
  );
  const space = "u/a b/";
  t.strictSame(check({ path: "/", query: "prefix=u/a%20b/" }, space, "virtual"), allow, "encoded space");
  t.strictSame(
    check({ path: "/", query: "prefix=u/a+b/" }, space, "virtual"),
    deny("outside_prefix"),
    "plus as space",
  );
});

t.test("checkS3Request: presigned-URL parameters", async (t) => {
  const names = [
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Algorithm",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Security-Token",
    "x-amz-signature",
    "X-AMZ-CREDENTIAL",
    "X%2DAmz%2DSignature",
    "AWSAccessKeyId",
    "Signature",
  ];
  for (const name of names) {
    t.strictSame(
      check({ path: "/private/abc/x", query: `${name}=v` }, P, "virtual"),
      deny("bad_request"),
      name,
    );
    t.strictSame(
      check({ path: "/", query: `prefix=private/abc/&${name}` }, P, "virtual"),
      deny("bad_request"),
      name,
    );
  }
  t.strictSame(
    check({ path: "/private/abc/x", query: "a=1&a=2" }, P, "virtual"),
    deny("bad_request"),
    "duplicates on objects too",
  );
  t.strictSame(
    check({ path: "/private/abc/x", query: "a=%G0" }, P, "virtual"),
    deny("bad_request"),
    "malformed query on objects",
  );
  t.strictSame(
    check({ path: "/private/abc/x", query: "a=%G0" }, P, "path"),
    deny("bad_request"),
    "query checked before path",
  );
});

t.test("checkS3Request: x-amz-copy-source", async (t) => {
  const cases: Array<[name: string, copySource: string, expected: object]> = [
    ["bucket/key", "src/private/abc/a.txt", allow],
    ["/bucket/key", "/src/private/abc/a.txt", allow],
    ["encoded key", "src/private/abc/my%20file%C3%A9.txt", allow],
    ["encoded slashes in the key", "src/private%2Fabc%2Fa.txt", allow],
    ["with version", "src/private/abc/a.txt?versionId=3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY", allow],
    ["with empty version", "/src/private/abc/a.txt?versionId=", allow],
    ["legacy bucket name", "My_Bucket/private/abc/a", allow],
    ["other user", "src/private/xyz/a.txt", deny("outside_prefix")],
    ["look-alike", "src/private/abcd/a.txt", deny("outside_prefix")],
    ["the bucket alone", "src/", deny("outside_prefix")],
    ["plus read as space could differ", "src/private/abc/a+b", allow],
    [
      "access point ARN",
      "arn:aws:s3:eu-west-1:123456789012:accesspoint/private/object/private/abc/a",
      deny("outside_prefix"),
    ],
    [
      "encoded access point ARN",
      "arn%3Aaws%3As3:eu-west-1:1:accesspoint/ap/object/private/abc/a",
      deny("outside_prefix"),
    ],
    ["/ARN", "/ARN:aws:s3:::x/private/abc/a", deny("outside_prefix")],
    ["encoded comma", "src/private/abc/a%2Cb", allow],
    ["raw comma", "src/private/abc/a,b", deny("bad_request")],
    ["a repeated header joined by Node", "src/private/abc/a, src/private/xyz/b", deny("bad_request")],
    ["empty", "", deny("bad_request")],
    ["no key", "src", deny("bad_request")],
    ["no bucket", "//private/abc/a", deny("bad_request")],
    ["first segment is the bucket", "/private/abc/a", deny("outside_prefix")],
    ["only a slash", "/", deny("bad_request")],
    ["escaped bucket cannot shift the key", "src%2Fprivate/abc/a", deny("bad_request")],
    ["escaped slash between bucket and key", "src%2Fprivate%2Fabc%2Fa", deny("bad_request")],
    ["other query", "src/private/abc/a?acl", deny("bad_request")],
    ["version and more", "src/private/abc/a?versionId=1&x=2", deny("bad_request")],
    ["malformed key", "src/private/abc/%zz", deny("bad_request")],
    ["dot-dot key", "src/private/abc/../xyz/a", deny("bad_request")],
    ["encoded dot-dot key", "src/private/abc/%2e%2e/xyz/a", deny("bad_request")],
  ];
  for (const [name, copySource, expected] of cases) {
    t.strictSame(
      check({ method: "PUT", path: "/dst/private/abc/copy", copySource }, P, "path"),
      expected,
      `path-style: ${name}`,
    );
    t.strictSame(
      check({ method: "PUT", path: "/private/abc/copy", copySource }, P, "virtual"),
      expected,
      `virtual: ${name}`,
    );
  }
  // UploadPartCopy: same header, object request with multipart parameters.
  t.strictSame(
    check(
      {
        method: "PUT",
        path: "/private/abc/big",
        query: "partNumber=2&uploadId=u",
        copySource: "src/private/xyz/a",
      },
      P,
      "virtual",
    ),
    deny("outside_prefix"),
  );
  // The destination is checked as well as the source.
  t.strictSame(
    check({ method: "PUT", path: "/public/copy", copySource: "src/private/abc/a" }, P, "virtual"),
    deny("outside_prefix"),
  );
  // A prefix with "+": the source must stay inside whichever way "+" is read.
  t.strictSame(
    check({ method: "PUT", path: "/u/a%2Bb/c", copySource: "s/u/a+b/x" }, "u/a+b/", "virtual"),
    deny("outside_prefix"),
  );
  t.strictSame(
    check({ method: "PUT", path: "/u/a%2Bb/c", copySource: "s/u/a%2Bb/x" }, "u/a+b/", "virtual"),
    allow,
  );
  // On a listing, a copy source is still checked.
  t.strictSame(
    check({ path: "/", query: "prefix=private/abc/", copySource: "s/private/xyz/a" }, P, "virtual"),
    deny("outside_prefix"),
  );
});

// Arbitrary key tails: characters S3 users put in keys, "/" and dots included.
const tailChar = fc.oneof(
  fc.constantFrom(..."aZ09-_.~ %+!*'()[]:@&=$,;/?#é€ሴ😀\\".split(/(?:)/u)),
  fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }),
);
const tail = fc.string({ unit: tailChar, maxLength: 20 });
const encodeKey = (key: string) => key.split("/").map(encodeURIComponent).join("/");
const prefixArb = fc.constantFrom(P, `private/${ID}/`, "u/a+b/", "u/a b/", "x/é/", "a*?$/");
const addressingArb = fc.constantFrom<S3Addressing>("path", "virtual");

/** A key the core's normalizer leaves as it is: no dot segments, no empty segment but a last one. */
function survivesNormalization(key: string): boolean {
  const segments = key.split("/");
  const last = segments.pop();
  return last !== "." && last !== ".." && !segments.some((s) => s === "" || s === "." || s === "..");
}

/** The path the core would send, or undefined where the core refuses it (backslash, NUL…). */
function wirePath(raw: string): string | undefined {
  try {
    return canonicalS3Path(normalizeTarget(raw).path);
  } catch {
    return undefined;
  }
}

t.test("property: any key under the prefix is allowed, once normalized like the core does", async () => {
  fc.assert(
    fc.property(prefixArb, tail, addressingArb, (prefix, suffix, addressing) => {
      const key = prefix + suffix;
      fc.pre(survivesNormalization(key));
      const path = wirePath(`${addressing === "path" ? "/bucket/" : "/"}${encodeKey(key)}`);
      fc.pre(path !== undefined);
      const asObject = checkS3Request(
        { method: "GET", path, query: "", copySource: undefined },
        prefix,
        addressing,
      );
      const asList = checkS3Request(
        {
          method: "GET",
          path: addressing === "path" ? "/bucket" : "/",
          query: `list-type=2&prefix=${encodeURIComponent(key)}`,
          copySource: undefined,
        },
        prefix,
        addressing,
      );
      const asCopy = checkS3Request(
        { method: "PUT", path, query: "", copySource: `src/${encodeKey(key)}` },
        prefix,
        addressing,
      );
      return asObject.allow && asList.allow && asCopy.allow;
    }),
    { numRuns: 500 },
  );
});

t.test("property: nothing outside the prefix is ever allowed", async () => {
  // Any path at all, through the core's normalizer: allowed only when the key S3 will see is inside.
  fc.assert(
    fc.property(
      prefixArb,
      fc.string({ unit: tailChar, maxLength: 40 }),
      addressingArb,
      (prefix, rest, addressing) => {
        const path = wirePath(`/${encodeKey(rest)}`);
        fc.pre(path !== undefined);
        const slash = path.indexOf("/", 1);
        const rawKey = addressing === "virtual" ? path.slice(1) : slash === -1 ? "" : path.slice(slash + 1);
        const decision = checkS3Request(
          { method: "GET", path, query: "", copySource: undefined },
          prefix,
          addressing,
        );
        return !decision.allow || decodeURIComponent(rawKey).startsWith(prefix);
      },
    ),
    { numRuns: 500 },
  );
  // A key that does not start with the prefix: refused in every form, normalized or not.
  fc.assert(
    fc.property(prefixArb, tail, (prefix, key) => {
      fc.pre(!key.startsWith(prefix));
      const k = encodeKey(key);
      const asObject = checkS3Request(
        { method: "GET", path: `/${k}`, query: "", copySource: undefined },
        prefix,
        "virtual",
      );
      const asList = checkS3Request(
        { method: "GET", path: "/", query: `prefix=${encodeURIComponent(key)}`, copySource: undefined },
        prefix,
        "virtual",
      );
      const asCopy = checkS3Request(
        { method: "PUT", path: `/${encodeKey(prefix)}x`, query: "", copySource: `b/${k}` },
        prefix,
        "virtual",
      );
      return !asObject.allow && !asList.allow && !asCopy.allow;
    }),
    { numRuns: 500 },
  );
});

t.test("canonicalS3Path", async (t) => {
  const cases: Array<[wire: string, expected: string]> = [
    ["/", "/"],
    ["/bucket", "/bucket"],
    ["/bucket/", "/bucket/"],
    ["/bucket/a/b.txt", "/bucket/a/b.txt"],
    ["/b/a%20b", "/b/a%20b"],
    ["/b/a(b)!*'", "/b/a%28b%29%21%2A%27"],
    ["/b/a%2a", "/b/a%2A"],
    ["/b/a+b", "/b/a%2Bb"],
    ["/b/a:b@c$d&e=f,g;h", "/b/a%3Ab%40c%24d%26e%3Df%2Cg%3Bh"],
    ["/b/%c3%a9", "/b/%C3%A9"],
    ["/b/%7E%2D", "/b/~-"],
    ["/b/~-._", "/b/~-._"],
    ["/b/%F0%9F%98%80", "/b/%F0%9F%98%80"],
    ["/b/a%2Fb", "/b/a%2Fb"],
    ["/b/a%25b", "/b/a%25b"],
    ["/b//c", "/b//c"],
  ];
  for (const [wire, expected] of cases) t.equal(canonicalS3Path(wire), expected, wire);
  t.throws(() => canonicalS3Path("/b/%zz"), URIError);

  // A path of unreserved characters and slashes is returned as it came; any other is re-encoded
  // segment by segment: the same answer either way.
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(..."aZ09-._~/%2Fé ") }), (path) => {
      let general: string | undefined;
      try {
        general = path
          .split("/")
          .map((s) => uriEncode(decodeURIComponent(s)))
          .join("/");
      } catch {
        general = undefined;
      }
      let fast: string | undefined;
      try {
        fast = canonicalS3Path(path);
      } catch {
        fast = undefined;
      }
      return fast === general;
    }),
    { numRuns: 500 },
  );

  // The same key always gives the same wire path, however the client encoded it.
  fc.assert(
    fc.property(tail, (key) => {
      fc.pre(survivesNormalization(key));
      const loose = wirePath(`/${encodeKey(key)}`);
      const strict = wirePath(`/${key.split("/").map(encodeAll).join("/")}`);
      fc.pre(loose !== undefined);
      return (
        loose === strict && /^[A-Za-z0-9\-._~%/]*$/.test(loose) && decodeURIComponent(loose) === `/${key}`
      );
    }),
    { numRuns: 300 },
  );
});

/** Percent-encodes every UTF-8 byte, unreserved characters included. */
function encodeAll(s: string): string {
  return [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

t.test("s3SessionPolicy", async (t) => {
  const policy = s3SessionPolicy(`private/${ID}/`);
  t.equal(
    policy,
    `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::*/private/${ID}/*"},{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::*","Condition":{"StringLike":{"s3:prefix":"private/${ID}/*"}}}]}`,
  );
  t.notMatch(policy, /\s/, "compact");

  // IAM wildcards and policy variables are escaped so the prefix is literal.
  const parsed = JSON.parse(s3SessionPolicy(`a*b?c$d${D}{x}/`)) as {
    Statement: Array<{ Resource: string; Condition?: { StringLike: Record<string, string> } }>;
  };
  t.equal(parsed.Statement[0]?.Resource, `arn:aws:s3:::*/a${D}{*}b${D}{?}c${D}{$}d${D}{$}{x}/*`);
  t.equal(parsed.Statement[1]?.Condition?.StringLike["s3:prefix"], `a${D}{*}b${D}{?}c${D}{$}d${D}{$}{x}/*`);

  // JSON specials and non-ASCII: escaped in the text (STS takes \u0020-\u00FF only), same value once parsed.
  const odd = 'q"\\é😀\u0001/';
  const text = s3SessionPolicy(odd);
  t.match(text, /^[\u0020-\u007e]+$/, "printable ASCII only");
  t.match(text, /q\\"\\\\\\u00e9\\ud83d\\ude00\\u0001\//);
  const back = JSON.parse(text) as { Statement: Array<{ Resource: string }> };
  t.equal(back.Statement[0]?.Resource, `arn:aws:s3:::*/${odd}*`);

  // STS's 2048-character limit: 512-character prefixes fit.
  const long = `private/${"a".repeat(512 - "private/".length - 1)}/`;
  t.equal(long.length, 512);
  t.ok(s3SessionPolicy(long).length <= SESSION_POLICY_MAX_CHARS, "512 plain characters fit");
  const mixed = `private/${`${ID}/`.repeat(11)}`.slice(0, 511).concat("/");
  t.equal(mixed.length, 512);
  t.ok(s3SessionPolicy(mixed).length <= SESSION_POLICY_MAX_CHARS, "512 identity-id-like characters fit");
  const withWildcards = `${"a*".repeat(100)}${"b".repeat(312)}`;
  t.equal(withWildcards.length, 512);
  t.ok(s3SessionPolicy(withWildcards).length <= SESSION_POLICY_MAX_CHARS, "100 escaped wildcards in 512 fit");
  // Beyond: refused here rather than by STS.
  t.throws(() => s3SessionPolicy("*".repeat(512)), {
    name: "RangeError",
    message: /^the S3 session policy is \d+ characters, above STS's 2048$/,
  });
  t.throws(() => s3SessionPolicy("a".repeat(1000)), RangeError);
});
