/**
 * cupbearer's refusals in the error dialect of the AWS service a route fronts, so a stock SDK
 * surfaces a code (`AccessDenied`, `ExpiredTokenException`) instead of a parse error. The HTTP
 * status stays the refusal's own. Pure: proxy/answers wraps these into answers.
 *
 * S3: https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 * DynamoDB: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 */
import type { FailureReason, Refusal } from "../errors.js";

/** A dialect: the body's media type, the body, the service's own request-id header. */
export interface ServiceDialect {
  readonly contentType: string;
  body(refusal: Refusal, requestId: string): string;
  headers(refusal: Refusal, requestId: string): Record<string, string>;
}

/** An error code per refusal reason; the table's fallback answers the rest. */
interface CodeTable {
  readonly byReason: Partial<Record<FailureReason, string>>;
  readonly byStatus: Readonly<Record<number, string>>;
  readonly fallback: string;
}

function codeOf(table: CodeTable, refusal: Refusal): string {
  return table.byReason[refusal.reason] ?? table.byStatus[refusal.status] ?? table.fallback;
}

const S3_CODES: CodeTable = {
  byReason: {
    missing: "AccessDenied", // what S3 tells an anonymous caller
    expired: "ExpiredToken",
    busy: "SlowDown",
    credentials_throttled: "SlowDown",
    rate_limited: "SlowDown",
  },
  byStatus: {
    400: "InvalidRequest",
    401: "InvalidToken",
    403: "AccessDenied",
    404: "NoSuchBucket",
    408: "RequestTimeout",
    413: "EntityTooLarge",
    431: "InvalidRequest",
    503: "ServiceUnavailable",
  },
  fallback: "ServiceUnavailable",
};

const DYNAMODB_CODES: CodeTable = {
  byReason: {
    expired: "ExpiredTokenException",
    missing: "MissingAuthenticationTokenException",
    busy: "ThrottlingException",
    credentials_throttled: "ThrottlingException",
    rate_limited: "ThrottlingException",
  },
  byStatus: {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    413: "ValidationException",
    503: "ServiceUnavailable",
  },
  fallback: "InternalServerError",
};

const XML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
};

function xmlText(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string);
}

/** S3's XML error document. */
export const S3_DIALECT: ServiceDialect = {
  contentType: "application/xml",
  body: (refusal, requestId) =>
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Error><Code>${codeOf(S3_CODES, refusal)}</Code><Message>${xmlText(refusal.answer.message)}</Message>` +
    `<RequestId>${xmlText(requestId)}</RequestId></Error>`,
  headers: (_refusal, requestId) => ({ "x-amz-request-id": requestId }),
};

/** DynamoDB's JSON error (`__type` names the code; SDKs read the part after `#`). */
export const DYNAMODB_DIALECT: ServiceDialect = {
  contentType: "application/x-amz-json-1.0",
  body: (refusal) =>
    JSON.stringify({
      __type: `com.amazonaws.dynamodb.v20120810#${codeOf(DYNAMODB_CODES, refusal)}`,
      message: refusal.answer.message,
    }),
  headers: (refusal, requestId) => ({
    "x-amzn-requestid": requestId,
    "x-amzn-errortype": codeOf(DYNAMODB_CODES, refusal),
  }),
};

/** The dialect of a service's refusals; undefined keeps cupbearer's JSON (other SigV4 services). */
export function serviceDialect(service: string): ServiceDialect | undefined {
  if (service === "s3") return S3_DIALECT;
  if (service === "dynamodb") return DYNAMODB_DIALECT;
  return undefined;
}
