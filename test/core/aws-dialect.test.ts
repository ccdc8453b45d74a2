import t from "tap";
import { DYNAMODB_DIALECT, S3_DIALECT, serviceDialect } from "../../src/core/aws-dialect.js";
import { type FailureReason, Refusal } from "../../src/errors.js";

const s3Code = (reason: FailureReason) =>
  /<Code>([^<]+)<\/Code>/.exec(S3_DIALECT.body(new Refusal(reason), "r-1"))?.[1];
const ddbType = (reason: FailureReason) =>
  (JSON.parse(DYNAMODB_DIALECT.body(new Refusal(reason), "r-1")) as { __type: string }).__type.split("#")[1];

t.test("S3 refusals are S3's XML error document with S3's codes", async (t) => {
  const body = S3_DIALECT.body(new Refusal("outside_prefix"), "req-<1>");
  t.equal(
    body,
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>This route does not allow the request.</Message><RequestId>req-&lt;1&gt;</RequestId></Error>',
  );
  const codes: Array<[FailureReason, string]> = [
    ["missing", "AccessDenied"],
    ["signature", "InvalidToken"],
    ["expired", "ExpiredToken"],
    ["scope", "AccessDenied"],
    ["table", "AccessDenied"],
    ["busy", "SlowDown"],
    ["credentials_throttled", "SlowDown"],
    ["rate_limited", "SlowDown"],
    ["credentials_unavailable", "ServiceUnavailable"],
    ["body_too_large", "EntityTooLarge"],
    ["bad_chunks", "InvalidRequest"],
    ["no_route", "NoSuchBucket"],
    ["request_timeout", "RequestTimeout"],
    ["headers_too_large", "InvalidRequest"],
    ["upstream_error", "ServiceUnavailable"],
    ["upstream_timeout", "ServiceUnavailable"],
  ];
  for (const [reason, code] of codes) t.equal(s3Code(reason), code, reason);
  t.strictSame(S3_DIALECT.headers(new Refusal("missing"), "r-1"), { "x-amz-request-id": "r-1" });
  t.equal(S3_DIALECT.contentType, "application/xml");
});

t.test("DynamoDB refusals are DynamoDB's JSON with its exception names", async (t) => {
  t.strictSame(JSON.parse(DYNAMODB_DIALECT.body(new Refusal("table"), "r-1")), {
    __type: "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
    message: "This route does not allow the request.",
  });
  const types: Array<[FailureReason, string]> = [
    ["missing", "MissingAuthenticationTokenException"],
    ["signature", "UnrecognizedClientException"],
    ["expired", "ExpiredTokenException"],
    ["operation", "AccessDeniedException"],
    ["busy", "ThrottlingException"],
    ["rate_limited", "ThrottlingException"],
    ["credentials_unavailable", "ServiceUnavailable"],
    ["body_too_large", "ValidationException"],
    ["bad_request", "ValidationException"],
    ["no_route", "ResourceNotFoundException"],
    ["upstream_error", "InternalServerError"],
  ];
  for (const [reason, type] of types) t.equal(ddbType(reason), type, reason);
  t.strictSame(DYNAMODB_DIALECT.headers(new Refusal("table"), "r-1"), {
    "x-amzn-requestid": "r-1",
    "x-amzn-errortype": "AccessDeniedException",
  });
});

t.test("other services keep cupbearer's JSON", async (t) => {
  t.equal(serviceDialect("s3"), S3_DIALECT);
  t.equal(serviceDialect("dynamodb"), DYNAMODB_DIALECT);
  t.equal(serviceDialect("sqs"), undefined);
  t.equal(serviceDialect("execute-api"), undefined);
});
