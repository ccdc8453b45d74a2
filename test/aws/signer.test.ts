import { createHmac } from "node:crypto";
import t from "tap";
import {
  type AwsCredentials,
  amzDate,
  canonicalHeaders,
  canonicalQuery,
  canonicalUri,
  createSigner,
  deriveSigningKey,
  EMPTY_PAYLOAD_HASH,
  type SignableRequest,
  UNSIGNED_PAYLOAD,
} from "../../src/aws/signer.js";

const NOW = new Date("2015-08-30T12:36:00Z");
const CREDS: AwsCredentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const REQUEST: SignableRequest = {
  method: "GET",
  host: "example.amazonaws.com",
  path: "/",
  query: "",
  headers: {},
  payloadHash: EMPTY_PAYLOAD_HASH,
};

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

t.test("get-vanilla through sign()", (t) => {
  const headers = createSigner({ service: "service", region: "us-east-1" }).sign(REQUEST, CREDS, NOW);
  t.same(headers, {
    authorization:
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    "x-amz-date": "20150830T123600Z",
  });
  t.end();
});

t.test("signing key: the example of the SigV4 documentation", (t) => {
  // "Derive a signing key" example (IAM User Guide): secret, 20150830, us-east-1, iam.
  t.equal(
    deriveSigningKey(CREDS.secretAccessKey, "20150830", "us-east-1", "iam").toString("hex"),
    "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9",
  );
  t.end();
});

t.test("canonical URI", (t) => {
  const s3 = { uriEscapePath: false, normalizePath: false };
  const other = { uriEscapePath: true, normalizePath: true };
  t.equal(canonicalUri("/a%20b/./../c//d/", s3), "/a%20b/./../c//d/", "s3: the wire path as is");
  t.equal(canonicalUri("/a%20b/./../c//d/", other), "/c/d/", "others: dot segments removed");
  t.equal(canonicalUri("/a%20b/c", other), "/a%2520b/c", "others: encoded once more");
  t.equal(canonicalUri("/a:b/c@d!", other), "/a%3Ab/c%40d%21");
  t.equal(canonicalUri("", other), "/");
  t.equal(canonicalUri("", s3), "/");
  t.equal(canonicalUri("/..", other), "/");
  t.equal(canonicalUri("/ሴ", other), "/%E1%88%B4");
  t.equal(canonicalUri("/a/./b", { uriEscapePath: false, normalizePath: true }), "/a/b");
  t.throws(() => canonicalUri("/\ud800", other), URIError, "lone surrogate");
  t.end();
});

