/**
 * Every refusal cupbearer gives, declared once: each reason names the answer it gets, and each
 * answer its HTTP status, the `error` field clients see and a terse message. Details stay in the
 * log; the body never carries them. The status is chosen here and nowhere else.
 */

/** What a client is told: status, `error` field and message. */
export const ANSWERS = {
  sign_in: { status: 302, error: "sign_in_required", message: "Sign in to continue." },
  bad_request: { status: 400, error: "bad_request", message: "The request is malformed." },
  path_style_required: {
    status: 400,
    error: "path_style_required",
    message: "Name the bucket in the path (path-style addressing).",
  },
  unauthorized: { status: 401, error: "unauthorized", message: "A bearer token is required." },
  invalid_token: { status: 401, error: "invalid_token", message: "The token is invalid or expired." },
  insufficient_scope: {
    status: 403,
    error: "insufficient_scope",
    message: "The token does not grant access to this resource.",
  },
  access_denied: { status: 403, error: "access_denied", message: "This route does not allow the request." },
  not_found: { status: 404, error: "not_found", message: "No route matches this request." },
  method_not_allowed: {
    status: 405,
    error: "method_not_allowed",
    message: "This method is not allowed here.",
  },
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
  too_many_requests: {
    status: 429,
    error: "too_many_requests",
    message: "Too many requests; retry later.",
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

export type AnswerName = keyof typeof ANSWERS;
export type Answer = (typeof ANSWERS)[AnswerName];

/**
 * Why a request was refused, as a bounded set (it labels metrics and logs), each with the one
 * answer it gets. Several reasons share an answer: every 401 looks alike to the client.
 */
export const REFUSALS = {
  // The request itself
  bad_request: "bad_request", // framing or headers cupbearer will not guess about
  bad_path: "bad_request", // a path that could mean different things to cupbearer and the upstream
  bad_host: "bad_request", // no Host, two of them, or one that is not a valid host[:port]
  duplicate_token: "bad_request", // the token given twice: which one would the upstream read?
  bad_upgrade: "bad_request", // an upgrade other than WebSocket, or to a route that takes none
  body_incomplete: "bad_request", // the client stopped sending mid-body
  client_signature: "bad_request", // the client's own SigV4 signature or aws-chunked framing
  bad_chunks: "bad_request", // an aws-chunked body that breaks its framing mid-way
  virtual_hosted: "path_style_required", // the bucket in the Host, where a path-style route serves it
  request_timeout: "request_timeout",
  headers_too_large: "headers_too_large",
  no_route: "not_found",
  rate_limited: "too_many_requests", // over the route's per-caller limit
  method: "method_not_allowed", // TRACE or CONNECT, which no route lists
  // CORS preflights (answered by cupbearer, never forwarded)
  cors_origin: "access_denied", // the Origin is not in the route's cors.allowOrigins
  cors_method: "access_denied", // the method asked for is not in cors.allowMethods
  cors_headers: "access_denied", // a header asked for is not in cors.allowHeaders
  // The forward-auth endpoint
  untrusted_source: "access_denied", // the asker is not in forwardAuth.trustedSources
  aws_route: "access_denied", // an AWS route: only the proxy can sign its requests
  // Browser sessions (`sessions`, `auth.mode: authenticate`)
  sign_in: "sign_in", // a navigation without a session, sent to the user pool's sign-in page
  sign_in_state: "bad_request", // a callback without a valid sign-in cookie (lost, expired, forged)
  sign_in_failed: "bad_request", // the callback's state, code or tokens were refused
  bad_return_path: "bad_request", // a return URL that leaves this origin
  sign_in_unavailable: "unavailable", // the user pool's endpoints did not answer
  session_too_large: "bad_gateway", // the pool's tokens do not fit the session cookie's chunks
  // The token
  missing: "unauthorized",
  malformed: "invalid_token",
  too_large: "invalid_token",
  signature: "invalid_token",
  expired: "invalid_token",
  not_yet_valid: "invalid_token",
  issuer: "invalid_token", // no configured issuer signed it
  client: "invalid_token",
  unknown_kid: "invalid_token",
  // The route's rules (the token is authentic, but not enough)
  issuer_not_allowed: "insufficient_scope",
  token_use: "insufficient_scope",
  scope: "insufficient_scope",
  group: "insufficient_scope",
  claim: "insufficient_scope",
  lifetime: "invalid_token", // iat to exp (or now to exp) longer than the issuer's maxTokenLifetimeSeconds
  // AWS routes
  outside_prefix: "access_denied",
  bucket_operation: "access_denied",
  operation: "access_denied",
  table: "access_denied",
  body_too_large: "payload_too_large",
  busy: "unavailable",
  credentials_invalid: "invalid_token",
  credentials_throttled: "unavailable",
  credentials_unavailable: "unavailable",
  // Outages
  jwks_unavailable: "unavailable",
  upstream_error: "bad_gateway",
  upstream_timeout: "gateway_timeout",
} as const satisfies Record<string, AnswerName>;

export type FailureReason = keyof typeof REFUSALS;

/** The refusals of a rule about the token or its caller, named as the access log names the rule. */
const RULES: Partial<Record<FailureReason, string>> = {
  issuer_not_allowed: "issuer",
  token_use: "token_use",
  client: "client",
  scope: "scope",
  group: "group",
  claim: "claim",
};

/** What a refusal by a rule tells beyond its reason. */
export interface RefusalFacts {
  /** The failing rule as logged, when more precise than the reason: `claim:<name>`. */
  readonly rule?: string;
  /** RFC 6750 §3's `scope` attribute: the scopes the route needs, space-separated. */
  readonly scope?: string;
}

/** A refusal on its way to the edge, where `proxy/answers` turns it into an HTTP answer. */
export class Refusal extends Error {
  override name = "Refusal";
  readonly reason: FailureReason;
  /** Sent as Retry-After: set when waiting is the cure (throttling, a full buffer). */
  readonly retryAfterSeconds: number | undefined;
  readonly facts: RefusalFacts;
  /** Headers the answer carries besides the refusal's own (an AWS route's caller identity id). */
  headers: Readonly<Record<string, string>> | undefined;

  /** @param detail for the log only, never for the client. */
  constructor(reason: FailureReason, detail?: string, retryAfterSeconds?: number, facts: RefusalFacts = {}) {
    super(detail ?? reason);
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
    this.facts = facts;
  }

  /** The rule the caller failed (`scope`, `group`, `claim:<name>`, `token_use`, `client`, `issuer`), if any. */
  get rule(): string | undefined {
    return this.facts.rule ?? RULES[this.reason];
  }

  get answerName(): AnswerName {
    return REFUSALS[this.reason];
  }

  get answer(): Answer {
    return ANSWERS[REFUSALS[this.reason]];
  }

  get status(): number {
    return this.answer.status;
  }
}
