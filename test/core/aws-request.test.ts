import t from "tap";
import { AWS_REPLACED_HEADERS, awsRequestHeaders, refuseClientSigning } from "../../src/core/aws-request.js";
import { requestHeaderFilter } from "../../src/core/headers.js";
import { STANDARD_IDENTITY_HEADERS } from "../../src/core/identity.js";

const filter = requestHeaderFilter([...STANDARD_IDENTITY_HEADERS, ...AWS_REPLACED_HEADERS, "x-token"]);
const extra = { requestId: "req-12345678", contentLength: "5", host: "bucket.s3.example.com" };

t.test("awsRequestHeaders: what the client may not choose is dropped, the rest kept in order", async (t) => {
  const raw = [
    "Host",
    "client.example",
    "Authorization",
    "AWS4-HMAC-SHA256 Credential=dummy",
    "X-Amz-Date",
    "20200101T000000Z",
    "X-Amz-Security-Token",
    "client-session",
    "X-Amz-Content-Sha256",
    "UNSIGNED-PAYLOAD",
    "Content-Length",
    "999",
    "Cookie",
    "a=b",
    "X-Forwarded-For",
    "1.2.3.4",
    "X-Auth-Request-User",
    "spoofed",
    "X-Token",
    "the-token",
    "Connection",
    "keep-alive, X-Hop",
    "X-Hop",
    "hop",
    "Content-Type",
    "text/plain",
    "X-Amz-Meta-Colour",
    "blue",
    "X-Amz-Meta-Colour",
    "green",
    "Accept",
    "*/*",
  ];
  const { headers, signed } = awsRequestHeaders(raw, filter, "keep-alive, X-Hop", extra);
  t.strictSame(headers, [
    "content-type",
    "text/plain",
    "x-amz-meta-colour",
    "blue",
    "x-amz-meta-colour",
    "green",
    "accept",
    "*/*",
    "x-request-id",
    "req-12345678",
    "content-length",
    "5",
    "host",
    "bucket.s3.example.com",
  ]);
  t.strictSame(signed, { "content-type": "text/plain", "x-amz-meta-colour": ["blue", "green"] });
});

t.test("awsRequestHeaders: no length when the body's is unknown", async (t) => {
  const { headers } = awsRequestHeaders([], filter, undefined, { ...extra, contentLength: undefined });
  t.strictSame(headers, ["x-request-id", "req-12345678", "host", "bucket.s3.example.com"]);
});

t.test("refuseClientSigning: the client's own signing refused, plain requests pass", async (t) => {
  const refused: Array<[sha: string | undefined, encoding: string | undefined, query: string]> = [
    ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", undefined, ""],
    ["streaming-unsigned-payload-trailer", undefined, ""],
    [undefined, "gzip, aws-chunked", ""],
    [undefined, undefined, "?X-Amz-Signature=abc"],
    [undefined, undefined, "?a=1&x-amz-credential=abc"],
    [undefined, undefined, "?X-Amz-Security-Token=abc"],
  ];
  for (const [sha, encoding, query] of refused) {
    t.throws(
      () => refuseClientSigning(sha, encoding, query),
      { name: "Refusal", reason: "client_signature" },
      JSON.stringify([sha, encoding, query]),
    );
  }
  for (const [sha, encoding, query] of [
    ["UNSIGNED-PAYLOAD", "gzip", "?prefix=a&x-amz-meta=1"],
    [undefined, undefined, ""],
  ] as const) {
    t.doesNotThrow(() => refuseClientSigning(sha, encoding, query), JSON.stringify([sha, encoding, query]));
  }
});
