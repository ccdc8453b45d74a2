/**
 * Every refusal cupbearer gives, declared once: its HTTP status, the `error` field clients see,
 * and the terse message. Details stay in the log; the body never carries them.
 */
export const ERRORS = {
  bad_request: { status: 400, error: "bad_request", message: "The request is malformed." },
  missing_token: { status: 401, error: "unauthorized", message: "A bearer token is required." },
  invalid_token: { status: 401, error: "invalid_token", message: "The token is invalid or expired." },
  insufficient_scope: {
    status: 403,
    error: "insufficient_scope",
    message: "The token does not grant access to this resource.",
  },
  access_denied: {
    status: 403,
    error: "access_denied",
    message: "This route does not allow the request.",
  },
  not_found: { status: 404, error: "not_found", message: "No route matches this request." },
  request_timeout: {
    status: 408,
    error: "request_timeout",
    message: "The request was not received in time.",
  },
  payload_too_large: {
    status: 413,
    error: "payload_too_large",
    message: "The request body is too large.",
  },
  headers_too_large: {
    status: 431,
    error: "request_header_fields_too_large",
    message: "The request headers are too large.",
  },
  bad_gateway: { status: 502, error: "bad_gateway", message: "The upstream service could not be reached." },
  unavailable: {
    status: 503,
    error: "service_unavailable",
    message: "The service is temporarily unavailable.",
  },
  gateway_timeout: {
    status: 504,
    error: "gateway_timeout",
    message: "The upstream service did not answer in time.",
  },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * Why a request was refused, as a bounded set: it labels metrics and logs.
 * Kept apart from the code because several reasons share one answer (all 401s look alike).
 */
export type FailureReason =
  | "missing"
  | "malformed"
  | "too_large"
  | "signature"
  | "expired"
  | "not_yet_valid"
  | "issuer"
  | "client"
  | "unknown_kid"
  | "token_use"
  | "scope"
  | "group"
  | "claim"
  | "jwks_unavailable"
  | "bad_path"
  | "no_route"
  | "upstream_error"
  | "upstream_timeout"
  // AWS routes
  | "outside_prefix"
  | "bucket_operation"
  | "operation"
  | "table"
  | "body_too_large"
  | "busy"
  | "unsupported_payload"
  | "credentials_invalid"
  | "credentials_throttled"
  | "credentials_unavailable";

/** A refusal on its way to the edge, where `proxy/handler` turns it into an HTTP answer. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly reason: FailureReason;
  /** Sent as Retry-After: set when waiting is the cure (throttling). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, reason: FailureReason, detail?: string, retryAfterSeconds?: number) {
    super(detail ?? ERRORS[code].message);
    this.name = "GatewayError";
    this.code = code;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}