t.test("canonical query", (t) => {
  t.equal(canonicalQuery(""), "");
  t.equal(canonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2", "sorted by key then value");
  t.equal(canonicalQuery("a&b=&c=1"), "a=&b=&c=1", "empty values kept as key=");
  t.equal(canonicalQuery("a==b"), "a=%3Db", "only the first = splits");
  t.equal(canonicalQuery("x=%e1%88%b4&y=a%20b"), "x=%E1%88%B4&y=a%20b", "decoded then re-encoded upper-case");
  t.equal(canonicalQuery("k=a+b"), "k=a%2Bb", "+ is a literal plus");
  t.equal(canonicalQuery("k=%zz&j=%"), "j=%25&k=%25zz", "malformed escapes are signed as text");
  t.equal(canonicalQuery("&&a=1&"), "a=1", "empty parts ignored");
  t.equal(canonicalQuery("a=!'()*"), "a=%21%27%28%29%2A", "RFC 3986: sub-delims encoded");
  t.equal(canonicalQuery("B=1&a=1&_=1&~=1"), "B=1&_=1&a=1&~=1", "byte order, upper case first");
  t.end();
});

t.test("canonical headers", (t) => {
  const { canonical, signed } = canonicalHeaders({
    "x-b": ["  one  ", "two\t\tthree", " four"],
    "x-a": "  a   b \t c  ",
    "X-C": "\u00a0nbsp\u00a0",
    "x-c": "again",
  });
  t.equal(canonical, "x-a:a b c\nx-b:one,two three,four\nx-c:\u00a0nbsp\u00a0,again\n");
  t.equal(signed, "x-a;x-b;x-c");
  t.end();
});

t.test("headers the signer adds, ignores and skips", (t) => {
  const signer = createSigner({ service: "s3", region: "eu-west-1" });
  t.equal(signer.keyCacheLimit, 64);
  const details = signer.explain(
    {
      ...REQUEST,
      payloadHash: UNSIGNED_PAYLOAD,
      headers: {
        authorization: "stale",
        "x-amz-date": "stale",
        "x-amz-security-token": "stale",
        "x-amz-content-sha256": "stale",
        host: "ignored.example",
        "user-agent": "curl",
        connection: "keep-alive",
        "proxy-authorization": "x",
        "x-amz-meta-a": "1",
      },
    },
    { ...CREDS, sessionToken: "TOKEN" },
    NOW,
  );
  t.same(Object.keys(details.headers).sort(), [
    "authorization",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-security-token",
  ]);
  t.equal(details.headers["x-amz-content-sha256"], UNSIGNED_PAYLOAD);
  t.equal(details.headers["x-amz-security-token"], "TOKEN");
  t.equal(details.signedHeaders, "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-security-token");
  t.match(details.canonicalRequest, /\nhost:example\.amazonaws\.com\n/);
  t.notMatch(details.canonicalRequest, /stale|ignored|curl/);

  const dynamo = createSigner({ service: "dynamodb", region: "eu-west-1" }).explain(REQUEST, CREDS, NOW);
  t.equal(
    dynamo.headers["x-amz-content-sha256"],
    undefined,
    "non-S3: no x-amz-content-sha256 for a signed payload",
  );
  t.equal(dynamo.headers["x-amz-security-token"], undefined, "no session token, no header");

  const unsignedToken = createSigner({
    service: "iotdevicegateway",
    region: "eu-west-1",
    signSessionToken: false,
  });
  const u = unsignedToken.explain(REQUEST, { ...CREDS, sessionToken: "TOKEN" }, NOW);
  t.equal(u.headers["x-amz-security-token"], "TOKEN", "returned");
  t.equal(u.signedHeaders, "host;x-amz-date", "but not signed");
  t.end();
});

t.test("two spellings of one header name are signed as one line, values in order", (t) => {
  const details = createSigner({ service: "s3", region: "eu-west-1" }).explain(
    { ...REQUEST, headers: { "X-Amz-Meta-A": " one ", "x-amz-meta-a": ["two", "three  3"], "x-b": "b" } },
    CREDS,
    NOW,
  );
  t.match(details.canonicalRequest, /\nx-amz-meta-a:one,two,three 3\nx-b:b\n/);
  t.equal(details.signedHeaders, "host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-b");
  t.end();
});

t.test("the signature is HMAC-SHA256(signing key, string to sign), whatever its length", (t) => {
  // The signer hashes the key's precomputed pads in buffers of its own; a string to sign longer
  // than they hold (a long service name here) takes another path. Both must be plain HMAC, and
  // a short one after a long one must not see the long one's bytes.
  const services = ["s3", "x".repeat(600), "sérvice-ሴ-😀", "dynamodb", "y".repeat(2000), "s3"];
  for (const service of services) {
    const details = createSigner({ service, region: "eu-west-1" }).explain(REQUEST, CREDS, NOW);
    const key = deriveSigningKey(CREDS.secretAccessKey, "20150830", "eu-west-1", service);
    const expected = createHmac("sha256", key).update(details.stringToSign, "utf8").digest("hex");
    t.equal(details.signature, expected, `service of ${service.length} characters`);
  }
  t.end();
});

t.test("amzDate: right for every second, the same second twice, and going back", (t) => {
  const cases: [iso: string, expected: string][] = [
    ["2015-08-30T12:36:00.000Z", "20150830T123600Z"],
    ["2015-08-30T12:36:00.999Z", "20150830T123600Z"],
    ["2015-08-30T12:36:01.000Z", "20150830T123601Z"],
    ["2015-08-30T12:36:00.500Z", "20150830T123600Z"],
    ["1999-12-31T23:59:59.999Z", "19991231T235959Z"],
    ["2000-01-01T00:00:00.000Z", "20000101T000000Z"],
  ];
  for (const [iso, expected] of cases) t.equal(amzDate(new Date(iso)), expected, iso);
  t.end();
});

t.test("input validation", (t) => {
  const signer = createSigner({ service: "dynamodb", region: "eu-west-1" });
  t.throws(() => signer.sign({ ...REQUEST, payloadHash: "ABC" }, CREDS, NOW), TypeError);
  t.throws(
    () => signer.sign({ ...REQUEST, payloadHash: EMPTY_PAYLOAD_HASH.toUpperCase() }, CREDS, NOW),
    TypeError,
  );
  t.throws(() => signer.sign({ ...REQUEST, payloadHash: `${EMPTY_PAYLOAD_HASH}\nx` }, CREDS, NOW), TypeError);
  t.throws(() => signer.sign(REQUEST, CREDS, new Date(Number.NaN)), TypeError);
  t.throws(() => signer.sign({ ...REQUEST, host: "" }, CREDS, NOW), TypeError);
  t.throws(() => amzDate(new Date("+010000-01-01T00:00:00Z")), TypeError);
  t.throws(() => createSigner({ service: "", region: "eu-west-1" }), TypeError);
  t.throws(() => createSigner({ service: "s3", region: "" }), TypeError);
  t.throws(() => createSigner({ service: "s3", region: "eu-west-1", keyCacheSize: 0 }), TypeError);
  t.throws(() => createSigner({ service: "s3", region: "eu-west-1", keyCacheSize: 1.5 }), TypeError);
  t.equal(amzDate(new Date("2024-02-29T23:59:59.999Z")), "20240229T235959Z");
  t.end();
});

t.test("the key cache is bounded, and caching never changes a signature", (t) => {
  const limit = 3;
  const cached = createSigner({ service: "dynamodb", region: "eu-west-1", keyCacheSize: limit });
  t.equal(cached.keyCacheSize(), 0);
  const secrets = Array.from({ length: 10 }, (_, i) => `secret-${i}`);
  const days = [NOW, new Date("2015-08-31T00:00:01Z"), new Date("2016-01-01T00:00:00Z")];
  let max = 0;
  for (let round = 0; round < 3; round++) {
    for (const secretAccessKey of secrets) {
      for (const now of days) {
        const creds = { accessKeyId: "AKID", secretAccessKey };
        const fresh = createSigner({ service: "dynamodb", region: "eu-west-1" }).sign(REQUEST, creds, now);
        t.same(cached.sign(REQUEST, creds, now), fresh, "a cached key signs like a fresh one");
        max = Math.max(max, cached.keyCacheSize());
      }
    }
  }
  t.equal(max, limit, `never above ${limit} keys`);

  // With room for 2: A, B, A (hit), C evicts the least recently used (B); the size stays 2.
  const lru = createSigner({ service: "dynamodb", region: "eu-west-1", keyCacheSize: 2 });
  const sign = (secretAccessKey: string) =>
    lru.explain(REQUEST, { accessKeyId: "AKID", secretAccessKey }, NOW);
  sign("A");
  sign("B");
  sign("A");
  sign("C");
  t.equal(lru.keyCacheSize(), 2);
  t.end();
});

t.test("never mutates its inputs or shares state between signers and calls", (t) => {
  const request = deepFreeze<SignableRequest>({
    method: "PUT",
    host: "bucket.s3.eu-west-1.amazonaws.com",
    path: "/a%20b/../c",
    query: "b=2&a=1&a=",
    headers: { "x-amz-meta-list": ["  x ", "y"], "content-type": " text/plain ", "user-agent": "ua" },
    payloadHash: UNSIGNED_PAYLOAD,
  });
  const creds = deepFreeze<AwsCredentials>({ ...CREDS, sessionToken: "TOKEN" });
  const now = new Date(NOW);
  const snapshot = structuredClone({ request, creds, now: now.getTime() });

  const s3 = createSigner({ service: "s3", region: "eu-west-1" });
  const other = createSigner({ service: "s3", region: "eu-west-1" });
  const first = s3.explain(request, creds, now);
  // The caller may edit what it got back; the next call must not see it.
  first.headers.authorization = "tampered";
  (first.headers as unknown as Record<string, string>)["x-extra"] = "1";
  s3.sign({ ...REQUEST, path: "/other" }, { accessKeyId: "AKID2", secretAccessKey: "other" }, new Date());
  const second = s3.explain(request, creds, now);
  t.not(second.headers.authorization, "tampered");
  t.equal(Object.hasOwn(second.headers, "x-extra"), false);
  t.same(other.sign(request, creds, now), second.headers, "an independent signer agrees");
  t.equal(other.keyCacheSize(), 1, "signers do not share their cache");
  t.equal(s3.keyCacheSize(), 2);
  t.same({ request, creds, now: now.getTime() }, snapshot, "inputs unchanged");

  const all = JSON.stringify(second);
  t.notMatch(all, CREDS.secretAccessKey, "the secret appears nowhere in the details");
  t.end();
});
